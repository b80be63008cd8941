/* controller/cpu: the inputs of a targetCPUUtilization metric, read as the
 * HPA's resource metrics client reads them (pure; no I/O).
 *
 *  - quantities ("250m", "1500000n", "2Ki") are read by pkg/kubeapi's
 *    kubeapi_quantity_milli(), as resource.Quantity.MilliValue();
 *  - ctl_pod_cpu_request(): a pod's CPU request from its spec, as the HPA's
 *    calculatePodRequests (every container, plus restartable init
 *    containers; a container without one is "missing request for cpu");
 *  - ctl_podmetrics_parse(): a metrics.k8s.io/v1beta1 PodMetricsList into
 *    per-pod samples (sum of the containers' usage.cpu, timestamp, window);
 *    a pod with no containers or a container without usage.cpu has no
 *    sample (HPA: "missing"), a value that does not parse fails the list;
 *  - ctl_cpu_apply(): the samples and requests into the decision's pods.
 *
 * The daemon fetches the list (GET /apis/metrics.k8s.io/v1beta1/namespaces/
 * NS/pods?labelSelector=SEL) concurrently with the /metrics scrapes, only for
 * policies that set targetCPUUtilization (reconcile.c). */
#ifndef MCP_CONTROLLER_CPU_H
#define MCP_CONTROLLER_CPU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "autoscale/autoscale.h"
#include "scrape.h"

/* Sums the CPU requests (millicores) of pod's spec.containers and of its
 * init containers with restartPolicy Always (sidecars), as the HPA. Returns
 * 0, or -1 with err: a container without a request or with a zero one
 * ("missing request for cpu in container C of Pod P", HPA's words), a
 * request that does not parse or is negative, or no containers. */
int ctl_pod_cpu_request(const cJSON *pod, int64_t *milli, char *err, size_t errlen);

typedef struct {
	char name[254];    /* the pod */
	int64_t cpu_milli; /* sum of the containers' usage.cpu */
	bool has_window;   /* timestamp and window were both given */
	double timestamp;  /* wall seconds */
	double window;     /* seconds */
} ctl_cpu_sample_t;

/* Parses a PodMetricsList (or a single PodMetrics) into *out (allocated,
 * caller frees; sorted by name, one per pod; NULL when none) and *n. Returns
 * 0, or -1 with err (not a PodMetrics list, an item without a name, a usage,
 * timestamp or window that does not parse, a negative usage). */
int ctl_podmetrics_parse(const cJSON *list, ctl_cpu_sample_t **out, size_t *n, char *err,
                         size_t errlen);

/* For each pod i with a sample (by name in samples[0..nsamples), sorted as
 * ctl_podmetrics_parse leaves them) sets out[i].metrics.has_cpu,
 * cpu_millicores, cpu_request_millicores (pods[i].cpu_request_milli) and the
 * timestamp and window. out[i] must already describe pods[i]
 * (ctl_scrape_build_input). Returns the number of pods given a sample. */
size_t ctl_cpu_apply(const ctl_pod_t *pods, size_t npods, const ctl_cpu_sample_t *samples,
                     size_t nsamples, autoscale_pod_t *out);

#endif

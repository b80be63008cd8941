/* hack/kubesim/podmetrics: metrics.k8s.io/v1beta1 PodMetrics from /proc,
 * as metrics-server serves them, so `kubectl top pod` and CPU utilization
 * targets work locally. CPU is the rate of utime+stime of each container's
 * process group leader (/proc/PID/stat) over the sampling window; memory is
 * its resident set (VmRSS), the working set's closest local stand-in.
 *
 * The kubelet feeds samples from the main loop; HTTP threads read. Thread
 * safe (one mutex). */
#ifndef KUBESIM_PODMETRICS_H
#define KUBESIM_PODMETRICS_H

#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "resources.h"
#include "store.h"

typedef struct ks_podmetrics ks_podmetrics_t;

/* window_ms: the sampling window (>= 100). NULL on allocation failure. */
ks_podmetrics_t *ks_podmetrics_new(ks_store_t *st, int64_t window_ms);
void ks_podmetrics_free(ks_podmetrics_t *m);

/* Samples a running container when its window has passed (cheap otherwise). */
void ks_podmetrics_observe(ks_podmetrics_t *m, const char *ns, const char *pod,
                           const char *container, pid_t pid, int64_t now_ms);
/* Drops a pod's samples (pod stopped). */
void ks_podmetrics_forget(ks_podmetrics_t *m, const char *ns, const char *pod);

/* Serves GET /apis/metrics.k8s.io/v1beta1[/namespaces/NS]/pods[/NAME]
 * (label_selector may be NULL). Returns a PodMetrics or PodMetricsList
 * (new tree), or NULL with e (404 for a pod without metrics, 400 for a bad
 * selector or resource). */
cJSON *ks_podmetrics_get(ks_podmetrics_t *m, const char *ns, const char *resource, const char *name,
                         const char *label_selector, ks_err_t *e);

/* Discovery documents for the metrics.k8s.io group (new trees). */
cJSON *ks_podmetrics_group(void);
cJSON *ks_podmetrics_resources(void);

#endif

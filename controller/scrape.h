/* controller/scrape: reading the worker pods of a target.
 *
 * Two halves:
 *  - ctl_pod_parse(): what the decision needs from a Pod object (phase,
 *    readiness, deletion, IP, start and readiness times), pure;
 *  - ctl_scrape_*: a concurrent fetch of every ready pod's
 *    http://podIP:PORT/metrics on the controller's loop, each with a timeout
 *    and a capped body, parsed with prom_worker_extract as it arrives (so
 *    bodies are not kept), at most max_concurrency connections at a time;
 *  - ctl_scrape_build_input(): the aggregation of both into the
 *    autoscale_pod_t array that autoscale_decide reads. */
#ifndef MCP_CONTROLLER_SCRAPE_H
#define MCP_CONTROLLER_SCRAPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "autoscale/autoscale.h"
#include "ctlmetrics.h"
#include "kube/loop.h"

/* ---- pods ---- */

typedef struct {
	char name[254];
	char ip[64]; /* status.podIP, "" when none yet */
	autoscale_phase_t phase;
	bool ready;
	bool deleted;
	bool has_start_time;
	double start_time; /* wall seconds */
	bool has_ready_transition;
	double ready_transition_time;
	/* CPU request (ctl_pod_cpu_request), set by the caller for policies
	 * with a CPU target; 0 = none */
	int64_t cpu_request_milli;
} ctl_pod_t;

/* Fills out from a Pod object. Returns 0, or -1 when obj has no name. */
int ctl_pod_parse(const cJSON *obj, ctl_pod_t *out);

/* Parses an RFC 3339 UTC time ("2026-12-04T16:00:00Z", fractions allowed,
 * "Z" or "+hh:mm") into seconds since the epoch. 0 or -1. */
int ctl_parse_time(const char *s, double *out);

/* True when a pod is scraped: Running, Ready, not being deleted, has an IP. */
bool ctl_pod_scrapable(const ctl_pod_t *p);

/* ---- scrapes ---- */

typedef struct {
	int64_t timeout_ms;  /* per scrape, default 2 s */
	size_t max_bytes;    /* body cap, default 4 MiB */
	int max_concurrency; /* default 256 */
} ctl_scrape_opts_t;

typedef struct {
	ctl_scrape_result_kind_t kind; /* CTL_SCRAPE_OK or why it failed */
	char error[256];
	prom_worker_metrics_t metrics; /* valid when kind == CTL_SCRAPE_OK */
} ctl_scrape_result_t;

typedef struct ctl_scrape ctl_scrape_t;

/* Called once when every scrape has finished (from the loop, never from
 * inside ctl_scrape_start). The callback may free the scrape. */
typedef void (*ctl_scrape_done_fn)(ctl_scrape_t *s, void *arg);

/* Starts fetching urls[0..n) (copied). o may be NULL for defaults; metrics
 * may be NULL. Returns NULL on out of memory (done is then not called). */
ctl_scrape_t *ctl_scrape_start(kube_loop_t *loop, const char *const *urls, size_t n,
                               const ctl_scrape_opts_t *o, ctl_metrics_t *metrics,
                               ctl_scrape_done_fn done, void *arg);
/* Results in the order of urls; borrowed, valid until ctl_scrape_free. */
const ctl_scrape_result_t *ctl_scrape_results(const ctl_scrape_t *s, size_t *n);
/* Number of failed scrapes. */
size_t ctl_scrape_failures(const ctl_scrape_t *s);
/* Cancels what is in flight (done will not run) and frees. NULL is a no-op. */
void ctl_scrape_free(ctl_scrape_t *s);

/* ---- aggregation ---- */

/* Builds the decision's pod list: every pod in pods[0..npods), in order; the
 * k-th scrapable pod (ctl_pod_scrapable) takes results[k] (k < nresults) as
 * its metrics when that scrape succeeded; other pods have none (the
 * decision treats them as missing or unready, as the HPA does). Names are
 * borrowed from pods. out must hold npods entries. Returns the number of
 * pods with metrics. */
size_t ctl_scrape_build_input(const ctl_pod_t *pods, size_t npods,
                              const ctl_scrape_result_t *results, size_t nresults,
                              autoscale_pod_t *out);

#endif

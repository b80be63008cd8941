/* controller/ctlmetrics: the controller's own Prometheus metrics.
 *
 * Written from the event loop thread, read by the httpd thread that serves
 * /metrics, so every counter sits behind one mutex. Exported names:
 *   mcp_autoscaler_reconcile_duration_seconds  histogram, one sync of one policy
 *   mcp_autoscaler_scrapes_total{result}        ok|timeout|transport|http|parse|toobig
 *   mcp_autoscaler_scrape_errors_total          every failed scrape
 *   mcp_autoscaler_decisions_total{kind} scale_up|scale_down|pool_resize|hold|invalid|skipped
 *   mcp_autoscaler_api_requests_total{verb,code} code "0" = no answer (transport, timeout)
 *   mcp_autoscaler_leader                        1 while this replica may write
 *   mcp_autoscaler_policies                      policies known (valid or not)
 *   mcp_autoscaler_writes_total{kind}           scale|pool|status|event */
#ifndef MCP_CONTROLLER_CTLMETRICS_H
#define MCP_CONTROLLER_CTLMETRICS_H

#include <stdbool.h>

#include "base/buf.h"

typedef struct ctl_metrics ctl_metrics_t;

typedef enum {
	CTL_SCRAPE_OK = 0,
	CTL_SCRAPE_TIMEOUT,
	CTL_SCRAPE_TRANSPORT,
	CTL_SCRAPE_HTTP,
	CTL_SCRAPE_PARSE,
	CTL_SCRAPE_TOOBIG,
	CTL_SCRAPE_NRESULTS
} ctl_scrape_result_kind_t;

/* "ok", "timeout", ... (static). */
const char *ctl_scrape_result_name(ctl_scrape_result_kind_t k);

/* NULL on out of memory. Free with ctl_metrics_free (NULL is a no-op). */
ctl_metrics_t *ctl_metrics_new(void);
void ctl_metrics_free(ctl_metrics_t *m);

/* Recorders; m may be NULL (no-op), so tests and benches can pass none. */
void ctl_metrics_reconcile(ctl_metrics_t *m, double seconds);
void ctl_metrics_scrape(ctl_metrics_t *m, ctl_scrape_result_kind_t k);
/* kind: a short static word (see the header comment). */
void ctl_metrics_decision(ctl_metrics_t *m, const char *kind);
/* verb: "get", "list", "watch", "create", "update", "patch"; code: HTTP
 * status or 0 when no answer arrived. */
void ctl_metrics_api(ctl_metrics_t *m, const char *verb, long code);
void ctl_metrics_write(ctl_metrics_t *m, const char *kind);
void ctl_metrics_set_leader(ctl_metrics_t *m, bool leader);
void ctl_metrics_set_policies(ctl_metrics_t *m, int n);

/* Appends the exposition text to out. 0 or a BASE_E* code (cap reached). */
int ctl_metrics_render(ctl_metrics_t *m, base_buf_t *out);

#endif

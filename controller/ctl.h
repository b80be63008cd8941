/* controller/ctl: the reconcile core of mcp-autoscaler.
 *
 * One ctl_t runs on one kube_loop: an informer-style cache of the policy
 * ConfigMaps (label mcp-autoscaler.io/policy=true), and per policy a pod
 * cache (the target's selector, read from its /scale), a sync timer and one
 * chain of steps at a time:
 *
 *   GET deployments/NAME/scale -> GET <policy>-pool -> scrape ready pods ->
 *   autoscale_decide -> writes as ctl_plan_make orders them (pool ConfigMap,
 *   PATCH /scale with the read resourceVersion as precondition) ->
 *   autoscale_commit -> Events -> status annotation (only when it changed)
 *
 * A change of a policy's data starts a sync at once; otherwise every
 * syncPeriod (the policy's key, else the --sync-period default). API errors
 * back the one policy off (1 s doubling to 60 s); a 409 on /scale re-reads
 * and re-decides (3 times). Nothing is written unless the leader gate
 * (ctl_leader_leading, or no election) says so; losing leadership cancels
 * every chain. The daemon (daemon.c) owns flags, signals and the HTTP
 * endpoints; benches drive this directly. */
#ifndef MCP_CONTROLLER_CTL_H
#define MCP_CONTROLLER_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctlmetrics.h"
#include "kube/client.h"
#include "kube/config.h"

#define CTL_POLICY_LABEL      "mcp-autoscaler.io/policy"
#define CTL_STATUS_ANNOTATION "mcp-autoscaler.io/status"

typedef struct {
	const char *ns;         /* "" or NULL = all namespaces */
	int64_t sync_period_ms; /* default when a policy has no syncPeriod */
	bool leader_elect;
	const char *le_id, *le_ns, *le_name;
	int64_t le_lease_ms, le_renew_ms, le_retry_ms; /* 0 = client-go defaults */
	double qps;
	int burst;
	bool dry_run;
	int64_t scrape_timeout_ms;
	size_t scrape_max_bytes;
	int scrape_concurrency;
	int metrics_port; /* workers' /metrics port */
} ctl_opts_t;

typedef struct ctl ctl_t;

/* Creates the controller and starts its caches and, with leader_elect, the
 * election. loop, kcfg and metrics (may be NULL) are borrowed; strings in o
 * are copied. NULL with err on failure. */
ctl_t *ctl_new(kube_loop_t *loop, const kube_config_t *kcfg, const ctl_opts_t *o,
               ctl_metrics_t *metrics, char *err, size_t errlen);
/* Cancels everything (no callbacks, no release) and frees. NULL is a no-op. */
void ctl_free(ctl_t *c);

/* True once the policy cache has listed (for /readyz). Thread safe. */
bool ctl_ready(const ctl_t *c);
/* Monotonic ms of the last loop heartbeat (for /healthz). Thread safe. */
int64_t ctl_heartbeat_ms(const ctl_t *c);

/* Graceful stop: starts no new step, lets a write in flight finish (at most
 * 5 s), releases the lease when leading, then calls done once. */
void ctl_shutdown(ctl_t *c, void (*done)(void *arg), void *arg);

/* Number of syncs finished (all policies), for tests and benches. */
unsigned long ctl_syncs(const ctl_t *c);

#endif

/* controller/apply: what a decision writes, decided without I/O so it can be
 * tested on its own.
 *
 * ctl_plan_make() turns an autoscale decision and what is known about the
 * cluster into an ordered list of writes:
 *  - the Deployment's /scale, only when the (clamped) replica count differs
 *    from spec.replicas; the result never leaves [minReplicas, maxReplicas];
 *  - the `<policy>-pool` ConfigMap, only when the pool size differs from what
 *    it holds, or it does not exist (then it is created);
 *  - order: growing writes the pool before the replicas (the pool tier acts
 *    first and new pods start with the new size); shrinking writes the
 *    replicas first (pods go before the pool shrinks).
 * ctl_status_json() renders the mcp-autoscaler.io/status annotation. */
#ifndef MCP_CONTROLLER_APPLY_H
#define MCP_CONTROLLER_APPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "autoscale/autoscale.h"

typedef enum {
	CTL_WRITE_POOL = 0,
	CTL_WRITE_SCALE,
} ctl_write_t;

typedef struct {
	int nwrites;
	ctl_write_t writes[2]; /* in order */
	int32_t from_replicas, replicas;
	int32_t from_pool, pool_size;
	bool pool_create; /* the pool ConfigMap is absent: create it */
	const char *kind; /* "scale_up", "scale_down", "pool_resize" or "hold" (static) */
} ctl_plan_t;

/* Plans the writes for decision d (see the header comment). current_pool is
 * the pool ConfigMap's poolSize when pool_exists. pol bounds the result. */
void ctl_plan_make(const autoscale_policy_t *pol, const autoscale_decision_t *d,
                   int32_t current_replicas, bool pool_exists, int32_t current_pool,
                   ctl_plan_t *out);

/* Status annotation inputs beyond the decision. */
typedef struct {
	bool valid;               /* policy parsed */
	const char *error;        /* why not (invalid policy, missing target, API error) */
	const char *error_reason; /* condition reason for error, e.g. "InvalidPolicy" */
	bool has_decision;
	const autoscale_decision_t *d;
	int32_t current_replicas, current_pool;
	int32_t pods, pods_with_metrics;
	double last_scale_time; /* wall seconds, 0 = never */
	double sync_time;       /* wall seconds */
} ctl_status_t;

/* Renders the status annotation JSON: currentReplicas, desiredReplicas,
 * currentPoolSize, desiredPoolSize, pods, podsWithMetrics, metrics[] (name,
 * current or null, target, error), conditions[] (type, status, reason,
 * message), lastScaleTime, lastSyncTime; for an invalid policy or a failed
 * sync, ScalingActive False with the reason and message. Returns a new
 * string (caller frees) or NULL on out of memory. */
char *ctl_status_json(const ctl_status_t *s);

/* Writes "YYYY-MM-DDTHH:MM:SS.ffffffZ" (metav1.MicroTime) or, with micro
 * false, "YYYY-MM-DDTHH:MM:SSZ" (metav1.Time) for wall seconds t. */
char *ctl_format_time(double t, bool micro, char *buf, size_t cap);

#endif

/* pkg/autoscale: the decision engine. Pure functions: no I/O, no clock reads,
 * no globals. Time comes in as an input (seconds, any epoch, monotonic per
 * policy), and every piece of history the HPA keeps in its controller
 * (recommendations for the stabilization windows, scale events for the
 * behavior periods) plus our own (burst mode, fallback counter, the previous
 * histogram counters per pod) lives in an autoscale_state_t that the caller
 * owns: one per policy.
 *
 * One round, as the daemon and the simulator both run it:
 *
 *   autoscale_policy_t pol;                         // from the ConfigMap's data
 *   autoscale_policy_parse(keys, values, n, &pol, err, sizeof(err));
 *   autoscale_state_t *st = autoscale_state_new();
 *   ...each sync period...
 *   autoscale_decision_t d;
 *   autoscale_decide(&pol, st, &input, &d);         // input.now, replicas, pool, pods
 *   if (d.rescale && patch_scale(d.desired_replicas) ok)
 *           autoscale_commit(&pol, st, &d, input.now); // records the scale event
 *   if (d.repool) write the <policy>-pool ConfigMap with d.desired_pool_size
 *   ...
 *   autoscale_state_free(st);
 *
 * The algorithm, the HPA parity points and the extensions are described in
 * docs/autoscale.md. */
#ifndef MCP_AUTOSCALE_AUTOSCALE_H
#define MCP_AUTOSCALE_AUTOSCALE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "prom/prom.h"

#define AUTOSCALE_EINVAL (-1) /* invalid policy or input: see err */
#define AUTOSCALE_ENOMEM (-2)

/* Returns a static string for an AUTOSCALE_E* code. */
const char *autoscale_strerror(int err);

/* ---- policy ------------------------------------------------------------- */

#define AUTOSCALE_MAX_RULE_POLICIES 8

typedef enum {
	AUTOSCALE_SELECT_MAX = 0,
	AUTOSCALE_SELECT_MIN,
	AUTOSCALE_SELECT_DISABLED,
} autoscale_select_t;

typedef enum {
	AUTOSCALE_POLICY_PODS = 0,
	AUTOSCALE_POLICY_PERCENT,
} autoscale_rule_type_t;

/* One HPAScalingPolicy. */
typedef struct {
	autoscale_rule_type_t type;
	int32_t value;          /* > 0 */
	int32_t period_seconds; /* 1..1800 */
} autoscale_rule_t;

/* One HPAScalingRules (scaleUp or scaleDown). */
typedef struct {
	int32_t stabilization_window_seconds; /* 0..3600 */
	autoscale_select_t select;
	size_t npolicies;
	autoscale_rule_t policies[AUTOSCALE_MAX_RULE_POLICIES];
	bool has_tolerance; /* KEP-4951 per-direction tolerance in behavior */
	double tolerance;
} autoscale_rules_t;

/* Metric kinds, in the order their status is reported. */
typedef enum {
	AUTOSCALE_M_POOL_OCCUPANCY = 0, /* percent: (in_use + waiters) / pool_size */
	AUTOSCALE_M_QUEUE_LENGTH,       /* waiters per pod */
	AUTOSCALE_M_P99_LATENCY,        /* seconds, over the pods' bucket deltas */
	AUTOSCALE_M_CPU_UTILIZATION,    /* percent of the CPU request */
	AUTOSCALE_M_COUNT
} autoscale_metric_t;

/* Name as used in reasons and status ("pool_occupancy", "queue_length",
 * "p99_latency", "cpu_utilization"). */
const char *autoscale_metric_name(autoscale_metric_t m);

/* A parsed policy. Plain data (no pointers): copy it freely; read-only for
 * callers. Field meanings and defaults: docs/autoscale.md "Policy reference". */
typedef struct {
	char scale_target_kind[32]; /* "Deployment" */
	char scale_target_name[254];
	int32_t min_replicas, max_replicas;
	int32_t pool_min_size, pool_max_size;
	int64_t connection_budget; /* 0 = none */
	bool has_target[AUTOSCALE_M_COUNT];
	double target[AUTOSCALE_M_COUNT]; /* percent, count, seconds, percent */
	int64_t sync_period_ms;
	double scale_up_tolerance, scale_down_tolerance;
	autoscale_rules_t scale_up, scale_down;
	bool has_behavior; /* false: HPA's default behavior is in scale_up/down */
	int32_t fallback_replicas;
	int32_t fallback_failure_threshold; /* 0 = no fallback */
	bool paused;
	double burst_threshold;               /* 0 = burst mode off; else ratio, >= 1.1 */
	int64_t burst_stable_window_ms;       /* a burst ends after this long without one */
	int64_t cpu_initialization_period_ms; /* HPA: 5m */
	int64_t initial_readiness_delay_ms;   /* HPA: 30s */
} autoscale_policy_t;

/* Parses a ConfigMap's data (n key/value pairs, NUL-terminated strings) into
 * pol. Unknown keys, bad values and inconsistent combinations are errors;
 * err receives every problem, each naming its key, joined by "; " (as much as
 * fits). Returns 0 or AUTOSCALE_EINVAL. `behavior` is YAML in the schema of
 * HPA spec.behavior (parsed with libyaml). Nothing is allocated in pol. */
int autoscale_policy_parse(const char *const *keys, const char *const *values, size_t n,
                           autoscale_policy_t *pol, char *err, size_t errlen);

/* Parses only a `behavior` YAML block into up/down (defaults applied first).
 * Returns 0 or AUTOSCALE_EINVAL with err naming the field. */
int autoscale_behavior_parse(const char *yaml, autoscale_rules_t *up, autoscale_rules_t *down,
                             char *err, size_t errlen);

/* Writes the policy reference (every key, type, default, meaning), generated
 * from the same table that validates, to fp. */
void autoscale_policy_help(FILE *fp);

/* ---- inputs ------------------------------------------------------------- */

typedef enum {
	AUTOSCALE_POD_PENDING = 0,
	AUTOSCALE_POD_RUNNING,
	AUTOSCALE_POD_SUCCEEDED,
	AUTOSCALE_POD_FAILED,
	AUTOSCALE_POD_UNKNOWN,
} autoscale_phase_t;

/* One pod of the target (all pods the Deployment's selector matches). */
typedef struct {
	const char *name; /* borrowed; unique within one input; keys the histogram history */
	autoscale_phase_t phase;
	bool ready;   /* PodReady condition True */
	bool deleted; /* deletionTimestamp set */
	bool has_start_time;
	double start_time; /* seconds, same clock as input.now */
	/* PodReady's lastTransitionTime; when absent the start time is used */
	bool has_ready_transition;
	double ready_transition_time;
	/* false: the scrape failed (a "missing" pod for the scraped metrics) */
	bool has_metrics;
	/* The scraped values, plus CPU (metrics.k8s.io, not the scrape): CPU
	 * counts when metrics.has_cpu, whatever has_metrics says. With
	 * has_cpu_window, a pod inside the CPU initialization period whose
	 * sample was taken less than one window after its readiness changed
	 * is unready (HPA's groupPods). */
	prom_worker_metrics_t metrics;
} autoscale_pod_t;

typedef struct {
	double now;               /* seconds */
	int32_t current_replicas; /* the target's spec.replicas (/scale) */
	/* the pool size last written, or the workers' reported mcp_pool_size;
	 * 0 when unknown (treated as poolMinSize) */
	int32_t current_pool_size;
	const autoscale_pod_t *pods; /* borrowed */
	size_t npods;
	/* The caller could not get a metric at all this round (e.g. the
	 * metrics.k8s.io request failed, or a pod has no CPU request): that
	 * metric fails with this message (borrowed; NULL = none), as HPA's
	 * FailedGetResourceMetric / FailedGetPodsMetric. */
	const char *metric_error[AUTOSCALE_M_COUNT];
} autoscale_input_t;

/* ---- outputs ------------------------------------------------------------ */

typedef enum {
	AUTOSCALE_COND_ABLE_TO_SCALE = 0,
	AUTOSCALE_COND_SCALING_ACTIVE,
	AUTOSCALE_COND_SCALING_LIMITED,
	AUTOSCALE_COND_COUNT
} autoscale_cond_type_t;

typedef struct {
	const char *type; /* "AbleToScale", "ScalingActive", "ScalingLimited" (static) */
	bool status;      /* True / False */
	char reason[40];  /* HPA's reason names, e.g. "ScaleDownStabilized" */
	char message[480];
} autoscale_condition_t;

typedef struct {
	bool configured; /* the policy targets it */
	bool valid;      /* a value was computed this round */
	double value;    /* current value (units as the target) */
	double target;
	int32_t replicas; /* this metric's recommendation (valid only) */
	char error[384];  /* why not valid */
} autoscale_metric_status_t;

typedef struct {
	int32_t desired_replicas;
	int32_t desired_pool_size;
	bool rescale;              /* desired_replicas != current */
	bool repool;               /* desired_pool_size != current */
	bool burst;                /* burst mode is active after this round */
	bool fallback;             /* fallback is active after this round */
	bool budget_limited;       /* connectionBudget bound the result */
	autoscale_metric_t driver; /* metric behind a scale-up (valid when has_driver) */
	bool has_driver;
	char reason[384]; /* human sentence naming the metric that drove the decision */
	autoscale_condition_t conditions[AUTOSCALE_COND_COUNT];
	autoscale_metric_status_t metrics[AUTOSCALE_M_COUNT];
	/* connections needed at the target occupancy (pool tier; 0 when not computed) */
	double connections_needed;
} autoscale_decision_t;

/* ---- state -------------------------------------------------------------- */

typedef struct autoscale_state autoscale_state_t;

/* Returns a new, empty state (NULL on out of memory). Owned by the caller;
 * free with autoscale_state_free. One per policy. */
autoscale_state_t *autoscale_state_new(void);
/* Frees the state. NULL is a no-op. */
void autoscale_state_free(autoscale_state_t *st);
/* Forgets all history (e.g. after the policy's target changed). */
void autoscale_state_reset(autoscale_state_t *st);

/* ---- deciding ----------------------------------------------------------- */

/* Decides desired replicas and pool size for one round. Updates st (the
 * recommendation history, burst state, fallback counter, histogram counters
 * per pod) but not the scale events: call autoscale_commit once the new
 * replica count has been applied. The decision is fully written even on
 * error. Returns 0, AUTOSCALE_EINVAL (NULL argument, or input.now earlier
 * than the last round's) or AUTOSCALE_ENOMEM. Cost is linear in npods. */
int autoscale_decide(const autoscale_policy_t *pol, autoscale_state_t *st,
                     const autoscale_input_t *in, autoscale_decision_t *d);

/* Records a successful rescale from d (from_replicas -> d->desired_replicas)
 * at `now` for the behavior periods (HPA's storeScaleEvent) and sets the
 * AbleToScale condition to SucceededRescale. Call only when the write
 * happened. from_replicas is the input's current_replicas. */
void autoscale_commit(const autoscale_policy_t *pol, autoscale_state_t *st, autoscale_decision_t *d,
                      int32_t from_replicas, double now);

/* Writes the decision as one JSON object (the simulator's output line, also
 * the basis of the status annotation) into buf. Returns the length, or a
 * value >= cap when truncated (as snprintf). */
size_t autoscale_decision_json(const autoscale_decision_t *d, double t, int32_t replicas,
                               int32_t pool_size, char *buf, size_t cap);

#endif

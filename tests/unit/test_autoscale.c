/* cmocka group: pkg/autoscale (policy parsing, HPA parity, pool tier, burst,
 * fallback, pause, P99 from histogram deltas, noise). Table-driven: one row
 * per behaviour. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autoscale/autoscale.h"

#define MAXKV 40

static int parse_kv(const char *const *kv, autoscale_policy_t *pol, char *err, size_t errlen)
{
	const char *keys[MAXKV], *vals[MAXKV];
	size_t n = 0;
	for (; kv[2 * n]; n++) {
		keys[n] = kv[2 * n];
		vals[n] = kv[2 * n + 1];
	}
	return autoscale_policy_parse(keys, vals, n, pol, err, errlen);
}

static void mkpol(const char *const *kv, autoscale_policy_t *pol)
{
	char err[1024];
	if (parse_kv(kv, pol, err, sizeof(err)) != 0)
		fail_msg("policy: %s", err);
}

/* ---- policy parsing ------------------------------------------------------- */

#define BASE "scaleTargetRef", "Deployment/w", "maxReplicas", "10"

static const struct {
	const char *kv[2 * MAXKV];
	const char *err; /* NULL: valid */
} policy_rows[] = {
        {{BASE, NULL}, NULL},
        {{"scaleTargetRef", "Deployment/w", NULL}, "maxReplicas: required"},
        {{"maxReplicas", "3", NULL}, "scaleTargetRef: required"},
        {{BASE, "minReplicas", "abc", NULL}, "minReplicas: \"abc\" is not an integer"},
        {{BASE, "minReplicas", "11", NULL}, "minReplicas: 11 is above maxReplicas 10"},
        {{BASE, "minReplicas", "0", NULL}, "minReplicas: 0 is out of range"},
        {{BASE, "maxReplica", "3", NULL}, "maxReplica: unknown key"},
        {{BASE, "poolMinSize", "9", "poolMaxSize", "8", NULL},
         "poolMinSize: 9 is above poolMaxSize 8"},
        {{BASE, "minReplicas", "2", "poolMinSize", "4", "connectionBudget", "7", NULL},
         "connectionBudget: 7 cannot hold minReplicas x poolMinSize = 8"},
        {{BASE, "targetPoolOccupancy", "120", NULL}, "targetPoolOccupancy: 120 is out of range"},
        {{BASE, "targetP99Latency", "fast", NULL}, "targetP99Latency:"},
        {{BASE, "targetCPUUtilization", "50.5", NULL},
         "targetCPUUtilization: \"50.5\" is not an integer"},
        {{BASE, "syncPeriod", "10", NULL}, "syncPeriod:"},
        {{BASE, "tolerance", "-0.1", NULL}, "tolerance: -0.1 is out of range"},
        {{BASE, "paused", "maybe", NULL}, "paused: \"maybe\" is not true or false"},
        {{BASE, "fallbackReplicas", "2", NULL},
         "fallbackReplicas: set together with fallbackFailureThreshold"},
        {{BASE, "fallbackReplicas", "20", "fallbackFailureThreshold", "3", NULL},
         "fallbackReplicas: 20 is outside"},
        {{BASE, "burstThreshold", "1.05", NULL},
         "burstThreshold: 1.05 must be 0 (off) or at least 1.1"},
        {{"scaleTargetRef", "Pod/w", "maxReplicas", "3", NULL}, "scaleTargetRef: kind \"Pod\""},
        {{"scaleTargetRef", "Deployment/W_x", "maxReplicas", "3", NULL},
         "is not a valid object name"},
        {{"scaleTargetRef", "w", "maxReplicas", "3", NULL},
         "scaleTargetRef: \"w\" is not KIND/NAME"},
        {{BASE, "behavior", "scaleUp: [1, 2", NULL}, "behavior: YAML error"},
        {{BASE, "behavior", "scaleSideways: {}", NULL},
         "behavior: unknown field \"scaleSideways\""},
        {{BASE, "behavior", "scaleUp:\n  selectPolicy: Most\n", NULL},
         "behavior: scaleUp.selectPolicy: \"Most\" is not one of Max|Min|Disabled"},
        {{BASE, "behavior", "scaleUp:\n  policies: []\n", NULL},
         "behavior: scaleUp.policies: must have at least one policy"},
        {{BASE, "behavior",
          "scaleDown:\n  policies:\n  - type: Pods\n    value: 1\n    periodSeconds: 1801\n", NULL},
         "behavior: scaleDown.policies[0].periodSeconds: 1801 is out of range [1, 1800]"},
        {{BASE, "behavior",
          "scaleDown:\n  policies:\n  - type: Percent\n    value: 0\n    periodSeconds: 15\n",
          NULL},
         "scaleDown.policies[0].value: 0 is out of range"},
        {{BASE, "behavior", "scaleDown:\n  policies:\n  - type: Pods\n    value: 1\n", NULL},
         "scaleDown.policies[0]: needs type, value and periodSeconds"},
        {{BASE, "behavior",
          "scaleDown:\n  policies:\n  - type: Nodes\n    value: 1\n    periodSeconds: 1\n", NULL},
         "\"Nodes\" is not Pods or Percent"},
        {{BASE, "behavior", "scaleDown:\n  stabilizationWindowSeconds: 3601\n", NULL},
         "scaleDown.stabilizationWindowSeconds: 3601 is out of range [0, 3600]"},
        {{BASE, "behavior", "scaleUp:\n  tolerance: lots\n", NULL},
         "behavior: scaleUp.tolerance: quantity \"lots\": no number"},
        /* strtod would take these; a Kubernetes quantity does not */
        {{BASE, "behavior", "scaleUp:\n  tolerance: 0x1p-4\n", NULL},
         "scaleUp.tolerance: quantity \"0x1p-4\": unknown suffix"},
        {{BASE, "behavior", "scaleDown:\n  tolerance: inf\n", NULL},
         "scaleDown.tolerance: quantity \"inf\": no number"},
        {{BASE, "behavior", "scaleDown:\n  tolerance: -50m\n", NULL},
         "scaleDown.tolerance: -50m is below 0"},
        {{BASE, "behavior", "scaleUp:\n  tolerance: [1]\n", NULL},
         "scaleUp.tolerance: expected a quantity"},
        {{BASE, "behavior", "scaleUp:\n  stabilizationWindowSeconds: 1\n  colour: red\n", NULL},
         "behavior: scaleUp.colour: unknown field"},
        /* every problem is reported, not only the first */
        {{"minReplicas", "x", "poolMaxSize", "0", NULL},
         "minReplicas: \"x\" is not an integer; "
         "poolMaxSize: 0 is out of range"},
};

static void test_policy_rows(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(policy_rows) / sizeof(policy_rows[0]); i++) {
		autoscale_policy_t pol;
		char err[2048] = "";
		int rc = parse_kv(policy_rows[i].kv, &pol, err, sizeof(err));
		if (policy_rows[i].err == NULL) {
			if (rc != 0)
				fail_msg("row %zu: unexpected error: %s", i, err);
		} else if (rc != AUTOSCALE_EINVAL || strstr(err, policy_rows[i].err) == NULL) {
			fail_msg("row %zu: rc %d err \"%s\", want \"%s\"", i, rc, err,
			         policy_rows[i].err);
		}
	}
}

static void test_policy_defaults(void **state)
{
	autoscale_policy_t pol;
	const char *kv[] = {BASE, NULL};
	(void)state;
	mkpol(kv, &pol);
	assert_string_equal(pol.scale_target_kind, "Deployment");
	assert_string_equal(pol.scale_target_name, "w");
	assert_int_equal(pol.min_replicas, 1);
	assert_int_equal(pol.pool_min_size, 1);
	assert_int_equal(pol.pool_max_size, 16);
	assert_true(pol.sync_period_ms == 15000);
	assert_true(pol.scale_up_tolerance == 0.1 && pol.scale_down_tolerance == 0.1);
	/* no target given: pool occupancy 70%, as the HPA falls back to 80% CPU */
	assert_true(pol.has_target[AUTOSCALE_M_POOL_OCCUPANCY]);
	assert_true(pol.target[AUTOSCALE_M_POOL_OCCUPANCY] == 70);
	assert_false(pol.has_target[AUTOSCALE_M_QUEUE_LENGTH]);
	/* HPA default behavior */
	assert_false(pol.has_behavior);
	assert_int_equal(pol.scale_up.stabilization_window_seconds, 0);
	assert_int_equal(pol.scale_up.npolicies, 2);
	assert_int_equal(pol.scale_down.stabilization_window_seconds, 300);
	assert_int_equal(pol.scale_down.npolicies, 1);
	assert_int_equal(pol.scale_down.policies[0].type, AUTOSCALE_POLICY_PERCENT);
	assert_int_equal(pol.scale_down.policies[0].value, 100);
	assert_int_equal(pol.fallback_failure_threshold, 0);
	assert_false(pol.paused);
	assert_true(pol.burst_threshold == 0);
}

static void test_policy_behavior_and_tolerances(void **state)
{
	autoscale_policy_t pol;
	const char *kv[] = {BASE,
	                    "targetP99Latency",
	                    "250ms",
	                    "scaleDownTolerance",
	                    "0.05",
	                    "behavior",
	                    "scaleUp:\n  selectPolicy: Min\n  tolerance: 200m\n"
	                    "  policies:\n  - type: Pods\n    value: 2\n    periodSeconds: 60\n"
	                    "scaleDown:\n  selectPolicy: Disabled\n",
	                    NULL};
	char help[8192];
	FILE *f;
	(void)state;
	mkpol(kv, &pol);
	assert_true(fabs(pol.target[AUTOSCALE_M_P99_LATENCY] - 0.25) < 1e-12);
	assert_false(pol.has_target[AUTOSCALE_M_POOL_OCCUPANCY]);
	assert_int_equal(pol.scale_up.select, AUTOSCALE_SELECT_MIN);
	assert_true(fabs(pol.scale_up_tolerance - 0.2) < 1e-12);
	assert_true(pol.scale_down_tolerance == 0.05);
	assert_int_equal(pol.scale_up.npolicies, 1);
	assert_int_equal(pol.scale_up.policies[0].value, 2);
	assert_int_equal(pol.scale_down.select, AUTOSCALE_SELECT_DISABLED);
	assert_int_equal(pol.scale_down.stabilization_window_seconds, 300);
	assert_int_equal(pol.scale_down.npolicies, 1); /* defaults kept when omitted */
	/* the reference comes from the same table */
	f = fmemopen(help, sizeof(help), "w");
	assert_non_null(f);
	autoscale_policy_help(f);
	fclose(f);
	help[sizeof(help) - 1] = '\0';
	assert_non_null(strstr(help, "--connectionBudget"));
	assert_non_null(strstr(help, "--behavior"));
	assert_non_null(strstr(help, "--fallbackFailureThreshold"));
}

/* ---- single-round decisions ------------------------------------------------ */

typedef struct {
	char kind; /* r ready, m metrics missing, p pending, d deleted, f failed, u unready+metrics,
	            * s ready but its scrape failed (CPU may still be there) */
	double waiters, in_use, pool, cpu, req;
	double age; /* seconds since start; 0 = 3600 */
} pod_t;

typedef struct {
	const char *name;
	const char *kv[2 * MAXKV];
	int32_t R, P;
	size_t npods;
	pod_t pods[8];
	int32_t want_r, want_p;              /* want_p -1: unchecked */
	const char *able, *active, *limited; /* condition reasons; NULL: unchecked */
	const char *reason;                  /* substring of the reason; NULL: unchecked */
} drow_t;

static autoscale_pod_t *build_pods(const pod_t *ps, size_t n, double now, char names[][16])
{
	autoscale_pod_t *v = calloc(n + 1, sizeof(*v));
	assert_non_null(v);
	for (size_t i = 0; i < n; i++) {
		const pod_t *p = &ps[i];
		autoscale_pod_t *x = &v[i];
		snprintf(names[i], 16, "p%u", (unsigned)(i % 100000));
		x->name = names[i];
		x->phase = p->kind == 'p' ? AUTOSCALE_POD_PENDING
		                          : (p->kind == 'f' ? AUTOSCALE_POD_FAILED
		                                            : AUTOSCALE_POD_RUNNING);
		x->ready = p->kind == 'r' || p->kind == 'd' || p->kind == 's';
		x->deleted = p->kind == 'd';
		x->has_start_time = true;
		x->start_time = now - (p->age > 0 ? p->age : 3600);
		x->has_metrics = p->kind != 'm' && p->kind != 'p' && p->kind != 's';
		x->metrics.waiters = p->waiters;
		x->metrics.pool_in_use = p->in_use;
		x->metrics.pool_size = p->pool > 0 ? p->pool : 4;
		x->metrics.has_cpu = p->req > 0 || p->cpu > 0;
		x->metrics.cpu_millicores = p->cpu;
		x->metrics.cpu_request_millicores = p->req;
	}
	return v;
}

#define Q "targetQueueLength", "2"
#define R4(w)                                                                                      \
	{'r', w, 0, 0, 0, 0, 0}, {'r', w, 0, 0, 0, 0, 0}, {'r', w, 0, 0, 0, 0, 0},                 \
	{                                                                                          \
		'r', w, 0, 0, 0, 0, 0                                                              \
	}
#define OCC(inuse, pool)                                                                           \
	{                                                                                          \
		'r', 0, inuse, pool, 0, 0, 0                                                       \
	}

static const drow_t drows[] = {
        /* HPA: usage ratio, ceil(ratio x ready pods), tolerance */
        {"within tolerance",
         {BASE, Q, NULL},
         4,
         4,
         4,
         {R4(2.1)},
         4,
         -1,
         "ReadyForNewScale",
         "ValidMetricFound",
         "DesiredWithinRange",
         "within tolerance"},
        {"just outside tolerance",
         {BASE, Q, NULL},
         4,
         4,
         4,
         {R4(2.3)},
         5,
         -1,
         NULL,
         NULL,
         "DesiredWithinRange",
         "queue_length 2.3 above target 2"},
        {"scale up x2 within default limit",
         {"scaleTargetRef", "Deployment/w", "maxReplicas", "100", Q, NULL},
         4,
         4,
         4,
         {R4(4)},
         8,
         -1,
         "ReadyForNewScale",
         NULL,
         "DesiredWithinRange",
         NULL},
        {"default scale-up limit max(+4 pods, +100%)",
         {"scaleTargetRef", "Deployment/w", "maxReplicas", "100", Q, NULL},
         2,
         4,
         2,
         {{'r', 10, 0, 0, 0, 0, 0}, {'r', 10, 0, 0, 0, 0, 0}},
         6,
         -1,
         NULL,
         NULL,
         "ScaleUpLimit",
         "limited to 6 by ScaleUpLimit"},
        {"maxReplicas clamp",
         {"scaleTargetRef", "Deployment/w", "maxReplicas", "5", Q, NULL},
         4,
         4,
         4,
         {R4(4)},
         5,
         -1,
         NULL,
         NULL,
         "TooManyReplicas",
         NULL},
        {"scale down (fresh history)",
         {BASE, Q, NULL},
         4,
         4,
         4,
         {R4(1)},
         2,
         -1,
         NULL,
         NULL,
         "DesiredWithinRange",
         "all metrics below target"},
        {"minReplicas clamp on scale down",
         {BASE, Q, "minReplicas", "3", NULL},
         4,
         4,
         4,
         {R4(0.2)},
         3,
         -1,
         NULL,
         NULL,
         "TooFewReplicas",
         NULL},
        /* missing pods: target on scale-down, 0 on scale-up */
        {"missing pods count as target on scale-down",
         {BASE, Q, NULL},
         4,
         4,
         4,
         {{'r', 0.5, 0, 0, 0, 0, 0},
          {'r', 0.5, 0, 0, 0, 0, 0},
          {'m', 0, 0, 0, 0, 0, 0},
          {'m', 0, 0, 0, 0, 0, 0}},
         3,
         -1,
         NULL,
         NULL,
         NULL,
         NULL},
        {"missing pods count as 0 on scale-up",
         {BASE, Q, NULL},
         4,
         4,
         4,
         {{'r', 6, 0, 0, 0, 0, 0},
          {'r', 6, 0, 0, 0, 0, 0},
          {'m', 0, 0, 0, 0, 0, 0},
          {'m', 0, 0, 0, 0, 0, 0}},
         6,
         -1,
         NULL,
         NULL,
         NULL,
         NULL},
        {"missing pods flip the direction: keep",
         {BASE, Q, NULL},
         3,
         4,
         3,
         {{'r', 3, 0, 0, 0, 0, 0}, {'m', 0, 0, 0, 0, 0, 0}, {'m', 0, 0, 0, 0, 0, 0}},
         3,
         -1,
         NULL,
         NULL,
         NULL,
         NULL},
        {"missing pods bring the ratio inside tolerance: keep",
         {BASE, Q, NULL},
         4,
         4,
         4,
         {{'r', 2.6, 0, 0, 0, 0, 0},
          {'r', 2.6, 0, 0, 0, 0, 0},
          {'r', 2.6, 0, 0, 0, 0, 0},
          {'m', 0, 0, 0, 0, 0, 0}},
         4,
         -1,
         NULL,
         NULL,
         NULL,
         NULL},
        /* pending pods: unready, 0% when scaling up, left out when scaling down */
        {"pending pods count 0 on scale-up",
         {BASE, Q, NULL},
         4,
         4,
         4,
         {{'r', 6, 0, 0, 0, 0, 0},
          {'r', 6, 0, 0, 0, 0, 0},
          {'p', 0, 0, 0, 0, 0, 0},
          {'p', 0, 0, 0, 0, 0, 0}},
         6,
         -1,
         NULL,
         NULL,
         NULL,
         NULL},
        {"pending pods left out on scale-down",
         {BASE, Q, NULL},
         4,
         4,
         4,
         {{'r', 0.5, 0, 0, 0, 0, 0},
          {'r', 0.5, 0, 0, 0, 0, 0},
          {'p', 0, 0, 0, 0, 0, 0},
          {'p', 0, 0, 0, 0, 0, 0}},
         1,
         -1,
         NULL,
         NULL,
         NULL,
         NULL},
        /* readiness matters for CPU only: an unready pod with metrics counts for the queue */
        {"unready pod counts for pods metrics",
         {BASE, Q, NULL},
         2,
         4,
         2,
         {{'r', 4, 0, 0, 0, 0, 0}, {'u', 4, 0, 0, 0, 0, 0}},
         4,
         -1,
         NULL,
         NULL,
         NULL,
         NULL},
        {"deleted and failed pods are ignored",
         {BASE, Q, NULL},
         4,
         4,
         4,
         {{'r', 4, 0, 0, 0, 0, 0},
          {'r', 4, 0, 0, 0, 0, 0},
          {'d', 0, 0, 0, 0, 0, 0},
          {'f', 0, 0, 0, 0, 0, 0}},
         4,
         -1,
         NULL,
         NULL,
         NULL,
         NULL},
        /* CPU: utilization of the request, HPA integer percent */
        {"cpu utilization",
         {BASE, "targetCPUUtilization", "50", NULL},
         4,
         4,
         4,
         {{'r', 0, 0, 0, 400, 500, 0},
          {'r', 0, 0, 0, 400, 500, 0},
          {'r', 0, 0, 0, 400, 500, 0},
          {'r', 0, 0, 0, 400, 500, 0}},
         7,
         -1,
         NULL,
         NULL,
         "DesiredWithinRange",
         "cpu_utilization 80% above target 50%"},
        {"cpu: young unready pod counts 0 on scale-up (back inside tolerance)",
         {BASE, "targetCPUUtilization", "50", NULL},
         3,
         4,
         3,
         {{'r', 0, 0, 0, 400, 500, 0}, {'r', 0, 0, 0, 400, 500, 0}, {'u', 0, 0, 0, 900, 500, 60}},
         3,
         -1,
         NULL,
         NULL,
         NULL,
         "unready"},
        {"cpu: old pod unready long after start counts as ready",
         {BASE, "targetCPUUtilization", "50", NULL},
         2,
         4,
         2,
         {{'r', 0, 0, 0, 500, 500, 0}, {'u', 0, 0, 0, 0, 500, 0}},
         2,
         -1,
         NULL,
         NULL,
         NULL,
         NULL},
        {"cpu: no request is an error",
         {BASE, "targetCPUUtilization", "50", NULL},
         2,
         4,
         2,
         {{'r', 0, 0, 0, 500, 0, 0}, {'r', 0, 0, 0, 500, 0, 0}},
         2,
         -1,
         NULL,
         "FailedGetResourceMetric",
         NULL,
         "missing request for cpu"},
        /* several metrics: highest wins; a failed metric blocks scale-down only */
        {"highest recommendation wins",
         {BASE, Q, "targetPoolOccupancy", "50", NULL},
         2,
         4,
         2,
         {OCC(2, 4), OCC(2, 4)},
         2,
         -1,
         NULL,
         NULL,
         NULL,
         NULL},
        {"failed metric + others say down: hold",
         {BASE, Q, "targetCPUUtilization", "50", NULL},
         4,
         4,
         4,
         {R4(0.5)},
         4,
         -1,
         NULL,
         "FailedGetResourceMetric",
         NULL,
         "no scale-down while a metric is failing"},
        {"failed metric + others say up: scale up",
         {BASE, Q, "targetCPUUtilization", "50", NULL},
         4,
         4,
         4,
         {R4(3)},
         6,
         -1,
         NULL,
         "ValidMetricFound",
         NULL,
         NULL},
        {"cpu comes from metrics.k8s.io: counts although the scrape failed",
         {BASE, "targetCPUUtilization", "50", NULL},
         4,
         4,
         4,
         {{'s', 0, 0, 0, 400, 500, 0},
          {'s', 0, 0, 0, 400, 500, 0},
          {'s', 0, 0, 0, 400, 500, 0},
          {'s', 0, 0, 0, 400, 500, 0}},
         7,
         -1,
         NULL,
         "ValidMetricFound",
         NULL,
         "cpu_utilization 80% above target 50%"},
        {"all metrics failed: hold",
         {BASE, Q, NULL},
         2,
         4,
         2,
         {{'m', 0, 0, 0, 0, 0, 0}, {'m', 0, 0, 0, 0, 0, 0}},
         2,
         -1,
         NULL,
         "FailedGetPodsMetric",
         NULL,
         "did not receive metrics"},
        {"no pods",
         {BASE, Q, NULL},
         2,
         4,
         0,
         {{0}},
         2,
         -1,
         NULL,
         "FailedGetPodsMetric",
         NULL,
         "no pods returned by selector"},
        /* replica bounds before metrics */
        {"below minReplicas",
         {BASE, Q, "minReplicas", "3", NULL},
         1,
         4,
         1,
         {{'r', 2, 0, 0, 0, 0, 0}},
         3,
         -1,
         NULL,
         NULL,
         "TooFewReplicas",
         "below minReplicas"},
        {"above maxReplicas",
         {BASE, Q, NULL},
         12,
         4,
         1,
         {{'r', 2, 0, 0, 0, 0, 0}},
         10,
         -1,
         NULL,
         NULL,
         "TooManyReplicas",
         "above maxReplicas"},
        {"scaled to 0 by hand: disabled",
         {BASE, Q, NULL},
         0,
         4,
         0,
         {{0}},
         0,
         -1,
         NULL,
         "ScalingDisabled",
         NULL,
         NULL},
        {"paused",
         {BASE, Q, "paused", "true", NULL},
         4,
         4,
         4,
         {R4(10)},
         4,
         4,
         NULL,
         "ScalingPaused",
         NULL,
         "paused"},
        /* KEP-4951 per-direction tolerances */
        {"scaleUpTolerance wide: no change at +40%",
         {BASE, Q, "scaleUpTolerance", "0.5", NULL},
         4,
         4,
         4,
         {R4(2.8)},
         4,
         -1,
         NULL,
         NULL,
         NULL,
         NULL},
        {"scaleDownTolerance narrow: down at -10%",
         {BASE, Q, "scaleDownTolerance", "0.05", NULL},
         10,
         4,
         4,
         {R4(1.8)},
         4,
         -1,
         NULL,
         NULL,
         NULL,
         NULL},
        /* selectPolicy */
        {"scaleUp selectPolicy Disabled",
         {BASE, Q, "behavior", "scaleUp:\n  selectPolicy: Disabled\n", NULL},
         4,
         4,
         4,
         {R4(4)},
         4,
         -1,
         NULL,
         NULL,
         "ScaleUpLimit",
         NULL},
        {"scaleUp selectPolicy Min: smallest change",
         {"scaleTargetRef", "Deployment/w", "maxReplicas", "100", Q, "behavior",
          "scaleUp:\n  selectPolicy: Min\n", NULL},
         4,
         4,
         4,
         {R4(8)},
         8,
         -1,
         NULL,
         NULL,
         "ScaleUpLimit",
         NULL},
        /* HPA docs: scaleUp Percent 900 per 60s lets 1 pod become 10 */
        {"docs: scale up 900%",
         {"scaleTargetRef", "Deployment/w", "maxReplicas", "100", Q, "behavior",
          "scaleUp:\n  policies:\n  - type: Percent\n    value: 900\n    periodSeconds: 60\n",
          NULL},
         1,
         4,
         1,
         {{'r', 40, 0, 0, 0, 0, 0}},
         10,
         -1,
         NULL,
         NULL,
         "ScaleUpLimit",
         NULL},
        /* pool tier */
        {"pool grows before pods",
         {BASE, "targetPoolOccupancy", "50", NULL},
         2,
         4,
         2,
         {OCC(4, 4), OCC(4, 4)},
         2,
         8,
         NULL,
         NULL,
         NULL,
         "pools grow before pods"},
        {"pods added when pools are at max",
         {BASE, "targetPoolOccupancy", "50", "poolMaxSize", "16", NULL},
         2,
         16,
         2,
         {OCC(16, 16), OCC(16, 16)},
         4,
         16,
         NULL,
         NULL,
         NULL,
         "pool_occupancy 100% above target 50%"},
        {"pods shrink before pools",
         {BASE, "targetPoolOccupancy", "50", NULL},
         4,
         8,
         4,
         {OCC(2, 8), OCC(2, 8), OCC(2, 8), OCC(2, 8)},
         2,
         8,
         NULL,
         NULL,
         NULL,
         NULL},
        {"pool shrinks when pods are at their floor",
         {BASE, "targetPoolOccupancy", "50", NULL},
         1,
         8,
         1,
         {OCC(2, 8)},
         1,
         4,
         NULL,
         NULL,
         NULL,
         "pods at their floor, pools shrink"},
        {"pool respects poolMinSize",
         {BASE, "targetPoolOccupancy", "50", "poolMinSize", "6", NULL},
         1,
         8,
         1,
         {OCC(0, 8)},
         1,
         6,
         NULL,
         NULL,
         NULL,
         NULL},
        {"waiters count as pool demand",
         {BASE, "targetPoolOccupancy", "50", NULL},
         1,
         4,
         1,
         {{'r', 4, 4, 4, 0, 0, 0}},
         1,
         16,
         NULL,
         NULL,
         NULL,
         NULL},
        {"queue does not add pods while the pool can grow",
         {BASE, Q, "targetPoolOccupancy", "50", NULL},
         2,
         4,
         2,
         {{'r', 2.5, 3, 4, 0, 0, 0}, {'r', 2.5, 3, 4, 0, 0, 0}},
         2,
         11,
         NULL,
         NULL,
         NULL,
         NULL},
        {"connectionBudget binds the pool",
         {BASE, "targetPoolOccupancy", "50", "connectionBudget", "20", NULL},
         2,
         8,
         2,
         {OCC(8, 8), OCC(8, 8)},
         2,
         10,
         NULL,
         NULL,
         "ConnectionBudget",
         "connectionBudget 20 binds"},
        {"connectionBudget binds replicas",
         {BASE, "targetPoolOccupancy", "50", "poolMinSize", "4", "connectionBudget", "8", NULL},
         2,
         4,
         2,
         {OCC(4, 4), OCC(4, 4)},
         2,
         4,
         NULL,
         NULL,
         "ConnectionBudget",
         NULL},
        {"connectionBudget lowered under the current size",
         {BASE, "targetPoolOccupancy", "50", "poolMinSize", "2", "connectionBudget", "6", NULL},
         4,
         4,
         4,
         {OCC(2, 4), OCC(2, 4), OCC(2, 4), OCC(2, 4)},
         3,
         2,
         NULL,
         NULL,
         "ConnectionBudget",
         NULL},
};

static void run_drow(const drow_t *r, size_t i)
{
	autoscale_policy_t pol;
	autoscale_state_t *st = autoscale_state_new();
	char names[8][16];
	autoscale_pod_t *pods;
	autoscale_input_t in = {0};
	autoscale_decision_t d;
	const double now = 10000;
	assert_non_null(st);
	mkpol(r->kv, &pol);
	pods = build_pods(r->pods, r->npods, now, names);
	in.now = now;
	in.current_replicas = r->R;
	in.current_pool_size = r->P;
	in.pods = pods;
	in.npods = r->npods;
	assert_int_equal(autoscale_decide(&pol, st, &in, &d), 0);
	if (d.desired_replicas != r->want_r)
		fail_msg("row %zu (%s): replicas %d, want %d (reason: %s)", i, r->name,
		         (int)d.desired_replicas, (int)r->want_r, d.reason);
	if (r->want_p >= 0 && d.desired_pool_size != r->want_p)
		fail_msg("row %zu (%s): pool %d, want %d (reason: %s)", i, r->name,
		         (int)d.desired_pool_size, (int)r->want_p, d.reason);
	if (r->able && strcmp(d.conditions[0].reason, r->able) != 0)
		fail_msg("row %zu (%s): AbleToScale %s, want %s", i, r->name,
		         d.conditions[0].reason, r->able);
	if (r->active && strcmp(d.conditions[1].reason, r->active) != 0)
		fail_msg("row %zu (%s): ScalingActive %s, want %s (%s)", i, r->name,
		         d.conditions[1].reason, r->active, d.conditions[1].message);
	if (r->limited && strcmp(d.conditions[2].reason, r->limited) != 0)
		fail_msg("row %zu (%s): ScalingLimited %s, want %s (reason: %s)", i, r->name,
		         d.conditions[2].reason, r->limited, d.reason);
	if (r->reason && strstr(d.reason, r->reason) == NULL)
		fail_msg("row %zu (%s): reason \"%s\" lacks \"%s\"", i, r->name, d.reason,
		         r->reason);
	assert_int_equal(d.rescale, d.desired_replicas != r->R);
	free(pods);
	autoscale_state_free(st);
}

static void test_decision_rows(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(drows) / sizeof(drows[0]); i++)
		run_drow(&drows[i], i);
}

/* ---- sequences: history-dependent behaviour --------------------------------- */

typedef struct {
	double t;
	int32_t R;      /* -1: the previous round's desired (applied) */
	double waiters; /* per pod; < 0: every scrape failed */
	int32_t want;
	const char *limited; /* NULL: unchecked */
} step_t;

typedef struct {
	const char *name;
	const char *kv[2 * MAXKV];
	size_t nsteps;
	step_t steps[24];
} seq_t;

#define DOWN0 "behavior", "scaleDown:\n  stabilizationWindowSeconds: 0\n"

static const seq_t seqs[] = {
        /* HPA docs default scale-up: 4 pods or 100% per 15 s, whichever is more */
        {"default scale-up over periods",
         {"scaleTargetRef", "Deployment/w", "maxReplicas", "100", Q, NULL},
         4,
         {{0, 1, 20, 5, "ScaleUpLimit"},
          {10, -1, 20, 5, "ScaleUpLimit"}, /* still inside the period of the first event */
          {15, -1, 20, 10, "ScaleUpLimit"},
          {30, -1, 20, 20, "ScaleUpLimit"}}},
        /* HPA docs default scale-down: stabilization window 300 s, then 100% per 15 s */
        {"stabilization window 300s",
         {BASE, Q, NULL},
         5,
         {{0, 8, 2, 8, NULL},
          {15, 8, 0.5, 8, NULL},
          {285, 8, 0.5, 8, NULL},
          {300, 8, 0.5, 2, NULL},
          {315, 2, 0.5, 2, NULL}}}, /* 2 was recommended within the window */
        {"stabilization window keeps the highest recent recommendation",
         {BASE, Q, NULL},
         4,
         {{0, 8, 3, 10, NULL},
          {15, 10, 1, 10, NULL},
          {100, 10, 1.2, 10, NULL},
          {316, 10, 1, 6, NULL}}},
        /* scale-down rate: 100% per 15 s lets everything go at once */
        {"docs: scale down 100% per 15s",
         {BASE, Q, DOWN0, NULL},
         1,
         {{0, 10, 0.1, 1, "DesiredWithinRange"}}},
        {"scale-down Pods 1 per 60s",
         {BASE, Q, "behavior",
          "scaleDown:\n  stabilizationWindowSeconds: 0\n  policies:\n  - type: Pods\n    value: 1\n"
          "    periodSeconds: 60\n",
          NULL},
         4,
         {{0, 6, 0.1, 5, "ScaleDownLimit"},
          {30, -1, 0.1, 5, "ScaleDownLimit"},
          {61, -1, 0.1, 4, "ScaleDownLimit"},
          {121, -1, 0.1, 3, "ScaleDownLimit"}}},
        /* HPA: ceil(3 x 1.5) = 5 on the way up */
        {"scale up Percent 50 of 3 rounds 4.5 up to 5",
         {"scaleTargetRef", "Deployment/w", "maxReplicas", "100", Q, "behavior",
          "scaleUp:\n  stabilizationWindowSeconds: 0\n  policies:\n  - type: Percent\n"
          "    value: 50\n    periodSeconds: 60\n",
          NULL},
         1,
         {{0, 3, 10, 5, "ScaleUpLimit"}}},
        /* HPA: int32(5 x 0.9) = 4; rounding up would keep 5 and never scale down */
        {"scale down Percent 10 of 5 truncates 4.5 to 4",
         {BASE, Q, "behavior",
          "scaleDown:\n  stabilizationWindowSeconds: 0\n  policies:\n  - type: Percent\n"
          "    value: 10\n    periodSeconds: 60\n",
          NULL},
         1,
         {{0, 5, 0.1, 4, "ScaleDownLimit"}}},
        /* HPA docs: Pods 4 / Percent 10 per 60 s: Max picks the bigger change, Min the smaller */
        {"docs: scale down Max of Pods 4, Percent 10",
         {"scaleTargetRef", "Deployment/w", "maxReplicas", "100", Q, "behavior",
          "scaleDown:\n  stabilizationWindowSeconds: 0\n  policies:\n  - type: Pods\n    value: 4\n"
          "    periodSeconds: 60\n  - type: Percent\n    value: 10\n    periodSeconds: 60\n",
          NULL},
         1,
         {{0, 80, 0.1, 72, "ScaleDownLimit"}}},
        {"docs: scale down Min of Pods 4, Percent 10",
         {"scaleTargetRef", "Deployment/w", "maxReplicas", "100", Q, "behavior",
          "scaleDown:\n  stabilizationWindowSeconds: 0\n  selectPolicy: Min\n  policies:\n"
          "  - type: Pods\n    value: 4\n    periodSeconds: 60\n  - type: Percent\n    value: 10\n"
          "    periodSeconds: 60\n",
          NULL},
         1,
         {{0, 80, 0.1, 76, "ScaleDownLimit"}}},
        {"scale-up stabilization: lowest recent recommendation",
         {BASE, Q, "behavior", "scaleUp:\n  stabilizationWindowSeconds: 60\n", NULL},
         3,
         {{0, 2, 2, 2, NULL}, {15, 2, 4, 2, NULL}, {61, 2, 4, 4, NULL}}},
        /* burst mode: at once, then no scale-down until a stable window passes */
        {"burst scales up at once and holds",
         {"scaleTargetRef", "Deployment/w", "maxReplicas", "100", Q, DOWN0, "burstThreshold", "2",
          "burstStableWindow", "60s", NULL},
         5,
         {{0, 2, 10, 10, NULL},
          {15, -1, 0.2, 10, NULL},
          {45, -1, 0.2, 10, NULL},
          {75, -1, 0.2, 1, NULL},
          {90, -1, 0.2, 1, NULL}}},
        {"fallback waits for a burst to end",
         {BASE, Q, DOWN0, "burstThreshold", "2", "burstStableWindow", "60s", "fallbackReplicas",
          "3", "fallbackFailureThreshold", "2", NULL},
         4,
         {{0, 2, 10, 10, NULL},
          {15, -1, -1, 10, NULL},
          {30, -1, -1, 10, NULL},
          {75, -1, -1, 3, NULL}}},
        {"burst off: rate limited",
         {"scaleTargetRef", "Deployment/w", "maxReplicas", "100", Q, DOWN0, NULL},
         2,
         {{0, 2, 10, 6, "ScaleUpLimit"}, {15, -1, 0.2, 1, NULL}}},
        /* fallback: hold, then move to fallbackReplicas, leave after as many good rounds */
        {"fallback after N failed rounds, no flapping",
         {BASE, Q, DOWN0, "fallbackReplicas", "3", "fallbackFailureThreshold", "2", NULL},
         6,
         {{0, 6, -1, 6, NULL},
          {15, 6, -1, 3, NULL},
          {30, -1, -1, 3, NULL},
          {45, -1, 4, 3, NULL}, /* metrics back for 1 of 2 rounds: stay */
          {60, -1, -1, 3, NULL},
          {75, -1, 4, 3, NULL}}},
        {"fallback left after N good rounds",
         {BASE, Q, DOWN0, "fallbackReplicas", "3", "fallbackFailureThreshold", "2", NULL},
         5,
         {{0, 6, -1, 6, NULL},
          {15, 6, -1, 3, NULL},
          {30, -1, 4, 3, NULL},
          {45, -1, 4, 6, NULL},
          {60, -1, 2, 6, NULL}}},
        {"no fallback configured: hold",
         {BASE, Q, DOWN0, NULL},
         3,
         {{0, 6, -1, 6, NULL}, {15, 6, -1, 6, NULL}, {30, 6, -1, 6, NULL}}},
};

static void run_seq(const seq_t *s, size_t i)
{
	autoscale_policy_t pol;
	autoscale_state_t *st = autoscale_state_new();
	int32_t prev = 0;
	assert_non_null(st);
	mkpol(s->kv, &pol);
	for (size_t k = 0; k < s->nsteps; k++) {
		const step_t *x = &s->steps[k];
		int32_t R = x->R >= 0 ? x->R : prev;
		pod_t ps[100];
		char names[100][16];
		autoscale_pod_t *pods;
		autoscale_input_t in = {0};
		autoscale_decision_t d;
		assert_true(R <= 100);
		for (int32_t p = 0; p < R; p++)
			ps[p] = (pod_t){x->waiters < 0 ? 'm' : 'r', x->waiters, 0, 0, 0, 0, 0};
		pods = build_pods(ps, (size_t)R, x->t, names);
		in.now = x->t;
		in.current_replicas = R;
		in.current_pool_size = 4;
		in.pods = pods;
		in.npods = (size_t)R;
		assert_int_equal(autoscale_decide(&pol, st, &in, &d), 0);
		if (d.desired_replicas != x->want)
			fail_msg("seq %zu (%s) step %zu t=%g: replicas %d, want %d (reason: %s)", i,
			         s->name, k, x->t, (int)d.desired_replicas, (int)x->want, d.reason);
		if (x->limited && strcmp(d.conditions[2].reason, x->limited) != 0)
			fail_msg("seq %zu (%s) step %zu: ScalingLimited %s, want %s", i, s->name, k,
			         d.conditions[2].reason, x->limited);
		if (d.rescale) {
			autoscale_commit(&pol, st, &d, R, x->t);
			assert_string_equal(d.conditions[0].reason, "SucceededRescale");
		}
		prev = d.desired_replicas;
		free(pods);
	}
	autoscale_state_free(st);
}

/* Two metrics (queue, CPU of a 500m request) over rounds: one failing metric
 * while another works is HPA's "no scale-down", never the fallback (that is
 * for the scaler failing, i.e. every metric); scale-up still works. */
typedef struct {
	double t;
	int32_t R;      /* -1: the previous round's desired */
	double waiters; /* per pod; < 0: every scrape failed */
	double cpu;     /* per pod, millicores; 0: no CPU sample */
	int32_t want;
	bool fallback; /* d.fallback after the round */
} cstep_t;

/* Pods just started (not ready, younger than the initial readiness delay,
 * 30 s) cannot have metrics yet: such rounds hold and do not count toward
 * the fallback, however many there are (a deploy with fast syncs used to
 * fall back before its first worker was ready). Once the pods are older
 * and still without metrics, the rounds count as usual. */
static void test_starting_pods_do_not_count_for_fallback(void **state)
{
	(void)state;
	static const struct {
		double t;
		char kind; /* of the one pod: m = not ready, no metrics */
		int32_t want;
		bool fallback, starting; /* starting: the reason says so */
	} steps[] = {
	        {0, 'm', 1, false, true},  {2, 'm', 1, false, true},  {4, 'm', 1, false, true},
	        {10, 'm', 1, false, true}, {28, 'm', 1, false, true}, {31, 'm', 1, false, false},
	        {33, 'm', 3, true, false},
	};
	const char *kv[] = {BASE, Q,   DOWN0, "fallbackReplicas", "3", "fallbackFailureThreshold",
	                    "2",  NULL};
	autoscale_policy_t pol;
	autoscale_state_t *st = autoscale_state_new();
	assert_non_null(st);
	mkpol(kv, &pol);
	for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
		/* one pod, started at t = -1 */
		pod_t ps[1] = {{steps[k].kind, 0, 0, 0, 0, 0, steps[k].t + 1}};
		char names[1][16];
		autoscale_input_t in = {0};
		autoscale_decision_t d;
		autoscale_pod_t *pods = build_pods(ps, 1, steps[k].t, names);
		in.now = steps[k].t;
		in.current_replicas = 1;
		in.current_pool_size = 4;
		in.pods = pods;
		in.npods = 1;
		assert_int_equal(autoscale_decide(&pol, st, &in, &d), 0);
		bool says = strstr(d.reason, "every pod is starting") != NULL;
		if (d.desired_replicas != steps[k].want || d.fallback != steps[k].fallback ||
		    says != steps[k].starting)
			fail_msg("step %zu t=%g: replicas %d fallback %d, want %d %d (reason: %s)",
			         k, steps[k].t, (int)d.desired_replicas, (int)d.fallback,
			         (int)steps[k].want, (int)steps[k].fallback, d.reason);
		free(pods);
	}
	autoscale_state_free(st);
}

static void test_fallback_needs_every_metric_failing(void **state)
{
	(void)state;
	static const cstep_t steps[] = {
	        {0, 6, 0.5, 0, 6, false},      /* cpu missing, queue says down: hold */
	        {15, -1, 0.5, 0, 6, false},    /* still no fallback */
	        {30, -1, 0.5, 0, 6, false},    /* nor after 3 rounds */
	        {45, -1, 4, 0, 10, false},     /* queue says up: up despite the cpu failure */
	        {60, -1, -1, 0, 10, false},    /* every metric failed: 1 of 2 */
	        {75, -1, -1, 0, 3, true},      /* 2 of 2: fallbackReplicas */
	        {90, -1, -1, 250, 3, true},    /* cpu back (queue failing): 1 of 2 good */
	        {105, -1, -1, 250, 3, false},  /* 2 of 2: fallback left; cpu 50% on target */
	        {120, -1, -1, 100, 3, false},  /* cpu 20%, the queue failing: no scale-down */
	        {135, -1, 0.5, 100, 2, false}, /* both back: cpu's 2 beats the queue's 1 */
	};
	const char *kv[] = {BASE,
	                    Q,
	                    "targetCPUUtilization",
	                    "50",
	                    DOWN0,
	                    "fallbackReplicas",
	                    "3",
	                    "fallbackFailureThreshold",
	                    "2",
	                    NULL};
	autoscale_policy_t pol;
	autoscale_state_t *st = autoscale_state_new();
	int32_t prev = 0;
	assert_non_null(st);
	mkpol(kv, &pol);
	for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
		const cstep_t *x = &steps[k];
		int32_t R = x->R >= 0 ? x->R : prev;
		pod_t ps[16];
		char names[16][16];
		autoscale_input_t in = {0};
		autoscale_decision_t d;
		assert_true(R <= 16);
		for (int32_t p = 0; p < R; p++)
			ps[p] = (pod_t){x->waiters < 0 ? 's' : 'r', x->waiters, 0, 0, x->cpu,
			                x->cpu > 0 ? 500 : 0,       0};
		autoscale_pod_t *pods = build_pods(ps, (size_t)R, x->t, names);
		in.now = x->t;
		in.current_replicas = R;
		in.current_pool_size = 4;
		in.pods = pods;
		in.npods = (size_t)R;
		assert_int_equal(autoscale_decide(&pol, st, &in, &d), 0);
		if (d.desired_replicas != x->want || d.fallback != x->fallback)
			fail_msg("step %zu t=%g: replicas %d fallback %d, want %d %d (reason: %s)",
			         k, x->t, (int)d.desired_replicas, (int)d.fallback, (int)x->want,
			         (int)x->fallback, d.reason);
		if (d.rescale)
			autoscale_commit(&pol, st, &d, R, x->t);
		prev = d.desired_replicas;
		free(pods);
	}
	autoscale_state_free(st);
}

/* HPA's groupPods for CPU: inside the initialization period a sample taken
 * less than one metric window after the readiness change is unready. */
static void test_cpu_metric_window_readiness(void **state)
{
	(void)state;
	const char *kv[] = {BASE, "targetCPUUtilization", "50", NULL};
	const double now = 10000;
	autoscale_policy_t pol;
	mkpol(kv, &pol);
	for (int with_window = 0; with_window < 2; with_window++) {
		autoscale_state_t *st = autoscale_state_new();
		pod_t ps[2] = {{'r', 0, 0, 0, 400, 500, 60}, {'r', 0, 0, 0, 400, 500, 0}};
		char names[2][16];
		autoscale_pod_t *pods = build_pods(ps, 2, now, names);
		autoscale_input_t in = {0};
		autoscale_decision_t d;
		assert_non_null(st);
		/* pod 0 started 60 s ago, ready 10 s ago, sampled 1 s ago over 15 s */
		pods[0].has_ready_transition = true;
		pods[0].ready_transition_time = now - 10;
		pods[0].metrics.has_cpu_window = with_window;
		pods[0].metrics.cpu_timestamp = now - 1;
		pods[0].metrics.cpu_window = 15;
		in.now = now;
		in.current_replicas = 2;
		in.current_pool_size = 4;
		in.pods = pods;
		in.npods = 2;
		assert_int_equal(autoscale_decide(&pol, st, &in, &d), 0);
		/* both ready: 80% of target 50 -> 4; pod 0 unready: it counts 0 on a
		 * scale-up, 40% -> the direction flips -> hold */
		assert_int_equal(d.desired_replicas, with_window ? 2 : 4);
		/* a sample a full window after the change counts */
		pods[0].metrics.cpu_timestamp = now - 10 + 15 + 1;
		in.now = now + 15;
		assert_int_equal(autoscale_decide(&pol, st, &in, &d), 0);
		assert_int_equal(d.desired_replicas, 4);
		free(pods);
		autoscale_state_free(st);
	}
}

/* input.metric_error: the caller could not get a metric (metrics.k8s.io
 * down, a pod without a CPU request): that metric alone fails. */
static void test_metric_error_from_caller(void **state)
{
	(void)state;
	const char *kv[] = {BASE, Q, "targetCPUUtilization", "50", NULL};
	autoscale_policy_t pol;
	mkpol(kv, &pol);
	for (int up = 0; up < 2; up++) {
		autoscale_state_t *st = autoscale_state_new();
		pod_t ps[4] = {R4(up ? 4 : 0.5)};
		char names[4][16];
		autoscale_pod_t *pods = build_pods(ps, 4, 100, names);
		autoscale_input_t in = {0};
		autoscale_decision_t d;
		assert_non_null(st);
		in.now = 100;
		in.current_replicas = 4;
		in.current_pool_size = 4;
		in.pods = pods;
		in.npods = 4;
		in.metric_error[AUTOSCALE_M_CPU_UTILIZATION] =
		        "unable to get metrics for resource cpu: 404 NotFound";
		assert_int_equal(autoscale_decide(&pol, st, &in, &d), 0);
		assert_false(d.metrics[AUTOSCALE_M_CPU_UTILIZATION].valid);
		assert_string_equal(d.metrics[AUTOSCALE_M_CPU_UTILIZATION].error,
		                    "unable to get metrics for resource cpu: 404 NotFound");
		assert_true(d.metrics[AUTOSCALE_M_QUEUE_LENGTH].valid);
		if (up) {
			assert_int_equal(d.desired_replicas, 8);
			assert_string_equal(d.conditions[1].reason, "ValidMetricFound");
		} else {
			assert_int_equal(d.desired_replicas, 4);
			assert_string_equal(d.conditions[1].reason, "FailedGetResourceMetric");
			assert_non_null(strstr(d.conditions[1].message, "404 NotFound"));
			assert_non_null(
			        strstr(d.reason, "no scale-down while a metric is failing"));
		}
		free(pods);
		autoscale_state_free(st);
	}
}

static void test_decision_sequences(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++)
		run_seq(&seqs[i], i);
}

/* ---- P99 from histogram deltas ------------------------------------------------ */

static void p99_round(autoscale_state_t *st, const autoscale_policy_t *pol, double t,
                      const double *counts, autoscale_decision_t *d)
{
	static const double les[3] = {0.1, 0.5, INFINITY};
	autoscale_pod_t pod;
	autoscale_input_t in = {0};
	memset(&pod, 0, sizeof(pod));
	pod.name = "w-0";
	pod.phase = AUTOSCALE_POD_RUNNING;
	pod.ready = true;
	pod.has_start_time = true;
	pod.has_metrics = true;
	pod.metrics.pool_size = 4;
	for (int k = 0; k < 3; k++)
		assert_int_equal(prom_worker_add_bucket(&pod.metrics, les[k], counts[k]), 0);
	in.now = t;
	in.current_replicas = 1;
	in.current_pool_size = 4;
	in.pods = &pod;
	in.npods = 1;
	assert_int_equal(autoscale_decide(pol, st, &in, d), 0);
}

static void test_p99_deltas_and_resets(void **state)
{
	autoscale_policy_t pol;
	const char *kv[] = {BASE, "targetP99Latency", "200ms", NULL};
	autoscale_state_t *st = autoscale_state_new();
	autoscale_decision_t d;
	const double c1[] = {100, 100, 100}, c2[] = {100, 200, 200}, c3[] = {10, 10, 10},
	             c4[] = {10, 10, 10}, c5[] = {10, 10, 400};
	(void)state;
	mkpol(kv, &pol);
	/* first sample: no delta yet, the metric is not available */
	p99_round(st, &pol, 0, c1, &d);
	assert_false(d.metrics[AUTOSCALE_M_P99_LATENCY].valid);
	assert_string_equal(d.conditions[1].reason, "FailedGetPodsMetric");
	/* 100 new requests, all in (0.1, 0.5]: rank 99 -> 0.1 + 0.4 x 0.99 */
	p99_round(st, &pol, 15, c2, &d);
	assert_true(d.metrics[AUTOSCALE_M_P99_LATENCY].valid);
	assert_true(fabs(d.metrics[AUTOSCALE_M_P99_LATENCY].value - 0.496) < 1e-9);
	assert_int_equal(d.desired_replicas, 3);
	assert_non_null(strstr(d.reason, "p99_latency 496ms above target 200ms"));
	/* counter reset (worker restart): the delta is the new counters */
	p99_round(st, &pol, 30, c3, &d);
	assert_true(fabs(d.metrics[AUTOSCALE_M_P99_LATENCY].value - 0.099) < 1e-9);
	/* no requests in the period: P99 0 */
	p99_round(st, &pol, 45, c4, &d);
	assert_true(d.metrics[AUTOSCALE_M_P99_LATENCY].valid);
	assert_true(d.metrics[AUTOSCALE_M_P99_LATENCY].value == 0);
	/* rank in the +Inf bucket: the highest finite bound */
	p99_round(st, &pol, 60, c5, &d);
	assert_true(d.metrics[AUTOSCALE_M_P99_LATENCY].value == 0.5);
	/* time going backwards is refused */
	{
		autoscale_input_t in = {0};
		in.now = 10;
		in.current_replicas = 1;
		assert_int_equal(autoscale_decide(&pol, st, &in, &d), AUTOSCALE_EINVAL);
	}
	autoscale_state_free(st);
	autoscale_state_free(NULL);
}

/* A pod whose scrapes failed (or that was unready) for a while: its next
 * delta may span the gap only while the gap is short. Rounds every 15 s (the
 * default syncPeriod). The pod is scraped at t=0 and t=15, then `failed`
 * rounds get no metrics, then it is back with counters that grew by 100
 * fast requests per period plus 50 slow ones (1 s to 2.5 s) at the start of
 * the gap: what a worker records when its device goes down. */
static const struct {
	const char *name;
	int failed;     /* rounds without metrics after t=15 */
	bool valid;     /* the round after the gap has a P99 */
	double p99_min; /* when valid */
	double p99_max;
} stale_rows[] = {
        {"one failed scrape: the delta spans two periods", 1, true, 1.0, 2.5},
        {"two failed scrapes: the sample is too old, the pod starts again", 2, false, 0, 0},
        {"a 60 s outage: no delta across it", 4, false, 0, 0},
};

static void stale_round(autoscale_state_t *st, const autoscale_policy_t *pol, double t,
                        const double *counts, bool has_metrics, autoscale_decision_t *d)
{
	static const double les[4] = {0.1, 1.0, 2.5, INFINITY};
	autoscale_pod_t pod;
	autoscale_input_t in = {0};
	memset(&pod, 0, sizeof(pod));
	pod.name = "w-0";
	pod.phase = AUTOSCALE_POD_RUNNING;
	pod.ready = has_metrics;
	pod.has_start_time = true;
	pod.has_metrics = has_metrics;
	pod.metrics.pool_size = 4;
	pod.metrics.has_latency_sum = true;
	pod.metrics.latency_sum = counts[0] * 0.005 + (counts[2] - counts[1]) * 1.0;
	for (int k = 0; has_metrics && k < 4; k++)
		assert_int_equal(prom_worker_add_bucket(&pod.metrics, les[k], counts[k]), 0);
	in.now = t;
	in.current_replicas = 1;
	in.current_pool_size = 4;
	in.pods = &pod;
	in.npods = 1;
	assert_int_equal(autoscale_decide(pol, st, &in, d), 0);
}

static void test_p99_stale_previous_sample(void **state)
{
	autoscale_policy_t pol;
	const char *kv[] = {BASE, "targetP99Latency", "200ms", "targetPoolOccupancy", "70", NULL};
	(void)state;
	mkpol(kv, &pol);
	for (size_t i = 0; i < sizeof(stale_rows) / sizeof(stale_rows[0]); i++) {
		autoscale_state_t *st = autoscale_state_new();
		autoscale_decision_t d;
		double c[4] = {100, 100, 100, 100};
		double t = 0;
		const autoscale_metric_status_t *m = &d.metrics[AUTOSCALE_M_P99_LATENCY];
		assert_non_null(st);
		stale_round(st, &pol, t, c, true, &d);
		for (int k = 0; k < 4; k++)
			c[k] += 100; /* 100 fast requests */
		t += 15;
		stale_round(st, &pol, t, c, true, &d);
		if (!m->valid || m->value > 0.1)
			fail_msg("row %zu (%s): baseline P99 %g valid %d", i, stale_rows[i].name,
			         m->value, (int)m->valid);
		for (int r = 0; r < stale_rows[i].failed; r++) {
			t += 15;
			stale_round(st, &pol, t, c, false, &d);
		}
		/* the gap: 50 slow requests, then 100 fast ones per period */
		c[0] += 100.0 * (stale_rows[i].failed + 1);
		c[1] += 100.0 * (stale_rows[i].failed + 1);
		c[2] += 100.0 * (stale_rows[i].failed + 1) + 50;
		c[3] += 100.0 * (stale_rows[i].failed + 1) + 50;
		t += 15;
		stale_round(st, &pol, t, c, true, &d);
		if (m->valid != stale_rows[i].valid)
			fail_msg("row %zu (%s): P99 valid %d, want %d (value %g, error %s)", i,
			         stale_rows[i].name, (int)m->valid, (int)stale_rows[i].valid,
			         m->value, m->error);
		if (m->valid &&
		    (m->value < stale_rows[i].p99_min || m->value > stale_rows[i].p99_max))
			fail_msg("row %zu (%s): P99 %g, want %g..%g", i, stale_rows[i].name,
			         m->value, stale_rows[i].p99_min, stale_rows[i].p99_max);
		if (!m->valid) {
			/* no Little's-law average across the gap either: the gauges
			 * (0 in use, 0 waiting) */
			assert_true(d.metrics[AUTOSCALE_M_POOL_OCCUPANCY].valid);
			assert_true(d.metrics[AUTOSCALE_M_POOL_OCCUPANCY].value == 0);
			assert_non_null(strstr(m->error, "needs two samples"));
		}
		/* the next period is measured from the sample after the gap */
		for (int k = 0; k < 4; k++)
			c[k] += 100;
		t += 15;
		stale_round(st, &pol, t, c, true, &d);
		if (!m->valid || m->value > 0.1)
			fail_msg("row %zu (%s): P99 after the gap %g valid %d", i,
			         stale_rows[i].name, m->value, (int)m->valid);
		autoscale_state_free(st);
	}
}

/* ---- Little's law: occupancy from the latency sum ------------------------------ */

static void test_occupancy_littles_law(void **state)
{
	autoscale_policy_t pol;
	const char *kv[] = {BASE, "targetPoolOccupancy", "50", NULL};
	autoscale_state_t *st = autoscale_state_new();
	autoscale_pod_t pod;
	autoscale_input_t in = {0};
	autoscale_decision_t d;
	(void)state;
	mkpol(kv, &pol);
	memset(&pod, 0, sizeof(pod));
	pod.name = "w-0";
	pod.phase = AUTOSCALE_POD_RUNNING;
	pod.ready = true;
	pod.has_metrics = true;
	pod.metrics.pool_size = 4;
	pod.metrics.pool_in_use = 4; /* the gauge at the scrape instant: 100% */
	pod.metrics.has_latency_sum = true;
	pod.metrics.latency_sum = 100;
	in.current_replicas = 1;
	in.current_pool_size = 4;
	in.pods = &pod;
	in.npods = 1;
	/* first sample: only the gauges exist */
	in.now = 0;
	assert_int_equal(autoscale_decide(&pol, st, &in, &d), 0);
	assert_true(d.metrics[AUTOSCALE_M_POOL_OCCUPANCY].value == 100);
	assert_int_equal(d.desired_pool_size, 8);
	/* 30 s of latency over 15 s: 2 requests in the worker on average, 50% of 4 */
	in.now = 15;
	pod.metrics.latency_sum = 130;
	assert_int_equal(autoscale_decide(&pol, st, &in, &d), 0);
	assert_true(d.metrics[AUTOSCALE_M_POOL_OCCUPANCY].value == 50);
	assert_int_equal(d.desired_pool_size, 4);
	/* a restart (sum went down): back to the gauges for this round */
	in.now = 30;
	pod.metrics.latency_sum = 1;
	assert_int_equal(autoscale_decide(&pol, st, &in, &d), 0);
	assert_true(d.metrics[AUTOSCALE_M_POOL_OCCUPANCY].value == 100);
	autoscale_state_free(st);
}

/* ---- noise: steady load with +-20% noise rarely changes replicas ------------- */

static uint64_t rng = 88172645463325252ULL;
static double urand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (double)(rng >> 11) / 9007199254740992.0;
}

static void noise_run(const char *const *kv, bool occupancy, int *changes, int *pool_changes,
                      int rounds)
{
	autoscale_policy_t pol;
	autoscale_state_t *st = autoscale_state_new();
	int32_t R = 4, P = 8;
	const double demand = 4 * 8 * 0.7; /* connections in use at the target, at 4 x 8 */
	mkpol(kv, &pol);
	*changes = *pool_changes = 0;
	for (int k = 0; k < rounds; k++) {
		pod_t ps[64];
		char names[64][16];
		autoscale_pod_t *pods;
		autoscale_input_t in = {0};
		autoscale_decision_t d;
		double load = demand * (1 + 0.2 * (2 * urand() - 1));
		for (int32_t p = 0; p < R; p++) {
			if (occupancy)
				ps[p] = (pod_t){'r', 0, load / R, P, 0, 0, 0};
			else
				ps[p] = (pod_t){'r', load / 2.8 / R, 0, P, 0, 0, 0};
		}
		pods = build_pods(ps, (size_t)R, 15.0 * k, names);
		in.now = 15.0 * k;
		in.current_replicas = R;
		in.current_pool_size = P;
		in.pods = pods;
		in.npods = (size_t)R;
		assert_int_equal(autoscale_decide(&pol, st, &in, &d), 0);
		if (d.rescale) {
			autoscale_commit(&pol, st, &d, R, in.now);
			(*changes)++;
		}
		if (d.repool)
			(*pool_changes)++;
		R = d.desired_replicas;
		P = d.desired_pool_size;
		free(pods);
	}
	autoscale_state_free(st);
}

static void test_noise_rarely_flaps(void **state)
{
	const char *kvq[] = {BASE, Q, NULL};
	const char *kvo[] = {BASE, "targetPoolOccupancy", "70", NULL};
	int ch, pch;
	const int rounds = 960; /* 4 hours at 15 s */
	(void)state;
	noise_run(kvq, false, &ch, &pch, rounds);
	print_message("noise queue_length: %d replica changes in %d rounds (4 h)\n", ch, rounds);
	assert_true(ch <= 8); /* at most 2 per hour */
	noise_run(kvo, true, &ch, &pch, rounds);
	print_message("noise pool tier: %d replica changes, %d pool changes in %d rounds (4 h)\n",
	              ch, pch, rounds);
	assert_true(ch <= 8);
	assert_true(pch <= 48);
	/* the same noise without the dead band and the scale-down window flaps:
	 * the test can tell */
	{
		const char *kvf[] = {BASE, Q, "tolerance", "0", DOWN0, NULL};
		noise_run(kvf, false, &ch, &pch, rounds);
		print_message("noise without tolerance and window: %d replica changes\n", ch);
		assert_true(ch > 50);
	}
}

/* ---- JSON ------------------------------------------------------------------------ */

static void test_decision_json(void **state)
{
	autoscale_policy_t pol;
	const char *kv[] = {BASE, Q, NULL};
	autoscale_state_t *st = autoscale_state_new();
	pod_t ps[] = {R4(4)};
	char names[4][16];
	autoscale_pod_t *pods;
	autoscale_input_t in = {0};
	autoscale_decision_t d;
	char buf[4096], tiny[16];
	size_t n;
	(void)state;
	mkpol(kv, &pol);
	pods = build_pods(ps, 4, 30, names);
	in.now = 30;
	in.current_replicas = 4;
	in.current_pool_size = 8;
	in.pods = pods;
	in.npods = 4;
	assert_int_equal(autoscale_decide(&pol, st, &in, &d), 0);
	n = autoscale_decision_json(&d, 30, 4, 8, buf, sizeof(buf));
	assert_true(n < sizeof(buf));
	assert_non_null(
	        strstr(buf, "{\"t\":30,\"replicas\":4,\"desiredReplicas\":8,\"poolSize\":8,"
	                    "\"desiredPoolSize\":8,\"reason\":\"queue_length 4 above target 2\""));
	assert_non_null(strstr(buf, "\"metrics\":{\"queue_length\":4}"));
	assert_non_null(strstr(buf, "{\"type\":\"ScalingActive\",\"status\":\"True\",\"reason\":"
	                            "\"ValidMetricFound\""));
	n = autoscale_decision_json(&d, 30, 4, 8, tiny, sizeof(tiny));
	assert_true(n >= sizeof(tiny));
	assert_int_equal(strlen(tiny), sizeof(tiny) - 1);
	free(pods);
	autoscale_state_free(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_policy_rows),
	        cmocka_unit_test(test_policy_defaults),
	        cmocka_unit_test(test_policy_behavior_and_tolerances),
	        cmocka_unit_test(test_decision_rows),
	        cmocka_unit_test(test_decision_sequences),
	        cmocka_unit_test(test_fallback_needs_every_metric_failing),
	        cmocka_unit_test(test_starting_pods_do_not_count_for_fallback),
	        cmocka_unit_test(test_cpu_metric_window_readiness),
	        cmocka_unit_test(test_metric_error_from_caller),
	        cmocka_unit_test(test_p99_deltas_and_resets),
	        cmocka_unit_test(test_p99_stale_previous_sample),
	        cmocka_unit_test(test_occupancy_littles_law),
	        cmocka_unit_test(test_noise_rarely_flaps),
	        cmocka_unit_test(test_decision_json),
	};
	return cmocka_run_group_tests_name("autoscale", tests, NULL, NULL);
}

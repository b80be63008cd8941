/* Policy ConfigMap parsing: one base_opt table validates every key and
 * documents it (autoscale_policy_help), then cross-key checks, then the
 * `behavior` YAML block (HPA spec.behavior schema) through libyaml. */
#include "autoscale/autoscale.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "base/opt.h"
#include "kubeapi/quantity.h"

/* Raw values as the table parses them; converted into autoscale_policy_t. */
typedef struct {
	char scale_target_ref[300];
	long long min_replicas, max_replicas;
	long long pool_min, pool_max;
	long long budget;
	double t_occ, t_queue;
	long long t_cpu;
	int64_t t_p99_ms;
	int64_t sync_ms;
	double tol, tol_up, tol_down;
	char behavior[16384];
	long long fb_replicas, fb_threshold;
	bool paused;
	double burst_threshold;
	int64_t burst_window_ms;
	int64_t cpu_init_ms, ready_delay_ms;
} raw_t;

#define F(x) offsetof(raw_t, x), sizeof(((raw_t *)0)->x)

static const base_opt_t policy_table[] = {
        {"scaleTargetRef", BASE_OPT_STRING, F(scale_target_ref), 0, 0, NULL, NULL, NULL,
         "what to scale: Deployment/NAME (or StatefulSet/NAME) in the policy's namespace; "
         "required"},
        {"minReplicas", BASE_OPT_INT, F(min_replicas), 1, 100000, "1", NULL, NULL,
         "lowest replica count"},
        {"maxReplicas", BASE_OPT_INT, F(max_replicas), 1, 100000, NULL, NULL, NULL,
         "highest replica count; required"},
        {"poolMinSize", BASE_OPT_INT, F(pool_min), 1, 65535, "1", NULL, NULL,
         "smallest pool size per pod (device connections)"},
        {"poolMaxSize", BASE_OPT_INT, F(pool_max), 1, 65535, "16", NULL, NULL,
         "largest pool size per pod"},
        {"connectionBudget", BASE_OPT_INT, F(budget), 0, 1e9, "0", NULL, NULL,
         "most device connections over all pods, replicas x poolSize (0 = no limit)"},
        {"targetPoolOccupancy", BASE_OPT_DOUBLE, F(t_occ), 1, 100, NULL, NULL, NULL,
         "percent: (in-use + waiting) / pool size per pod; drives the pool tier"},
        {"targetQueueLength", BASE_OPT_DOUBLE, F(t_queue), 0.001, 1e9, NULL, NULL, NULL,
         "average requests waiting for a connection, per pod"},
        {"targetP99Latency", BASE_OPT_DURATION, F(t_p99_ms), 1, 3600000, NULL, NULL, NULL,
         "P99 request latency over the last sync period, e.g. 500ms"},
        {"targetCPUUtilization", BASE_OPT_INT, F(t_cpu), 1, 1000, NULL, NULL, NULL,
         "percent of the pods' CPU request (metrics.k8s.io)"},
        {"syncPeriod", BASE_OPT_DURATION, F(sync_ms), 100, 3600000, "15s", NULL, NULL,
         "reconcile period"},
        {"tolerance", BASE_OPT_DOUBLE, F(tol), 0, 0.99, "0.1", NULL, NULL,
         "dead band: no change while the usage ratio is within 1 +- tolerance"},
        {"scaleUpTolerance", BASE_OPT_DOUBLE, F(tol_up), 0, 100, NULL, NULL, NULL,
         "dead band above the target (default: tolerance)"},
        {"scaleDownTolerance", BASE_OPT_DOUBLE, F(tol_down), 0, 0.99, NULL, NULL, NULL,
         "dead band below the target (default: tolerance)"},
        {"behavior", BASE_OPT_STRING, F(behavior), 0, 0, NULL, NULL, NULL,
         "YAML, the schema of HPA spec.behavior (scaleUp/scaleDown: stabilizationWindowSeconds, "
         "selectPolicy Max|Min|Disabled, policies [{type Pods|Percent, value, periodSeconds}], "
         "tolerance); HPA defaults when absent"},
        {"fallbackReplicas", BASE_OPT_INT, F(fb_replicas), 0, 100000, NULL, NULL, NULL,
         "replicas to go to after fallbackFailureThreshold failed metric rounds (KEDA style)"},
        {"fallbackFailureThreshold", BASE_OPT_INT, F(fb_threshold), 1, 1000, NULL, NULL, NULL,
         "consecutive failed metric rounds before the fallback (and good rounds to leave it)"},
        {"paused", BASE_OPT_BOOL, F(paused), 0, 0, "false", NULL, NULL,
         "\"true\" freezes replicas and pool size"},
        {"burstThreshold", BASE_OPT_DOUBLE, F(burst_threshold), 0, 1000, "0", NULL, NULL,
         "burst mode (Knative panic): a round at >= this many times a target scales up at once; "
         "0 = off, else >= 1.1"},
        {"burstStableWindow", BASE_OPT_DURATION, F(burst_window_ms), 1000, 3600000, "60s", NULL,
         NULL, "a burst ends after this long without one; no scale-down until then"},
        {"cpuInitializationPeriod", BASE_OPT_DURATION, F(cpu_init_ms), 0, 0, "5m", NULL, NULL,
         "CPU samples of pods younger than this count only when ready (HPA flag)"},
        {"initialReadinessDelay", BASE_OPT_DURATION, F(ready_delay_ms), 0, 0, "30s", NULL, NULL,
         "a pod unready since within this of its start is treated as unready for CPU (HPA flag)"},
        BASE_OPT_END,
};

#define NKEYS (sizeof(policy_table) / sizeof(policy_table[0]) - 1)

const char *autoscale_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
	case AUTOSCALE_EINVAL:
		return "invalid policy or input";
	case AUTOSCALE_ENOMEM:
		return "out of memory";
	}
	return "unknown autoscale error";
}

void autoscale_policy_help(FILE *fp)
{
	base_opt_help(policy_table,
	              "Policy ConfigMap keys (data: KEY: \"VALUE\"; label "
	              "mcp-autoscaler.io/policy=true)",
	              fp);
}

/* err accumulator: "a; b; c" as far as it fits */
typedef struct {
	char *buf;
	size_t cap, len;
	int n;
} errs_t;

static void adderr(errs_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void adderr(errs_t *e, const char *fmt, ...)
{
	va_list ap;
	int w;
	e->n++;
	if (e->buf == NULL || e->cap == 0 || e->len + 1 >= e->cap)
		return;
	if (e->len > 0) {
		w = snprintf(e->buf + e->len, e->cap - e->len, "; ");
		e->len += (size_t)w < e->cap - e->len ? (size_t)w : e->cap - e->len - 1;
	}
	va_start(ap, fmt);
	w = vsnprintf(e->buf + e->len, e->cap - e->len, fmt, ap);
	va_end(ap);
	if (w > 0)
		e->len += (size_t)w < e->cap - e->len ? (size_t)w : e->cap - e->len - 1;
}

/* ---- behavior (libyaml document API) -------------------------------------- */

static void rules_default(autoscale_rules_t *r, bool up)
{
	memset(r, 0, sizeof(*r));
	r->select = AUTOSCALE_SELECT_MAX;
	if (up) {
		/* HPA GenerateHPAScaleUpRules */
		r->stabilization_window_seconds = 0;
		r->npolicies = 2;
		r->policies[0] = (autoscale_rule_t){AUTOSCALE_POLICY_PODS, 4, 15};
		r->policies[1] = (autoscale_rule_t){AUTOSCALE_POLICY_PERCENT, 100, 15};
	} else {
		/* HPA GenerateHPAScaleDownRules + the controller's 5 min window */
		r->stabilization_window_seconds = 300;
		r->npolicies = 1;
		r->policies[0] = (autoscale_rule_t){AUTOSCALE_POLICY_PERCENT, 100, 15};
	}
}

static const char *scalar(yaml_node_t *n)
{
	return (n && n->type == YAML_SCALAR_NODE) ? (const char *)n->data.scalar.value : NULL;
}

static int yaml_int(yaml_node_t *n, long lo, long hi, long *out, const char *path, errs_t *e)
{
	const char *s = scalar(n);
	char *end;
	long v;
	if (s == NULL) {
		adderr(e, "behavior: %s: expected an integer", path);
		return -1;
	}
	errno = 0;
	v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0) {
		adderr(e, "behavior: %s: \"%.40s\" is not an integer", path, s);
		return -1;
	}
	if (v < lo || v > hi) {
		adderr(e, "behavior: %s: %ld is out of range [%ld, %ld]", path, v, lo, hi);
		return -1;
	}
	*out = v;
	return 0;
}

static int parse_rules(yaml_document_t *doc, yaml_node_t *node, autoscale_rules_t *r,
                       const char *dir, errs_t *e)
{
	char path[96];
	int bad = 0;
	if (node->type != YAML_MAPPING_NODE) {
		adderr(e, "behavior: %s: expected a mapping", dir);
		return -1;
	}
	for (yaml_node_pair_t *pr = node->data.mapping.pairs.start;
	     pr < node->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = yaml_document_get_node(doc, pr->key);
		yaml_node_t *v = yaml_document_get_node(doc, pr->value);
		const char *key = scalar(k);
		long lv;
		if (key == NULL) {
			adderr(e, "behavior: %s: keys must be strings", dir);
			bad = -1;
			continue;
		}
		snprintf(path, sizeof(path), "%s.%s", dir, key);
		if (strcmp(key, "stabilizationWindowSeconds") == 0) {
			if (yaml_int(v, 0, 3600, &lv, path, e) == 0)
				r->stabilization_window_seconds = (int32_t)lv;
			else
				bad = -1;
		} else if (strcmp(key, "selectPolicy") == 0) {
			const char *s = scalar(v);
			if (s && strcmp(s, "Max") == 0)
				r->select = AUTOSCALE_SELECT_MAX;
			else if (s && strcmp(s, "Min") == 0)
				r->select = AUTOSCALE_SELECT_MIN;
			else if (s && strcmp(s, "Disabled") == 0)
				r->select = AUTOSCALE_SELECT_DISABLED;
			else {
				adderr(e, "behavior: %s: \"%.40s\" is not one of Max|Min|Disabled",
				       path, s ? s : "(not a scalar)");
				bad = -1;
			}
		} else if (strcmp(key, "tolerance") == 0) {
			const char *s = scalar(v);
			char why[128];
			double t;
			if (s == NULL) {
				adderr(e, "behavior: %s: expected a quantity (\"0.05\", \"50m\")",
				       path);
				bad = -1;
			} else if (kubeapi_quantity_float(s, &t, why, sizeof(why)) != 0) {
				adderr(e, "behavior: %s: %s", path, why);
				bad = -1;
			} else if (t < 0) {
				adderr(e, "behavior: %s: %s is below 0", path, s);
				bad = -1;
			} else {
				r->has_tolerance = true;
				r->tolerance = t;
			}
		} else if (strcmp(key, "policies") == 0) {
			size_t np = 0;
			if (v->type != YAML_SEQUENCE_NODE) {
				adderr(e, "behavior: %s: expected a list", path);
				bad = -1;
				continue;
			}
			for (yaml_node_item_t *it = v->data.sequence.items.start;
			     it < v->data.sequence.items.top; it++) {
				yaml_node_t *pn = yaml_document_get_node(doc, *it);
				autoscale_rule_t rule = {AUTOSCALE_POLICY_PODS, 0, 0};
				bool has_type = false, has_value = false, has_period = false;
				char ppath[128];
				snprintf(ppath, sizeof(ppath), "%s[%zu]", path, np);
				if (np == AUTOSCALE_MAX_RULE_POLICIES) {
					adderr(e, "behavior: %s: at most %d policies", path,
					       AUTOSCALE_MAX_RULE_POLICIES);
					bad = -1;
					break;
				}
				if (pn == NULL || pn->type != YAML_MAPPING_NODE) {
					adderr(e, "behavior: %s: expected a mapping", ppath);
					bad = -1;
					np++;
					continue;
				}
				for (yaml_node_pair_t *q = pn->data.mapping.pairs.start;
				     q < pn->data.mapping.pairs.top; q++) {
					const char *pk =
					        scalar(yaml_document_get_node(doc, q->key));
					yaml_node_t *pv = yaml_document_get_node(doc, q->value);
					char fpath[160];
					snprintf(fpath, sizeof(fpath), "%s.%s", ppath,
					         pk ? pk : "?");
					if (pk && strcmp(pk, "type") == 0) {
						const char *s = scalar(pv);
						has_type = true;
						if (s && strcmp(s, "Pods") == 0)
							rule.type = AUTOSCALE_POLICY_PODS;
						else if (s && strcmp(s, "Percent") == 0)
							rule.type = AUTOSCALE_POLICY_PERCENT;
						else {
							adderr(e,
							       "behavior: %s: \"%.40s\" is not "
							       "Pods or "
							       "Percent",
							       fpath, s ? s : "(not a scalar)");
							bad = -1;
						}
					} else if (pk && strcmp(pk, "value") == 0) {
						has_value = true;
						if (yaml_int(pv, 1, 1000000, &lv, fpath, e) == 0)
							rule.value = (int32_t)lv;
						else
							bad = -1;
					} else if (pk && strcmp(pk, "periodSeconds") == 0) {
						has_period = true;
						if (yaml_int(pv, 1, 1800, &lv, fpath, e) == 0)
							rule.period_seconds = (int32_t)lv;
						else
							bad = -1;
					} else {
						adderr(e, "behavior: %s: unknown field", fpath);
						bad = -1;
					}
				}
				if (!has_type || !has_value || !has_period) {
					adderr(e,
					       "behavior: %s: needs type, value and periodSeconds",
					       ppath);
					bad = -1;
				}
				r->policies[np++] = rule;
			}
			if (np == 0) {
				adderr(e, "behavior: %s: must have at least one policy", path);
				bad = -1;
			}
			r->npolicies = np;
		} else {
			adderr(e, "behavior: %s: unknown field", path);
			bad = -1;
		}
	}
	return bad;
}

static int behavior_parse(const char *text, autoscale_rules_t *up, autoscale_rules_t *down,
                          errs_t *e)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	yaml_node_t *root;
	int bad = 0;

	rules_default(up, true);
	rules_default(down, false);
	if (!yaml_parser_initialize(&parser)) {
		adderr(e, "behavior: out of memory");
		return -1;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, strlen(text));
	if (!yaml_parser_load(&parser, &doc)) {
		adderr(e, "behavior: YAML error at line %zu: %s", parser.problem_mark.line + 1,
		       parser.problem ? parser.problem : "unknown");
		yaml_parser_delete(&parser);
		return -1;
	}
	root = yaml_document_get_root_node(&doc);
	if (root == NULL) {
		/* empty: defaults */
	} else if (root->type != YAML_MAPPING_NODE) {
		adderr(e, "behavior: expected a mapping with scaleUp and/or scaleDown");
		bad = -1;
	} else {
		for (yaml_node_pair_t *pr = root->data.mapping.pairs.start;
		     pr < root->data.mapping.pairs.top; pr++) {
			const char *k = scalar(yaml_document_get_node(&doc, pr->key));
			yaml_node_t *v = yaml_document_get_node(&doc, pr->value);
			if (k && strcmp(k, "scaleUp") == 0) {
				if (parse_rules(&doc, v, up, "scaleUp", e) != 0)
					bad = -1;
			} else if (k && strcmp(k, "scaleDown") == 0) {
				if (parse_rules(&doc, v, down, "scaleDown", e) != 0)
					bad = -1;
			} else {
				adderr(e,
				       "behavior: unknown field \"%.40s\" (scaleUp or scaleDown)",
				       k ? k : "?");
				bad = -1;
			}
		}
	}
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	return bad;
}

int autoscale_behavior_parse(const char *yaml, autoscale_rules_t *up, autoscale_rules_t *down,
                             char *err, size_t errlen)
{
	errs_t e = {err, errlen, 0, 0};
	if (err && errlen)
		err[0] = '\0';
	if (yaml == NULL || up == NULL || down == NULL)
		return AUTOSCALE_EINVAL;
	return behavior_parse(yaml, up, down, &e) == 0 ? 0 : AUTOSCALE_EINVAL;
}

static bool dns_subdomain(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (!alnum && c != '-' && c != '.')
			return false;
		if ((i == 0 || i == n - 1) && !alnum)
			return false;
	}
	return true;
}

int autoscale_policy_parse(const char *const *keys, const char *const *values, size_t n,
                           autoscale_policy_t *pol, char *err, size_t errlen)
{
	raw_t *raw;
	bool seen[NKEYS];
	errs_t e = {err, errlen, 0, 0};
	char why[512];

	if (err && errlen)
		err[0] = '\0';
	if (pol == NULL || (n > 0 && (keys == NULL || values == NULL)))
		return AUTOSCALE_EINVAL;
	memset(pol, 0, sizeof(*pol));
	raw = calloc(1, sizeof(*raw));
	if (raw == NULL)
		return AUTOSCALE_ENOMEM;
	if (base_opt_defaults(policy_table, raw, seen, why, sizeof(why)) != 0)
		adderr(&e, "%s", why); /* a table bug; reported, never silent */
	for (size_t i = 0; i < n; i++) {
		const base_opt_t *o;
		if (keys[i] == NULL || values[i] == NULL) {
			adderr(&e, "entry %zu: NULL key or value", i);
			continue;
		}
		o = base_opt_find(policy_table, keys[i]);
		if (o == NULL) {
			adderr(&e, "%.60s: unknown key (see the policy reference)", keys[i]);
			continue;
		}
		if (seen[o - policy_table]) {
			adderr(&e, "%s: given twice", o->name);
			continue;
		}
		if (base_opt_set(o, raw, values[i], "", why, sizeof(why)) != 0) {
			adderr(&e, "%s", why);
			continue;
		}
		seen[o - policy_table] = true;
	}
#define SEEN(name) seen[base_opt_find(policy_table, name) - policy_table]
	/* scaleTargetRef */
	if (!SEEN("scaleTargetRef")) {
		adderr(&e, "scaleTargetRef: required (Deployment/NAME)");
	} else {
		const char *ref = raw->scale_target_ref;
		const char *slash = strchr(ref, '/');
		size_t kl = slash ? (size_t)(slash - ref) : 0;
		if (slash == NULL || kl == 0 || kl >= sizeof(pol->scale_target_kind)) {
			adderr(&e, "scaleTargetRef: \"%.60s\" is not KIND/NAME", ref);
		} else {
			memcpy(pol->scale_target_kind, ref, kl);
			pol->scale_target_kind[kl] = '\0';
			if (strcmp(pol->scale_target_kind, "Deployment") != 0 &&
			    strcmp(pol->scale_target_kind, "StatefulSet") != 0 &&
			    strcmp(pol->scale_target_kind, "ReplicaSet") != 0)
				adderr(&e,
				       "scaleTargetRef: kind \"%s\" has no /scale we support "
				       "(Deployment, StatefulSet, ReplicaSet)",
				       pol->scale_target_kind);
			if (!dns_subdomain(slash + 1))
				adderr(&e, "scaleTargetRef: \"%.60s\" is not a valid object name",
				       slash + 1);
			else
				snprintf(pol->scale_target_name, sizeof(pol->scale_target_name),
				         "%s", slash + 1);
		}
	}
	if (!SEEN("maxReplicas"))
		adderr(&e, "maxReplicas: required");
	else if (raw->min_replicas > raw->max_replicas)
		adderr(&e, "minReplicas: %lld is above maxReplicas %lld", raw->min_replicas,
		       raw->max_replicas);
	if (raw->pool_min > raw->pool_max)
		adderr(&e, "poolMinSize: %lld is above poolMaxSize %lld", raw->pool_min,
		       raw->pool_max);
	if (raw->budget > 0 && raw->budget < raw->min_replicas * raw->pool_min)
		adderr(&e,
		       "connectionBudget: %lld cannot hold minReplicas x poolMinSize = %lld "
		       "connections",
		       raw->budget, raw->min_replicas * raw->pool_min);
	if (SEEN("fallbackReplicas") != SEEN("fallbackFailureThreshold"))
		adderr(&e, "%s: set together with %s",
		       SEEN("fallbackReplicas") ? "fallbackReplicas" : "fallbackFailureThreshold",
		       SEEN("fallbackReplicas") ? "fallbackFailureThreshold" : "fallbackReplicas");
	else if (SEEN("fallbackReplicas") && SEEN("maxReplicas") &&
	         (raw->fb_replicas < raw->min_replicas || raw->fb_replicas > raw->max_replicas))
		adderr(&e, "fallbackReplicas: %lld is outside [minReplicas %lld, maxReplicas %lld]",
		       raw->fb_replicas, raw->min_replicas, raw->max_replicas);
	if (raw->burst_threshold != 0 && raw->burst_threshold < 1.1)
		adderr(&e, "burstThreshold: %g must be 0 (off) or at least 1.1",
		       raw->burst_threshold);

	pol->min_replicas = (int32_t)raw->min_replicas;
	pol->max_replicas = (int32_t)raw->max_replicas;
	pol->pool_min_size = (int32_t)raw->pool_min;
	pol->pool_max_size = (int32_t)raw->pool_max;
	pol->connection_budget = raw->budget;
	pol->has_target[AUTOSCALE_M_POOL_OCCUPANCY] = SEEN("targetPoolOccupancy");
	pol->target[AUTOSCALE_M_POOL_OCCUPANCY] = raw->t_occ;
	pol->has_target[AUTOSCALE_M_QUEUE_LENGTH] = SEEN("targetQueueLength");
	pol->target[AUTOSCALE_M_QUEUE_LENGTH] = raw->t_queue;
	pol->has_target[AUTOSCALE_M_P99_LATENCY] = SEEN("targetP99Latency");
	pol->target[AUTOSCALE_M_P99_LATENCY] = (double)raw->t_p99_ms / 1000.0;
	pol->has_target[AUTOSCALE_M_CPU_UTILIZATION] = SEEN("targetCPUUtilization");
	pol->target[AUTOSCALE_M_CPU_UTILIZATION] = (double)raw->t_cpu;
	{
		bool any = false;
		for (int m = 0; m < AUTOSCALE_M_COUNT; m++)
			any = any || pol->has_target[m];
		if (!any) {
			/* As the HPA falls back to 80% CPU. */
			pol->has_target[AUTOSCALE_M_POOL_OCCUPANCY] = true;
			pol->target[AUTOSCALE_M_POOL_OCCUPANCY] = 70;
		}
	}
	pol->sync_period_ms = raw->sync_ms;
	pol->scale_up_tolerance = SEEN("scaleUpTolerance") ? raw->tol_up : raw->tol;
	pol->scale_down_tolerance = SEEN("scaleDownTolerance") ? raw->tol_down : raw->tol;
	pol->has_behavior = SEEN("behavior");
	if (pol->has_behavior) {
		if (behavior_parse(raw->behavior, &pol->scale_up, &pol->scale_down, &e) == 0) {
			if (pol->scale_up.has_tolerance)
				pol->scale_up_tolerance = pol->scale_up.tolerance;
			if (pol->scale_down.has_tolerance) {
				if (pol->scale_down.tolerance >= 1)
					adderr(&e,
					       "behavior: scaleDown.tolerance: %g must be below 1",
					       pol->scale_down.tolerance);
				pol->scale_down_tolerance = pol->scale_down.tolerance;
			}
		}
	} else {
		rules_default(&pol->scale_up, true);
		rules_default(&pol->scale_down, false);
	}
	pol->fallback_replicas = (int32_t)raw->fb_replicas;
	pol->fallback_failure_threshold =
	        SEEN("fallbackFailureThreshold") ? (int32_t)raw->fb_threshold : 0;
	pol->paused = raw->paused;
	pol->burst_threshold = raw->burst_threshold;
	pol->burst_stable_window_ms = raw->burst_window_ms;
	pol->cpu_initialization_period_ms = raw->cpu_init_ms;
	pol->initial_readiness_delay_ms = raw->ready_delay_ms;
#undef SEEN
	free(raw);
	return e.n == 0 ? 0 : AUTOSCALE_EINVAL;
}

#include "ctl.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apply.h"
#include "autoscale/autoscale.h"
#include "base/clock.h"
#include "base/log.h"
#include "cache.h"
#include "cpu.h"
#include "kube/objects.h"
#include "leader.h"
#include "scrape.h"

#define BACKOFF_MIN_MS    1000
#define BACKOFF_MAX_MS    60000
#define CONFLICT_RETRIES  3
#define CACHE_WAIT_MS     100
#define CACHE_WAIT_MAX_MS 10000
#define SHUTDOWN_WAIT_MS  5000
#define WARN_KEYS         8
/* a metric failing this many syncs in a row gets a Warning Event (one
 * round is the normal start of P99 and CPU: no deltas, no window yet) */
#define METRIC_EVENT_STREAK 2

/* metrics.k8s.io/v1beta1 PodMetrics, as the HPA's resource metrics client reads them */
static const kube_resource_t RES_PODMETRICS = {"metrics.k8s.io", "v1beta1", "pods", "PodMetrics",
                                               true};

typedef enum {
	ST_IDLE = 0,
	ST_GET_SCALE,
	ST_WAIT_PODS,
	ST_GET_POOL,
	ST_SCRAPE,
	ST_WRITE,
	ST_STATUS,
} step_t;

typedef struct policy policy_t;

struct ctl {
	kube_loop_t *loop;
	kube_client_t *client;
	kube_client_t *lclient; /* leader election: own limiter, short timeouts */
	kube_client_t *mclient; /* metrics.k8s.io: no retries (one try per sync, as the HPA) */
	ctl_metrics_t *metrics;
	ctl_opts_t o;
	char ns[254], le_id[256], le_ns[254], le_name[254];
	ctl_cache_t *policies_cache;
	ctl_leader_t *leader;
	policy_t *policies;
	int npolicies;
	atomic_bool ready;
	atomic_llong heartbeat;
	kube_timer_t *hb_timer;
	kube_timer_t *stop_timer;
	bool stopping;
	void (*stop_done)(void *);
	void *stop_arg;
	unsigned long syncs;
	double last_now; /* decision clock never goes backwards */
};

struct policy {
	policy_t *next;
	ctl_t *c;
	char ns[254], name[254], uid[64];
	char key[512]; /* "ns/name" for log lines */
	char *data;    /* the data map as printed: detects real changes */
	bool has_sync_key;
	bool valid;
	char err[1024];
	autoscale_policy_t pol;
	autoscale_state_t *st;
	ctl_cache_t *pods;
	kube_timer_t *timer;
	kube_call_t *call;
	ctl_scrape_t *scrape;
	kube_call_t *pm_call; /* the PodMetrics list of this sync */
	bool scrape_pending, pm_pending;
	step_t step;
	bool resync; /* a change arrived during a chain: sync again at once */
	int64_t backoff_ms;
	int conflicts;
	int64_t t0_ms, wait_start_ms;
	/* this sync */
	int32_t replicas;
	char scale_rv[64];
	char target_uid[64];
	bool pool_exists;
	int32_t pool;
	ctl_pod_t *podv;
	size_t npods;
	autoscale_decision_t d;
	ctl_plan_t plan;
	int wi; /* next write of plan */
	double now;
	int32_t pods_with_metrics;
	ctl_cpu_sample_t *cpu; /* PodMetrics samples, sorted by pod name */
	size_t ncpu;
	char cpu_err[512]; /* why the CPU metric could not be had this sync */
	/* across syncs */
	bool has_expected;
	int32_t expected_replicas;
	double last_scale_time;
	char *last_status;
	/* Warnings (hash of reason and message) emitted and still standing, and
	 * those raised during this sync: a condition that persists across
	 * syncs does not flood the Events, one that went away may warn again. */
	uint64_t warn_seen[WARN_KEYS], warn_now[WARN_KEYS];
	int nwarn_seen, nwarn_now;
	int fail_streak[AUTOSCALE_M_COUNT]; /* syncs in a row each metric failed */
	char sync_error[600];
	const char *sync_error_reason;
};

static void sync_start(policy_t *p);
static void sync_step_pool(policy_t *p);
static void write_next(policy_t *p);
static void finish(policy_t *p, bool ok);
static void maybe_shutdown_done(ctl_t *c);

/* ---- helpers ------------------------------------------------------------------ */

static bool may_write(ctl_t *c)
{
	return !c->o.leader_elect || ctl_leader_leading(c->leader);
}

static const char *verb_of(kube_verb_t v)
{
	static const char *const n[] = {"get", "list", "create", "update", "patch", "delete"};
	return (unsigned)v < 6 ? n[v] : "other";
}

static void count(ctl_t *c, kube_verb_t v, const kube_result_t *res)
{
	ctl_metrics_api(c->metrics, verb_of(v), res->http_status);
}

static double wall_s(void)
{
	return (double)base_wall_ms() / 1000.0;
}

static void on_event_done(kube_result_t *res, void *arg)
{
	ctl_t *c = arg;
	count(c, KUBE_CREATE, res);
	if (res->err != 0)
		base_log(BASE_LOG_WARN, "event_failed", "error", res->errmsg, (char *)NULL);
}

/* Creates an Event, events.k8s.io/v1 with pkg/kube's core/v1 fallback (fire and
 * forget: its outcome only counts). */
static void emit_event(ctl_t *c, const char *ns, const char *api_version, const char *kind,
                       const char *name, const char *uid, bool warning, const char *reason,
                       const char *message)
{
	if (c->o.dry_run || !may_write(c))
		return;
	kube_event_t ev = {
	        .ns = ns,
	        .kind = kind,
	        .api_version = api_version,
	        .name = name,
	        .uid = uid,
	        .type = warning ? "Warning" : "Normal",
	        .reason = reason,
	        .note = message,
	        .action = reason,
	        .reporting_controller = "mcp-autoscaler.io/controller",
	        .reporting_instance = c->le_id,
	};
	if (kube_event_create(c->client, &ev, on_event_done, c, NULL) == 0)
		ctl_metrics_write(c->metrics, "event");
}

static void policy_event(policy_t *p, bool warning, const char *reason, const char *msg,
                         bool also_target)
{
	emit_event(p->c, p->ns, "v1", "ConfigMap", p->name, p->uid, warning, reason, msg);
	if (also_target && p->valid && p->pol.scale_target_name[0])
		emit_event(p->c, p->ns, "apps/v1", "Deployment", p->pol.scale_target_name,
		           p->target_uid, warning, reason, msg);
}

static uint64_t fnv1a(uint64_t h, const char *s)
{
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static bool has_key(const uint64_t *v, int n, uint64_t k)
{
	for (int i = 0; i < n; i++)
		if (v[i] == k)
			return true;
	return false;
}

/* A warning is emitted once per distinct (reason, message) while it stands
 * (see warn_seen). Returns true when an Event was emitted now. */
static bool warn_once(policy_t *p, const char *reason, const char *msg, bool also_target)
{
	uint64_t k = fnv1a(fnv1a(14695981039346656037ull, reason), msg);
	if (!has_key(p->warn_now, p->nwarn_now, k) && p->nwarn_now < WARN_KEYS)
		p->warn_now[p->nwarn_now++] = k;
	if (has_key(p->warn_seen, p->nwarn_seen, k) || !may_write(p->c))
		return false;
	if (p->nwarn_seen == WARN_KEYS) {
		memmove(p->warn_seen, p->warn_seen + 1, (WARN_KEYS - 1) * sizeof(uint64_t));
		p->nwarn_seen--;
	}
	p->warn_seen[p->nwarn_seen++] = k;
	policy_event(p, true, reason, msg, also_target);
	return true;
}

static void forget_warnings(policy_t *p)
{
	p->nwarn_seen = p->nwarn_now = 0;
}

static int64_t period_ms(const policy_t *p)
{
	if (p->valid && p->has_sync_key && p->pol.sync_period_ms > 0)
		return p->pol.sync_period_ms;
	return p->c->o.sync_period_ms > 0 ? p->c->o.sync_period_ms : 15000;
}

static void cancel_work(policy_t *p)
{
	kube_loop_timer_cancel(p->c->loop, p->timer);
	p->timer = NULL;
	kube_call_cancel(p->call);
	p->call = NULL;
	ctl_scrape_free(p->scrape);
	p->scrape = NULL;
	kube_call_cancel(p->pm_call);
	p->pm_call = NULL;
	p->scrape_pending = p->pm_pending = false;
	free(p->cpu);
	p->cpu = NULL;
	p->ncpu = 0;
	p->step = ST_IDLE;
}

static int64_t sync_timer(kube_loop_t *loop, void *arg)
{
	(void)loop;
	policy_t *p = arg;
	p->timer = NULL;
	p->conflicts = 0;
	sync_start(p);
	return -1;
}

static void schedule(policy_t *p, int64_t delay_ms)
{
	kube_loop_timer_cancel(p->c->loop, p->timer);
	p->timer = kube_loop_timer_add(p->c->loop, delay_ms, sync_timer, p);
}

/* ---- status annotation ------------------------------------------------------- */

static void on_status(kube_result_t *res, void *arg)
{
	policy_t *p = arg;
	p->call = NULL;
	count(p->c, KUBE_PATCH, res);
	if (res->err != 0) {
		base_log(BASE_LOG_WARN, "status_failed", "policy", p->key, "error", res->errmsg,
		         (char *)NULL);
		free(p->last_status);
		p->last_status = NULL;
	}
	p->step = ST_IDLE;
	finish(p, p->valid && p->sync_error[0] == '\0');
}

/* Writes the status annotation when it differs from the last one written,
 * then finishes the sync. */
static void write_status(policy_t *p, bool has_decision)
{
	ctl_status_t s = {0};
	s.valid = p->valid;
	s.error = p->valid ? p->sync_error : p->err;
	s.error_reason = p->valid ? p->sync_error_reason : "InvalidPolicy";
	s.has_decision = has_decision;
	s.d = &p->d;
	s.current_replicas = p->replicas;
	s.current_pool = p->pool;
	s.pods = (int32_t)p->npods;
	s.pods_with_metrics = p->pods_with_metrics;
	s.last_scale_time = p->last_scale_time;
	/* lastSyncTime is left out of the comparison: it alone never causes a write. */
	char *cmp = ctl_status_json(&s);
	s.sync_time = wall_s();
	char *js = ctl_status_json(&s);
	if (!cmp || !js || (p->last_status && strcmp(cmp, p->last_status) == 0) ||
	    p->c->o.dry_run || !may_write(p->c) || p->c->stopping) {
		free(cmp);
		free(js);
		finish(p, p->valid && p->sync_error[0] == '\0');
		return;
	}
	free(p->last_status);
	p->last_status = cmp;
	p->step = ST_STATUS;
	if (kube_patch_annotation(p->c->client, &KUBE_RES_CONFIGMAPS, p->ns, p->name,
	                          CTL_STATUS_ANNOTATION, js, on_status, p, &p->call) != 0) {
		p->call = NULL;
		p->step = ST_IDLE;
		finish(p, false);
	} else {
		ctl_metrics_write(p->c->metrics, "status");
	}
	free(js);
}

/* ---- sync end ------------------------------------------------------------------ */

static void finish(policy_t *p, bool ok)
{
	ctl_t *c = p->c;
	p->step = ST_IDLE;
	c->syncs++;
	ctl_metrics_reconcile(c->metrics, (double)(kube_loop_now_ms(c->loop) - p->t0_ms) / 1000.0);
	if (c->stopping) {
		maybe_shutdown_done(c);
		return;
	}
	if (ok) {
		p->backoff_ms = BACKOFF_MIN_MS;
		/* what was not raised again this sync no longer stands */
		memcpy(p->warn_seen, p->warn_now, sizeof(p->warn_seen));
		p->nwarn_seen = p->nwarn_now;
	}
	if (p->resync) {
		p->resync = false;
		schedule(p, 0);
		return;
	}
	if (ok) {
		/* Fixed rate from the sync's start, as a ticker: a load step
		 * waits at most one period for the next scrape, however long
		 * this sync took (writes, 409 re-reads). An overrun starts the
		 * next sync at once. */
		int64_t d = p->t0_ms + period_ms(p) - kube_loop_now_ms(c->loop);
		schedule(p, d > 0 ? d : 0);
		return;
	}
	int64_t d = p->backoff_ms;
	if (d > period_ms(p))
		d = period_ms(p) > BACKOFF_MIN_MS ? period_ms(p) : BACKOFF_MIN_MS;
	schedule(p, d);
	p->backoff_ms *= 2;
	if (p->backoff_ms > BACKOFF_MAX_MS)
		p->backoff_ms = BACKOFF_MAX_MS;
}

/* A sync that failed before deciding: report, write status, back off. */
static void fail_sync(policy_t *p, const char *reason, bool event, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static void fail_sync(policy_t *p, const char *reason, bool event, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->sync_error, sizeof(p->sync_error), fmt, ap);
	va_end(ap);
	p->sync_error_reason = reason;
	base_log(BASE_LOG_WARN, NULL, "policy", p->key, "event", "sync_failed", "reason", reason,
	         "error", p->sync_error, (char *)NULL);
	if (event)
		warn_once(p, reason, p->sync_error, false);
	write_status(p, false);
}

/* ---- writes ---------------------------------------------------------------------- */

static void log_decision(policy_t *p, const char *event, base_log_level_t lvl, const char *extra_k,
                         const char *extra_v)
{
	char rep[40], pool[40];
	snprintf(rep, sizeof(rep), "%d->%d", (int)p->plan.from_replicas, (int)p->plan.replicas);
	snprintf(pool, sizeof(pool), "%d->%d", (int)p->pool, (int)p->plan.pool_size);
	base_log(lvl, NULL, "policy", p->key, "event", event, "replicas", rep, "pool", pool,
	         "reason", p->d.reason, extra_k, extra_v, (char *)NULL);
}

static void write_failed(policy_t *p, const char *what, const kube_result_t *res)
{
	char msg[600];
	snprintf(msg, sizeof(msg), "failed to %s: %s", what, res->errmsg);
	snprintf(p->sync_error, sizeof(p->sync_error), "%s", msg);
	p->sync_error_reason = "FailedRescale";
	log_decision(p, "scale_failed", BASE_LOG_ERROR, "error", res->errmsg);
	warn_once(p, "FailedRescale", msg, true);
	ctl_metrics_decision(p->c->metrics, "failed");
	write_status(p, true);
}

static void on_scale_write(kube_result_t *res, void *arg)
{
	policy_t *p = arg;
	p->call = NULL;
	count(p->c, KUBE_PATCH, res);
	if (res->err == KUBE_EAPI && res->status.code == 409 && !p->c->stopping &&
	    p->conflicts < CONFLICT_RETRIES) {
		/* Someone else wrote /scale since we read it: re-read, re-decide. */
		p->conflicts++;
		base_log(BASE_LOG_INFO, NULL, "policy", p->key, "event", "scale_conflict", "error",
		         res->errmsg, (char *)NULL);
		p->step = ST_IDLE;
		sync_start(p);
		return;
	}
	if (res->err != 0) {
		write_failed(p, "patch the scale subresource", res);
		return;
	}
	ctl_metrics_write(p->c->metrics, "scale");
	if (!p->c->o.dry_run) {
		autoscale_commit(&p->pol, p->st, &p->d, p->replicas, p->now);
		p->has_expected = true;
		p->expected_replicas = p->plan.replicas;
		p->last_scale_time = wall_s();
	}
	char msg[512];
	snprintf(msg, sizeof(msg), "New size: %d; reason: %s", (int)p->plan.replicas, p->d.reason);
	policy_event(p, false, "SuccessfulRescale", msg, true);
	write_next(p);
}

static void on_pool_write(kube_result_t *res, void *arg)
{
	policy_t *p = arg;
	p->call = NULL;
	count(p->c, p->plan.pool_create ? KUBE_CREATE : KUBE_PATCH, res);
	if (res->err == KUBE_EAPI && res->status.code == 409 && p->plan.pool_create) {
		/* Created meanwhile (another writer, or a create we retried): patch it. */
		p->plan.pool_create = false;
		p->wi--;
		write_next(p);
		return;
	}
	if (res->err == KUBE_EAPI && res->status.code == 404 && !p->plan.pool_create) {
		p->plan.pool_create = true;
		p->wi--;
		write_next(p);
		return;
	}
	if (res->err != 0) {
		write_failed(p, "write the pool ConfigMap", res);
		return;
	}
	ctl_metrics_write(p->c->metrics, "pool");
	char msg[512];
	snprintf(msg, sizeof(msg), "Pool size: %d (was %d); reason: %s", (int)p->plan.pool_size,
	         (int)p->pool, p->d.reason);
	policy_event(p, false, "PoolResized", msg, true);
	write_next(p);
}

static char *pool_body(policy_t *p, bool create)
{
	char n[16];
	snprintf(n, sizeof(n), "%d", (int)p->plan.pool_size);
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	if (create) {
		char name[300];
		snprintf(name, sizeof(name), "%s-pool", p->name);
		cJSON_AddStringToObject(o, "apiVersion", "v1");
		cJSON_AddStringToObject(o, "kind", "ConfigMap");
		cJSON *m = cJSON_AddObjectToObject(o, "metadata");
		cJSON_AddStringToObject(m, "name", name);
		cJSON_AddStringToObject(m, "namespace", p->ns);
		cJSON *l = cJSON_AddObjectToObject(m, "labels");
		cJSON_AddStringToObject(l, "app.kubernetes.io/managed-by", "mcp-autoscaler");
		cJSON *refs = cJSON_AddArrayToObject(m, "ownerReferences");
		cJSON *r = cJSON_CreateObject();
		cJSON_AddStringToObject(r, "apiVersion", "v1");
		cJSON_AddStringToObject(r, "kind", "ConfigMap");
		cJSON_AddStringToObject(r, "name", p->name);
		cJSON_AddStringToObject(r, "uid", p->uid);
		cJSON_AddBoolToObject(r, "controller", true);
		cJSON_AddItemToArray(refs, r);
	}
	cJSON *d = cJSON_AddObjectToObject(o, "data");
	cJSON_AddStringToObject(d, "poolSize", n);
	char *s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}

static void write_next(policy_t *p)
{
	ctl_t *c = p->c;
	if (p->wi >= p->plan.nwrites) {
		/* All applied: the decision line, then the status. */
		if (p->plan.nwrites > 0) {
			bool sc = false;
			for (int i = 0; i < p->plan.nwrites; i++)
				sc |= p->plan.writes[i] == CTL_WRITE_SCALE;
			log_decision(p, sc ? "scale" : "pool_resize", BASE_LOG_INFO,
			             c->o.dry_run ? "dry_run" : NULL, "true");
			p->replicas = p->plan.replicas;
			p->pool = p->plan.pool_size;
		}
		write_status(p, true);
		return;
	}
	if (c->stopping || !may_write(c)) {
		p->step = ST_IDLE;
		finish(p, false);
		return;
	}
	ctl_write_t w = p->plan.writes[p->wi++];
	p->step = ST_WRITE;
	int rc;
	kube_req_t r = {0};
	r.res = w == CTL_WRITE_SCALE ? &KUBE_RES_DEPLOYMENTS : &KUBE_RES_CONFIGMAPS;
	r.ns = p->ns;
	r.dry_run = c->o.dry_run;
	char name[300];
	char *body = NULL;
	if (w == CTL_WRITE_SCALE) {
		cJSON *o = cJSON_CreateObject();
		cJSON *m = cJSON_AddObjectToObject(o, "metadata");
		cJSON_AddStringToObject(m, "resourceVersion", p->scale_rv);
		cJSON *s = cJSON_AddObjectToObject(o, "spec");
		cJSON_AddNumberToObject(s, "replicas", p->plan.replicas);
		body = cJSON_PrintUnformatted(o);
		cJSON_Delete(o);
		r.verb = KUBE_PATCH;
		r.name = p->pol.scale_target_name;
		r.subresource = "scale";
		r.patch_type = KUBE_PATCH_MERGE;
	} else {
		snprintf(name, sizeof(name), "%s-pool", p->name);
		body = pool_body(p, p->plan.pool_create);
		r.verb = p->plan.pool_create ? KUBE_CREATE : KUBE_PATCH;
		r.name = p->plan.pool_create ? NULL : name;
		r.patch_type = KUBE_PATCH_MERGE;
	}
	if (!body) {
		p->step = ST_IDLE;
		finish(p, false);
		return;
	}
	r.body = body;
	rc = kube_do(c->client, &r, w == CTL_WRITE_SCALE ? on_scale_write : on_pool_write, p,
	             &p->call);
	free(body);
	if (rc != 0) {
		p->call = NULL;
		p->step = ST_IDLE;
		finish(p, false);
	}
}

/* ---- decide ------------------------------------------------------------------------ */

static const char *decision_kind(const ctl_plan_t *pl)
{
	return pl->kind;
}

static bool wants_scrape(const autoscale_policy_t *pol)
{
	return pol->has_target[AUTOSCALE_M_POOL_OCCUPANCY] ||
	       pol->has_target[AUTOSCALE_M_QUEUE_LENGTH] ||
	       pol->has_target[AUTOSCALE_M_P99_LATENCY];
}

static bool wants_cpu(const autoscale_policy_t *pol)
{
	return pol->has_target[AUTOSCALE_M_CPU_UTILIZATION];
}

/* HPA's event reasons for a metric it could not compute. */
static const char *metric_failed_reason(autoscale_metric_t m)
{
	return m == AUTOSCALE_M_CPU_UTILIZATION ? "FailedGetResourceMetric" : "FailedGetPodsMetric";
}

/* Warns about metrics that failed METRIC_EVENT_STREAK syncs in a row. */
static void report_failed_metrics(policy_t *p)
{
	for (int m = 0; m < AUTOSCALE_M_COUNT; m++) {
		const autoscale_metric_status_t *ms = &p->d.metrics[m];
		if (!ms->configured || ms->valid) {
			p->fail_streak[m] = 0;
			continue;
		}
		if (++p->fail_streak[m] < METRIC_EVENT_STREAK)
			continue;
		char msg[512];
		snprintf(msg, sizeof(msg), "failed to get %s: %s",
		         autoscale_metric_name((autoscale_metric_t)m), ms->error);
		if (warn_once(p, metric_failed_reason((autoscale_metric_t)m), msg, true))
			base_log(BASE_LOG_WARN, NULL, "policy", p->key, "event", "metric_failed",
			         "metric", autoscale_metric_name((autoscale_metric_t)m), "reason",
			         metric_failed_reason((autoscale_metric_t)m), "error", ms->error,
			         (char *)NULL);
	}
}

/* Both halves of the metrics (scrapes, PodMetrics) are in: decide and apply. */
static void decide(policy_t *p)
{
	ctl_t *c = p->c;
	size_t nres = 0, failures = 0;
	const ctl_scrape_result_t *res = p->scrape ? ctl_scrape_results(p->scrape, &nres) : NULL;
	autoscale_pod_t *in = calloc(p->npods ? p->npods : 1, sizeof(*in));
	if (!in) {
		fail_sync(p, "FailedGetMetrics", false, "out of memory");
		return;
	}
	ctl_scrape_build_input(p->podv, p->npods, res, nres, in);
	if (wants_cpu(&p->pol) && !p->cpu_err[0])
		ctl_cpu_apply(p->podv, p->npods, p->cpu, p->ncpu, in);
	p->pods_with_metrics = 0;
	for (size_t i = 0; i < p->npods; i++)
		p->pods_with_metrics += in[i].has_metrics || in[i].metrics.has_cpu;
	char first_err[256] = "";
	if (p->scrape)
		failures = ctl_scrape_failures(p->scrape);
	for (size_t i = 0; i < nres; i++) {
		if (res[i].kind != CTL_SCRAPE_OK) {
			snprintf(first_err, sizeof(first_err), "%s", res[i].error);
			break;
		}
	}
	if (p->pool <= 0) {
		/* No pool ConfigMap yet: start from what the workers run. */
		p->pool = p->pol.pool_min_size;
		for (size_t i = 0; i < p->npods; i++) {
			if (in[i].has_metrics && in[i].metrics.pool_size > 0) {
				p->pool = (int32_t)in[i].metrics.pool_size;
				break;
			}
		}
	}

	double now = wall_s();
	if (now < c->last_now)
		now = c->last_now;
	c->last_now = now;
	p->now = now;
	autoscale_input_t ai = {0};
	ai.now = now;
	ai.current_replicas = p->replicas;
	ai.current_pool_size = p->pool;
	ai.pods = in;
	ai.npods = p->npods;
	if (p->cpu_err[0])
		ai.metric_error[AUTOSCALE_M_CPU_UTILIZATION] = p->cpu_err;
	int rc = autoscale_decide(&p->pol, p->st, &ai, &p->d);
	free(in);
	ctl_scrape_free(p->scrape);
	p->scrape = NULL;
	free(p->cpu);
	p->cpu = NULL;
	p->ncpu = 0;
	if (rc != 0) {
		fail_sync(p, "FailedComputeMetricsReplicas", true, "decision failed: %s",
		          autoscale_strerror(rc));
		return;
	}
	if (failures > 0) {
		char msg[512];
		snprintf(msg, sizeof(msg), "%zu of %zu pod scrapes failed (first: %s)", failures,
		         nres, first_err);
		base_log(BASE_LOG_WARN, NULL, "policy", p->key, "event", "scrape_failed", "detail",
		         msg, (char *)NULL);
		warn_once(p, "FailedGetMetrics", msg, true);
	}
	report_failed_metrics(p);
	ctl_plan_make(&p->pol, &p->d, p->replicas, p->pool_exists, p->pool, &p->plan);
	ctl_metrics_decision(c->metrics, decision_kind(&p->plan));
	if (p->plan.nwrites == 0)
		log_decision(p, "hold", BASE_LOG_DEBUG, NULL, NULL);
	p->wi = 0;
	write_next(p);
}

static void maybe_decide(policy_t *p)
{
	if (!p->scrape_pending && !p->pm_pending)
		decide(p);
}

static void on_scraped(ctl_scrape_t *s, void *arg)
{
	(void)s;
	policy_t *p = arg;
	p->scrape_pending = false;
	maybe_decide(p);
}

static void on_podmetrics(kube_result_t *res, void *arg)
{
	policy_t *p = arg;
	char err[300];
	p->pm_call = NULL;
	p->pm_pending = false;
	count(p->c, KUBE_LIST, res);
	if (res->err != 0)
		snprintf(p->cpu_err, sizeof(p->cpu_err),
		         "unable to get metrics for resource cpu: unable to fetch metrics from "
		         "resource metrics API: %.300s",
		         res->errmsg);
	else if (ctl_podmetrics_parse(res->obj, &p->cpu, &p->ncpu, err, sizeof(err)) != 0)
		snprintf(p->cpu_err, sizeof(p->cpu_err),
		         "unable to get metrics for resource cpu: %s", err);
	maybe_decide(p);
}

/* Lists the target's PodMetrics (metrics.k8s.io/v1beta1, the Deployment's
 * selector); on_podmetrics joins the scrapes. */
static void start_podmetrics(policy_t *p)
{
	ctl_t *c = p->c;
	kube_list_opts_t lo = {0};
	lo.label_selector = ctl_cache_selector(p->pods);
	kube_req_t r = {0};
	r.verb = KUBE_LIST;
	r.res = &RES_PODMETRICS;
	r.ns = p->ns;
	r.list = &lo;
	if (kube_do(c->mclient, &r, on_podmetrics, p, &p->pm_call) != 0) {
		p->pm_call = NULL;
		snprintf(p->cpu_err, sizeof(p->cpu_err),
		         "unable to get metrics for resource cpu: cannot start the request");
		return;
	}
	p->pm_pending = true;
}

typedef struct {
	policy_t *p;
	char **urls;
	size_t nurls, cap;
	bool scrape, cpu;
} collect_t;

static void collect_pod(const cJSON *obj, void *arg)
{
	collect_t *k = arg;
	policy_t *p = k->p;
	if (p->npods >= k->cap)
		return;
	ctl_pod_t *pd = &p->podv[p->npods];
	if (ctl_pod_parse(obj, pd) != 0)
		return;
	p->npods++;
	if (k->cpu) {
		/* HPA: every pod of the selector needs a request, whatever its state */
		char err[300];
		if (ctl_pod_cpu_request(obj, &pd->cpu_request_milli, err, sizeof(err)) != 0 &&
		    !p->cpu_err[0])
			snprintf(p->cpu_err, sizeof(p->cpu_err), "%s", err);
	}
	if (!k->scrape || !ctl_pod_scrapable(pd))
		return;
	char url[160];
	bool v6 = strchr(pd->ip, ':') != NULL;
	snprintf(url, sizeof(url), "http://%s%s%s:%d/metrics", v6 ? "[" : "", pd->ip, v6 ? "]" : "",
	         p->c->o.metrics_port);
	k->urls[k->nurls] = strdup(url);
	if (k->urls[k->nurls])
		k->nurls++;
	else
		pd->ip[0] = '\0'; /* not scrapable: keeps pods and results aligned */
}

/* Reads the metrics of one sync, concurrently: the workers' /metrics (when
 * a scraped metric is targeted) and the PodMetrics (when CPU is). */
static void start_scrape(policy_t *p)
{
	ctl_t *c = p->c;
	free(p->podv);
	p->podv = NULL;
	p->npods = 0;
	p->cpu_err[0] = '\0';
	size_t n = ctl_cache_len(p->pods);
	collect_t k = {p, NULL, 0, n, wants_scrape(&p->pol), wants_cpu(&p->pol)};
	p->podv = calloc(n ? n : 1, sizeof(*p->podv));
	k.urls = calloc(n ? n : 1, sizeof(char *));
	if (!p->podv || !k.urls) {
		free(k.urls);
		fail_sync(p, "FailedGetMetrics", false, "out of memory");
		return;
	}
	ctl_cache_foreach(p->pods, collect_pod, &k);
	p->step = ST_SCRAPE;
	if (k.scrape) {
		ctl_scrape_opts_t so = {c->o.scrape_timeout_ms, c->o.scrape_max_bytes,
		                        c->o.scrape_concurrency};
		p->scrape = ctl_scrape_start(c->loop, (const char *const *)k.urls, k.nurls, &so,
		                             c->metrics, on_scraped, p);
		p->scrape_pending = p->scrape != NULL;
	}
	for (size_t i = 0; i < k.nurls; i++)
		free(k.urls[i]);
	free(k.urls);
	if (k.scrape && !p->scrape) {
		fail_sync(p, "FailedGetMetrics", false, "out of memory");
		return;
	}
	/* a pod without a CPU request fails the metric whatever the samples say */
	if (k.cpu && !p->cpu_err[0])
		start_podmetrics(p);
	maybe_decide(p);
}

/* ---- reads -------------------------------------------------------------------------- */

static void on_pool_get(kube_result_t *res, void *arg)
{
	policy_t *p = arg;
	p->call = NULL;
	count(p->c, KUBE_GET, res);
	p->pool_exists = false;
	p->pool = 0;
	if (res->err == 0) {
		p->pool_exists = true;
		const cJSON *d = cJSON_GetObjectItemCaseSensitive(res->obj, "data");
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(d, "poolSize");
		if (cJSON_IsString(v)) {
			char *end;
			long n = strtol(v->valuestring, &end, 10);
			if (end != v->valuestring && *end == '\0' && n > 0 && n <= 1000000)
				p->pool = (int32_t)n;
		}
	} else if (!(res->err == KUBE_EAPI && res->status.code == 404)) {
		fail_sync(p, "FailedGetPool", false, "cannot read %s-pool: %s", p->name,
		          res->errmsg);
		return;
	}
	start_scrape(p);
}

static void sync_step_pool(policy_t *p)
{
	char name[300];
	snprintf(name, sizeof(name), "%s-pool", p->name);
	p->step = ST_GET_POOL;
	if (kube_get(p->c->client, &KUBE_RES_CONFIGMAPS, p->ns, name, on_pool_get, p, &p->call) !=
	    0) {
		p->call = NULL;
		fail_sync(p, "FailedGetPool", false, "cannot start the request");
	}
}

static int64_t pods_wait_timer(kube_loop_t *loop, void *arg)
{
	policy_t *p = arg;
	if (ctl_cache_synced(p->pods)) {
		p->timer = NULL;
		sync_step_pool(p);
		return -1;
	}
	if (kube_loop_now_ms(loop) - p->wait_start_ms > CACHE_WAIT_MAX_MS) {
		p->timer = NULL;
		fail_sync(p, "FailedGetPods", false, "the pod list of %s did not arrive",
		          p->pol.scale_target_name);
		return -1;
	}
	return CACHE_WAIT_MS;
}

static void on_scale_get(kube_result_t *res, void *arg)
{
	policy_t *p = arg;
	ctl_t *c = p->c;
	char err[256];
	p->call = NULL;
	count(c, KUBE_GET, res);
	if (res->err == KUBE_EAPI && (res->status.code == 404 || res->status.code == 403)) {
		fail_sync(p, "FailedGetScale", true, "target Deployment/%s: %s",
		          p->pol.scale_target_name,
		          res->status.code == 404 ? "not found" : res->status.message);
		return;
	}
	if (res->err != 0) {
		fail_sync(p, "FailedGetScale", false, "%s", res->errmsg);
		return;
	}
	const cJSON *spec = cJSON_GetObjectItemCaseSensitive(res->obj, "spec");
	const cJSON *r = cJSON_GetObjectItemCaseSensitive(spec, "replicas");
	p->replicas = cJSON_IsNumber(r) ? (int32_t)r->valuedouble : 0;
	snprintf(p->scale_rv, sizeof(p->scale_rv), "%s",
	         kube_obj_rv(res->obj) ? kube_obj_rv(res->obj) : "");
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(res->obj, "metadata");
	const cJSON *uid = cJSON_GetObjectItemCaseSensitive(meta, "uid");
	snprintf(p->target_uid, sizeof(p->target_uid), "%s",
	         cJSON_IsString(uid) ? uid->valuestring : "");
	const cJSON *sel = cJSON_GetObjectItemCaseSensitive(
	        cJSON_GetObjectItemCaseSensitive(res->obj, "status"), "selector");
	if (!cJSON_IsString(sel) || !sel->valuestring[0]) {
		fail_sync(p, "InvalidSelector", true, "target Deployment/%s has no selector",
		          p->pol.scale_target_name);
		return;
	}
	if (p->has_expected && p->expected_replicas != p->replicas) {
		char rep[40];
		snprintf(rep, sizeof(rep), "%d->%d", (int)p->expected_replicas, (int)p->replicas);
		base_log(BASE_LOG_INFO, NULL, "policy", p->key, "event", "external_scale",
		         "replicas", rep, "reason",
		         "spec.replicas was changed by another writer; starting from it",
		         (char *)NULL);
	}
	p->has_expected = true;
	p->expected_replicas = p->replicas;
	if (!p->pods || strcmp(ctl_cache_selector(p->pods), sel->valuestring) != 0) {
		ctl_cache_free(p->pods);
		p->pods = ctl_cache_new(c->client, &KUBE_RES_PODS, p->ns, sel->valuestring,
		                        c->metrics, NULL, NULL, err, sizeof(err));
		if (!p->pods) {
			fail_sync(p, "InvalidSelector", true, "target selector \"%s\": %s",
			          sel->valuestring, err);
			return;
		}
	}
	if (!ctl_cache_synced(p->pods)) {
		p->step = ST_WAIT_PODS;
		p->wait_start_ms = kube_loop_now_ms(c->loop);
		p->timer = kube_loop_timer_add(c->loop, CACHE_WAIT_MS, pods_wait_timer, p);
		return;
	}
	sync_step_pool(p);
}

static void report_invalid(policy_t *p)
{
	base_log(BASE_LOG_ERROR, NULL, "policy", p->key, "event", "invalid_policy", "error", p->err,
	         (char *)NULL);
	ctl_metrics_decision(p->c->metrics, "invalid");
	if (p->c->stopping || !may_write(p->c))
		return;
	warn_once(p, "InvalidPolicy", p->err, false);
	p->t0_ms = kube_loop_now_ms(p->c->loop);
	write_status(p, false);
}

static void sync_start(policy_t *p)
{
	ctl_t *c = p->c;
	if (c->stopping)
		return;
	if (p->step != ST_IDLE) {
		p->resync = true;
		return;
	}
	if (!may_write(c))
		return; /* a standby keeps its caches, nothing else */
	if (!p->valid) {
		report_invalid(p);
		return;
	}
	kube_loop_timer_cancel(c->loop, p->timer);
	p->timer = NULL;
	p->t0_ms = kube_loop_now_ms(c->loop);
	p->sync_error[0] = '\0';
	p->sync_error_reason = NULL;
	p->nwarn_now = 0;
	p->step = ST_GET_SCALE;
	kube_req_t r = {0};
	r.verb = KUBE_GET;
	r.res = &KUBE_RES_DEPLOYMENTS;
	r.ns = p->ns;
	r.name = p->pol.scale_target_name;
	r.subresource = "scale";
	if (kube_do(c->client, &r, on_scale_get, p, &p->call) != 0) {
		p->call = NULL;
		fail_sync(p, "FailedGetScale", false, "cannot start the request");
	}
}

/* ---- policies --------------------------------------------------------------------------- */

static void policy_free(policy_t *p)
{
	if (!p)
		return;
	cancel_work(p);
	ctl_cache_free(p->pods);
	autoscale_state_free(p->st);
	free(p->podv);
	free(p->data);
	free(p->last_status);
	free(p);
}

static policy_t *policy_find(ctl_t *c, const char *ns, const char *name)
{
	for (policy_t *p = c->policies; p; p = p->next)
		if (strcmp(p->ns, ns) == 0 && strcmp(p->name, name) == 0)
			return p;
	return NULL;
}

/* Parses the data map into p (valid / err). */
static void policy_parse(policy_t *p, const cJSON *data)
{
	const char *keys[64], *vals[64];
	size_t n = 0;
	const cJSON *it;
	p->has_sync_key = false;
	p->err[0] = '\0';
	cJSON_ArrayForEach(it, data)
	{
		if (n == 64) {
			snprintf(p->err, sizeof(p->err), "too many keys (more than 64)");
			p->valid = false;
			return;
		}
		if (!cJSON_IsString(it)) {
			snprintf(p->err, sizeof(p->err), "%s: value is not a string", it->string);
			p->valid = false;
			return;
		}
		if (strcmp(it->string, "syncPeriod") == 0)
			p->has_sync_key = true;
		keys[n] = it->string;
		vals[n] = it->valuestring;
		n++;
	}
	autoscale_policy_t pol;
	if (autoscale_policy_parse(keys, vals, n, &pol, p->err, sizeof(p->err)) != 0) {
		p->valid = false;
		return;
	}
	if (strcmp(pol.scale_target_kind, "Deployment") != 0) {
		snprintf(p->err, sizeof(p->err),
		         "scaleTargetRef: kind \"%s\" is not supported (Deployment)",
		         pol.scale_target_kind);
		p->valid = false;
		return;
	}
	bool target_changed =
	        !p->valid || strcmp(pol.scale_target_name, p->pol.scale_target_name) != 0;
	p->pol = pol;
	p->valid = true;
	if (target_changed) {
		autoscale_state_reset(p->st);
		p->has_expected = false;
		ctl_cache_free(p->pods);
		p->pods = NULL;
	}
}

static void policy_upsert(ctl_t *c, const cJSON *obj)
{
	const char *ns = kube_obj_namespace(obj);
	const char *name = kube_obj_name(obj);
	if (!ns || !name)
		return;
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(obj, "data");
	char *printed = data ? cJSON_PrintUnformatted(data) : strdup("{}");
	if (!printed)
		return;
	policy_t *p = policy_find(c, ns, name);
	if (p && p->data && strcmp(p->data, printed) == 0) {
		free(printed); /* our own status annotation, or a label: nothing to do */
		return;
	}
	bool fresh = p == NULL;
	if (!p) {
		p = calloc(1, sizeof(*p));
		if (!p || !(p->st = autoscale_state_new())) {
			free(p);
			free(printed);
			return;
		}
		p->c = c;
		snprintf(p->ns, sizeof(p->ns), "%s", ns);
		snprintf(p->name, sizeof(p->name), "%s", name);
		snprintf(p->key, sizeof(p->key), "%s/%s", ns, name);
		p->backoff_ms = BACKOFF_MIN_MS;
		p->next = c->policies;
		c->policies = p;
		c->npolicies++;
		ctl_metrics_set_policies(c->metrics, c->npolicies);
	}
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	const cJSON *uid = cJSON_GetObjectItemCaseSensitive(meta, "uid");
	snprintf(p->uid, sizeof(p->uid), "%s", cJSON_IsString(uid) ? uid->valuestring : "");
	free(p->data);
	p->data = printed;
	policy_parse(p, data);
	forget_warnings(p);
	base_log(BASE_LOG_INFO, NULL, "policy", p->key, "event",
	         fresh ? "policy_added" : "policy_changed", "valid", p->valid ? "true" : "false",
	         "target", p->valid ? p->pol.scale_target_name : "", (char *)NULL);
	/* React now: a change takes effect well within a second. */
	p->conflicts = 0;
	sync_start(p);
}

static void policy_remove(ctl_t *c, const cJSON *obj)
{
	const char *ns = kube_obj_namespace(obj);
	const char *name = kube_obj_name(obj);
	for (policy_t **pp = &c->policies; *pp; pp = &(*pp)->next) {
		policy_t *p = *pp;
		if (strcmp(p->ns, ns ? ns : "") == 0 && strcmp(p->name, name ? name : "") == 0) {
			*pp = p->next;
			base_log(BASE_LOG_INFO, NULL, "policy", p->key, "event", "policy_removed",
			         (char *)NULL);
			policy_free(p);
			c->npolicies--;
			ctl_metrics_set_policies(c->metrics, c->npolicies);
			maybe_shutdown_done(c);
			return;
		}
	}
}

static void on_policy(ctl_cache_t *cache, kube_event_type_t type, const cJSON *obj, void *arg)
{
	(void)cache;
	ctl_t *c = arg;
	if (type == KUBE_EV_BOOKMARK)
		; /* a list completed: readiness below */
	else if (type == KUBE_EV_DELETED)
		policy_remove(c, obj);
	else
		policy_upsert(c, obj);
	if (ctl_cache_synced(c->policies_cache))
		atomic_store(&c->ready, true);
}

static void on_leader(bool leading, void *arg)
{
	ctl_t *c = arg;
	for (policy_t *p = c->policies; p; p = p->next) {
		cancel_work(p);
		if (leading) {
			/* A new term starts from what the cluster says, not from
			 * history another replica may have changed. */
			p->has_expected = false;
			free(p->last_status);
			p->last_status = NULL;
			forget_warnings(p);
			schedule(p, 0);
		}
	}
}

static int64_t heartbeat(kube_loop_t *loop, void *arg)
{
	ctl_t *c = arg;
	atomic_store(&c->heartbeat, (long long)kube_loop_now_ms(loop));
	if (!atomic_load(&c->ready) && ctl_cache_synced(c->policies_cache))
		atomic_store(&c->ready, true);
	return 1000;
}

ctl_t *ctl_new(kube_loop_t *loop, const kube_config_t *kcfg, const ctl_opts_t *o,
               ctl_metrics_t *metrics, char *err, size_t errlen)
{
	ctl_t *c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->loop = loop;
	c->metrics = metrics;
	c->o = *o;
	snprintf(c->ns, sizeof(c->ns), "%s", o->ns ? o->ns : "");
	snprintf(c->le_id, sizeof(c->le_id), "%s", o->le_id ? o->le_id : "mcp-autoscaler");
	snprintf(c->le_ns, sizeof(c->le_ns), "%s", o->le_ns ? o->le_ns : "");
	snprintf(c->le_name, sizeof(c->le_name), "%s", o->le_name ? o->le_name : "mcp-autoscaler");
	c->o.ns = c->ns;
	c->o.le_id = c->le_id;
	c->o.le_ns = c->le_ns;
	c->o.le_name = c->le_name;
	if (c->o.metrics_port <= 0)
		c->o.metrics_port = 9090;
	atomic_store(&c->heartbeat, (long long)kube_loop_now_ms(loop));

	kube_client_opts_t co;
	kube_client_opts_default(&co);
	if (o->qps > 0)
		co.qps = o->qps;
	if (o->burst > 0)
		co.burst = o->burst;
	c->client = kube_client_new(loop, kcfg, &co, err, errlen);
	if (!c->client)
		goto fail;
	kube_client_opts_t mo = co; /* same rate limit; its own timeout, no retries */
	mo.timeout_ms = o->scrape_timeout_ms > 0 ? o->scrape_timeout_ms : 2000;
	mo.backoff.max_retries = 0;
	c->mclient = kube_client_new(loop, kcfg, &mo, err, errlen);
	if (!c->mclient)
		goto fail;
	if (o->leader_elect) {
		if (!c->le_ns[0])
			snprintf(c->le_ns, sizeof(c->le_ns), "%s",
			         c->ns[0] ? c->ns : kube_client_namespace(c->client));
		kube_client_opts_t lo;
		kube_client_opts_default(&lo);
		lo.timeout_ms = o->le_renew_ms > 0 ? o->le_renew_ms / 2 : 5000;
		lo.backoff.max_retries = 1;
		c->lclient = kube_client_new(loop, kcfg, &lo, err, errlen);
		if (!c->lclient)
			goto fail;
		ctl_leader_opts_t lopt = {c->le_ns,       c->le_name,     c->le_id,
		                          o->le_lease_ms, o->le_renew_ms, o->le_retry_ms};
		c->leader = ctl_leader_new(c->lclient, &lopt, metrics, on_leader, c, err, errlen);
		if (!c->leader)
			goto fail;
	} else {
		ctl_metrics_set_leader(metrics, true);
	}
	c->policies_cache =
	        ctl_cache_new(c->client, &KUBE_RES_CONFIGMAPS, c->ns, CTL_POLICY_LABEL "=true",
	                      metrics, on_policy, c, err, errlen);
	if (!c->policies_cache)
		goto fail;
	c->hb_timer = kube_loop_timer_add(loop, 1000, heartbeat, c);
	if (!c->hb_timer) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	return c;
fail:
	ctl_free(c);
	return NULL;
}

void ctl_free(ctl_t *c)
{
	if (!c)
		return;
	while (c->policies) {
		policy_t *p = c->policies;
		c->policies = p->next;
		policy_free(p);
	}
	ctl_cache_free(c->policies_cache);
	ctl_leader_free(c->leader);
	kube_loop_timer_cancel(c->loop, c->hb_timer);
	kube_loop_timer_cancel(c->loop, c->stop_timer);
	kube_client_free(c->lclient);
	kube_client_free(c->mclient);
	kube_client_free(c->client);
	free(c);
}

bool ctl_ready(const ctl_t *c)
{
	return atomic_load(&c->ready);
}
int64_t ctl_heartbeat_ms(const ctl_t *c)
{
	return (int64_t)atomic_load(&c->heartbeat);
}
unsigned long ctl_syncs(const ctl_t *c)
{
	return c->syncs;
}

static void released(void *arg)
{
	ctl_t *c = arg;
	void (*done)(void *) = c->stop_done;
	c->stop_done = NULL;
	if (done)
		done(c->stop_arg);
}

static void release_and_done(ctl_t *c)
{
	kube_loop_timer_cancel(c->loop, c->stop_timer);
	c->stop_timer = NULL;
	for (policy_t *p = c->policies; p; p = p->next)
		cancel_work(p);
	if (c->leader)
		ctl_leader_release(c->leader, released, c);
	else
		released(c);
}

static void maybe_shutdown_done(ctl_t *c)
{
	if (!c->stopping || !c->stop_done)
		return;
	for (policy_t *p = c->policies; p; p = p->next)
		if (p->step == ST_WRITE || p->step == ST_STATUS)
			return;
	release_and_done(c);
}

static int64_t stop_deadline(kube_loop_t *loop, void *arg)
{
	(void)loop;
	ctl_t *c = arg;
	c->stop_timer = NULL;
	base_log(BASE_LOG_WARN, "shutdown_timeout", "msg", "a write did not finish in time",
	         (char *)NULL);
	release_and_done(c);
	return -1;
}

void ctl_shutdown(ctl_t *c, void (*done)(void *arg), void *arg)
{
	if (c->stopping)
		return;
	c->stopping = true;
	c->stop_done = done;
	c->stop_arg = arg;
	/* Reads and scrapes stop now; a write in flight may finish. */
	for (policy_t *p = c->policies; p; p = p->next) {
		if (p->step == ST_WRITE || p->step == ST_STATUS) {
			kube_loop_timer_cancel(c->loop, p->timer);
			p->timer = NULL;
			continue;
		}
		cancel_work(p);
	}
	c->stop_timer = kube_loop_timer_add(c->loop, SHUTDOWN_WAIT_MS, stop_deadline, c);
	maybe_shutdown_done(c);
}

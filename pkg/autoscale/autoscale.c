/* The decision engine. The HPA parts follow Kubernetes
 * pkg/controller/podautoscaler (replica_calculator.go: groupPods,
 * calcPlainMetricReplicas, GetResourceReplicas, getUsageRatioReplicaCount;
 * horizontal.go: computeReplicasForMetrics, reconcileAutoscaler,
 * normalizeDesiredReplicasWithBehaviors, stabilizeRecommendationWithBehaviors,
 * convertDesiredReplicasWithBehaviorRate, calculateScaleUpLimitWithScalingRules,
 * calculateScaleDownLimitWithBehaviors, storeScaleEvent). Quantities are
 * handled in milli-units with integer division where the HPA does, so the
 * float rounding matches too. See docs/autoscale.md. */
#include "autoscale/autoscale.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"

/* ---- state ---------------------------------------------------------------- */

typedef struct {
	double t;
	int32_t replicas;
	int32_t pool;
} rec_t;

typedef struct {
	double t;
	int32_t change;
} event_t;

typedef struct {
	uint32_t hash;
	uint32_t nb;
	size_t name_off, name_len;
	size_t b_off;
	double t;   /* when these counters were scraped */
	double sum; /* mcp_request_duration_seconds_sum (has_sum) */
	bool has_sum;
} hent_t;

/* Previous counters per pod name (histogram buckets, latency sum): open addressing over entries,
 * names and buckets in flat arrays, rebuilt each round (pods that left are
 * dropped) so the cost stays linear and allocations are reused. */
typedef struct {
	uint32_t *slots; /* entry index + 1; 0 = empty */
	size_t cap;
	hent_t *ents;
	size_t nents, capents;
	char *names;
	size_t nlen, ncap;
	prom_bucket_t *bk;
	size_t blen, bcap;
} htab_t;

typedef struct {
	rec_t *v;
	size_t n, cap;
} recs_t;

typedef struct {
	event_t *v;
	size_t n, cap;
} events_t;

struct autoscale_state {
	recs_t recs;
	events_t up, down;
	bool burst;
	double burst_t;
	int32_t fail_rounds, ok_rounds;
	bool fallback;
	bool has_last_now;
	double last_now;
	htab_t hist[2];
	int cur; /* index of the table holding last round's counters */
	/* per-round scratch */
	unsigned char *cls;
	size_t ncls;
	double *little; /* per pod: requests in the worker, period average; NaN = n/a */
	size_t nlittle;
	prom_worker_metrics_t agg; /* bucket deltas summed over pods */
	size_t agg_pods;           /* pods that contributed to agg */
};

autoscale_state_t *autoscale_state_new(void)
{
	autoscale_state_t *st = calloc(1, sizeof(*st));
	return st;
}

static void htab_free(htab_t *t)
{
	free(t->slots);
	free(t->ents);
	free(t->names);
	free(t->bk);
	memset(t, 0, sizeof(*t));
}

void autoscale_state_free(autoscale_state_t *st)
{
	if (st == NULL)
		return;
	free(st->recs.v);
	free(st->up.v);
	free(st->down.v);
	htab_free(&st->hist[0]);
	htab_free(&st->hist[1]);
	free(st->cls);
	free(st->little);
	free(st);
}

void autoscale_state_reset(autoscale_state_t *st)
{
	if (st == NULL)
		return;
	st->recs.n = st->up.n = st->down.n = 0;
	st->burst = false;
	st->fail_rounds = st->ok_rounds = 0;
	st->fallback = false;
	st->has_last_now = false;
	for (int i = 0; i < 2; i++) {
		htab_t *t = &st->hist[i];
		if (t->slots)
			memset(t->slots, 0, t->cap * sizeof(t->slots[0]));
		t->nents = t->nlen = t->blen = 0;
	}
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
	size_t ncap;
	void *np;
	if (need <= *cap)
		return 0;
	ncap = *cap ? *cap : 16;
	while (ncap < need)
		ncap *= 2;
	np = realloc(*p, ncap * elem);
	if (np == NULL)
		return -1;
	*p = np;
	*cap = ncap;
	return 0;
}

static void htab_clear(htab_t *t)
{
	if (t->slots)
		memset(t->slots, 0, t->cap * sizeof(t->slots[0]));
	t->nents = t->nlen = t->blen = 0;
}

static hent_t *htab_find(const htab_t *t, const char *name, size_t n, uint32_t h)
{
	if (t->cap == 0)
		return NULL;
	for (size_t i = h & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
		uint32_t s = t->slots[i];
		hent_t *e;
		if (s == 0)
			return NULL;
		e = &t->ents[s - 1];
		if (e->hash == h && e->name_len == n &&
		    memcmp(t->names + e->name_off, name, n) == 0)
			return e;
	}
}

/* Adds name with buckets b[0..nb), the latency sum and the sample time,
 * unless present. 0, or -1 on out of memory. */
static int htab_add(htab_t *t, const char *name, size_t n, uint32_t h, const prom_bucket_t *b,
                    size_t nb, double when, bool has_sum, double sum)
{
	hent_t *e;
	size_t i;
	if (htab_find(t, name, n, h))
		return 0;
	if ((t->nents + 1) * 2 > t->cap) {
		size_t ncap = t->cap ? t->cap * 2 : 64;
		uint32_t *ns = calloc(ncap, sizeof(*ns));
		if (ns == NULL)
			return -1;
		for (size_t k = 0; k < t->nents; k++) {
			size_t j = t->ents[k].hash & (ncap - 1);
			while (ns[j])
				j = (j + 1) & (ncap - 1);
			ns[j] = (uint32_t)(k + 1);
		}
		free(t->slots);
		t->slots = ns;
		t->cap = ncap;
	}
	if (grow((void **)&t->ents, &t->capents, t->nents + 1, sizeof(hent_t)) != 0 ||
	    grow((void **)&t->names, &t->ncap, t->nlen + n, 1) != 0 ||
	    grow((void **)&t->bk, &t->bcap, t->blen + nb + 1, sizeof(prom_bucket_t)) != 0)
		return -1;
	e = &t->ents[t->nents];
	e->hash = h;
	e->name_off = t->nlen;
	e->name_len = n;
	e->b_off = t->blen;
	e->nb = (uint32_t)nb;
	e->t = when;
	e->has_sum = has_sum;
	e->sum = sum;
	memcpy(t->names + t->nlen, name, n);
	t->nlen += n;
	if (nb)
		memcpy(t->bk + t->blen, b, nb * sizeof(*b));
	t->blen += nb;
	i = h & (t->cap - 1);
	while (t->slots[i])
		i = (i + 1) & (t->cap - 1);
	t->slots[i] = (uint32_t)(t->nents + 1);
	t->nents++;
	return 0;
}

/* ---- helpers ---------------------------------------------------------------- */

const char *autoscale_metric_name(autoscale_metric_t m)
{
	switch (m) {
	case AUTOSCALE_M_POOL_OCCUPANCY:
		return "pool_occupancy";
	case AUTOSCALE_M_QUEUE_LENGTH:
		return "queue_length";
	case AUTOSCALE_M_P99_LATENCY:
		return "p99_latency";
	case AUTOSCALE_M_CPU_UTILIZATION:
		return "cpu_utilization";
	case AUTOSCALE_M_COUNT:
		break;
	}
	return "unknown";
}

static void setcond(autoscale_decision_t *d, autoscale_cond_type_t c, bool status,
                    const char *reason, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void setcond(autoscale_decision_t *d, autoscale_cond_type_t c, bool status,
                    const char *reason, const char *fmt, ...)
{
	va_list ap;
	autoscale_condition_t *x = &d->conditions[c];
	x->status = status;
	snprintf(x->reason, sizeof(x->reason), "%s", reason);
	va_start(ap, fmt);
	vsnprintf(x->message, sizeof(x->message), fmt, ap);
	va_end(ap);
}

static void reasonf(autoscale_decision_t *d, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
static void reasonf(autoscale_decision_t *d, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(d->reason, sizeof(d->reason), fmt, ap);
	va_end(ap);
}

static void reason_append(autoscale_decision_t *d, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
static void reason_append(autoscale_decision_t *d, const char *fmt, ...)
{
	va_list ap;
	size_t l = strlen(d->reason);
	if (l + 1 >= sizeof(d->reason))
		return;
	va_start(ap, fmt);
	vsnprintf(d->reason + l, sizeof(d->reason) - l, fmt, ap);
	va_end(ap);
}

/* Formats a metric value with its unit: "812ms", "85%", "3.3". */
static void fmt_value(autoscale_metric_t m, double v, char *buf, size_t cap)
{
	switch (m) {
	case AUTOSCALE_M_P99_LATENCY:
		if (v < 1)
			snprintf(buf, cap, "%.4gms", v * 1000);
		else
			snprintf(buf, cap, "%.4gs", v);
		break;
	case AUTOSCALE_M_POOL_OCCUPANCY:
	case AUTOSCALE_M_CPU_UTILIZATION:
		snprintf(buf, cap, "%.4g%%", v);
		break;
	default:
		snprintf(buf, cap, "%.4g", v);
		break;
	}
}

/* True when every live pod of the target is starting: not ready and started
 * less than the initial readiness delay (HPA's 30 s) ago, as pods are right
 * after a deploy or a scale-up. Metrics cannot exist yet: a round without
 * any is pending, not failed (it holds, and does not count toward the
 * fallback). False without pods. */
static bool all_starting(const autoscale_policy_t *pol, const autoscale_input_t *in)
{
	size_t live = 0;
	for (size_t i = 0; i < in->npods; i++) {
		const autoscale_pod_t *p = &in->pods[i];
		if (p->deleted || p->phase == AUTOSCALE_POD_FAILED ||
		    p->phase == AUTOSCALE_POD_SUCCEEDED)
			continue;
		live++;
		if (p->ready || !p->has_start_time ||
		    in->now - p->start_time >= (double)pol->initial_readiness_delay_ms / 1000.0)
			return false;
	}
	return live > 0;
}

static int64_t milli(double v)
{
	/* resource.Quantity.MilliValue rounds up */
	double m = ceil(v * 1000.0 - 1e-9);
	if (m > 9e15)
		return (int64_t)9e15;
	if (m < -9e15)
		return (int64_t)-9e15;
	return (int64_t)m;
}

static int32_t clamp32(double v)
{
	if (!(v > INT32_MIN))
		return INT32_MIN;
	if (v > INT32_MAX)
		return INT32_MAX;
	return (int32_t)v;
}

static bool within(const autoscale_policy_t *pol, double ratio)
{
	/* KEP-4951 tolerances: (1 - down) <= ratio <= (1 + up); with equal
	 * tolerances this is HPA's math.Abs(1.0-ratio) <= tolerance. */
	if (pol->scale_up_tolerance == pol->scale_down_tolerance)
		return fabs(1.0 - ratio) <= pol->scale_up_tolerance;
	return (1.0 - pol->scale_down_tolerance) <= ratio &&
	       ratio <= (1.0 + pol->scale_up_tolerance);
}

/* ---- pod grouping (groupPods) ----------------------------------------------- */

enum { P_IGNORED = 0, P_UNREADY, P_MISSING, P_READY };

static int classify(const autoscale_policy_t *pol, const autoscale_pod_t *p, double now, bool cpu)
{
	if (p->phase == AUTOSCALE_POD_FAILED || p->deleted)
		return P_IGNORED;
	if (p->phase == AUTOSCALE_POD_PENDING)
		return P_UNREADY;
	/* CPU comes from metrics.k8s.io, not from the scrape */
	if (cpu ? !p->metrics.has_cpu : !p->has_metrics)
		return P_MISSING;
	if (cpu) {
		bool unready;
		if (!p->has_start_time) {
			unready = true;
		} else {
			double tr =
			        p->has_ready_transition ? p->ready_transition_time : p->start_time;
			if (p->start_time + (double)pol->cpu_initialization_period_ms / 1000.0 >
			    now)
				/* HPA: unready, or one metric window was not
				 * collected since the last readiness change */
				unready = !p->ready ||
				          (p->metrics.has_cpu_window &&
				           p->metrics.cpu_timestamp < tr + p->metrics.cpu_window);
			else
				unready = !p->ready &&
				          p->start_time + (double)pol->initial_readiness_delay_ms /
				                                  1000.0 >
				                  tr;
		}
		if (unready)
			return P_UNREADY;
	}
	return P_READY;
}

typedef struct {
	bool ok;
	bool acted;       /* outside tolerance, direction kept: a real recommendation */
	int32_t replicas; /* recommendation */
	double usage;     /* current value for status */
	double ratio;     /* final usage ratio */
	size_t nused;     /* pods the final ratio was computed over */
	bool rebalanced;  /* missing/unready pods were counted at target or 0 */
	char err[384];
} mres_t;

static double pod_value(autoscale_metric_t m, const prom_worker_metrics_t *x, double little)
{
	double demand;
	if (m == AUTOSCALE_M_QUEUE_LENGTH)
		return x->waiters;
	/* Pool occupancy: requests in the worker per pool connection. By Little's
	 * law the period's average of requests in the worker (in service plus
	 * waiting) is arrival rate x time in the system = delta(latency sum) /
	 * delta(t); without two samples the gauges give the same quantity at the
	 * scrape instant. Waiting requests count as demand: with a saturated pool
	 * in-use alone would read 100% however long the queue. */
	demand = isfinite(little) ? little : x->pool_in_use + x->waiters;
	return 100.0 * demand / (x->pool_size > 0 ? x->pool_size : 1);
}

/* calcPlainMetricReplicas (pods metrics) and GetResourceReplicas (CPU). */
static void calc_pods_metric(const autoscale_policy_t *pol, autoscale_state_t *st,
                             const autoscale_input_t *in, autoscale_metric_t m, mres_t *r)
{
	const bool cpu = m == AUTOSCALE_M_CPU_UTILIZATION;
	const int32_t cur = in->current_replicas;
	int64_t target_milli = milli(pol->target[m]);
	int64_t total = 0, req_total = 0;
	size_t ready = 0, unready = 0, missing = 0;
	double ratio, new_ratio;
	bool scale_up_unready;

	memset(r, 0, sizeof(*r));
	if (in->npods == 0) {
		snprintf(r->err, sizeof(r->err),
		         "no pods returned by selector while calculating replica count");
		return;
	}
	for (size_t i = 0; i < in->npods; i++) {
		const autoscale_pod_t *p = &in->pods[i];
		int c = classify(pol, p, in->now, cpu);
		st->cls[i] = (unsigned char)c;
		if (c == P_UNREADY)
			unready++;
		else if (c == P_MISSING)
			missing++;
		else if (c == P_READY) {
			ready++;
			if (cpu) {
				int64_t rq = (int64_t)llround(p->metrics.cpu_request_millicores);
				if (rq <= 0) {
					snprintf(
					        r->err, sizeof(r->err),
					        "missing request for cpu in container of pod %.80s",
					        p->name ? p->name : "?");
					return;
				}
				total += (int64_t)llround(p->metrics.cpu_millicores);
				req_total += rq;
			} else {
				total += milli(pod_value(m, &p->metrics, st->little[i]));
			}
		}
	}
	if (ready == 0) {
		snprintf(r->err, sizeof(r->err),
		         "did not receive metrics for targeted pods (pods might be unready)");
		return;
	}
	if (cpu) {
		/* GetResourceUtilizationRatio: integer percent */
		int64_t util = total * 100 / req_total;
		ratio = (double)util / pol->target[m];
		r->usage = (double)util;
	} else {
		int64_t usage = total / (int64_t)ready;
		ratio = (double)usage / (double)target_milli;
		r->usage = (double)usage / 1000.0;
	}
	r->ok = true;
	scale_up_unready = unready > 0 && ratio > 1.0;
	if (!scale_up_unready && missing == 0) {
		if (within(pol, ratio)) {
			r->replicas = cur;
			r->ratio = ratio;
			r->nused = ready;
			return;
		}
		r->replicas = clamp32(ceil(ratio * (double)ready));
		r->acted = true;
		r->ratio = ratio;
		r->nused = ready;
		return;
	}
	/* missing pods: target on scale-down, 0 on scale-up; unready: 0 on scale-up */
	{
		size_t n = ready + missing + (scale_up_unready ? unready : 0);
		if (cpu) {
			int64_t avg_req = req_total / (int64_t)ready;
			int64_t fill = 0;
			if (ratio < 1.0) {
				double fb = pol->target[m] > 100 ? pol->target[m] : 100;
				fill = (int64_t)((double)avg_req * fb / 100.0);
			}
			int64_t t2 = total + (int64_t)missing * fill;
			int64_t r2 = req_total + (int64_t)(n - ready) * avg_req;
			new_ratio = (double)(t2 * 100 / r2) / pol->target[m];
		} else {
			int64_t t2 = total + (ratio < 1.0 ? (int64_t)missing * target_milli : 0);
			new_ratio = (double)(t2 / (int64_t)n) / (double)target_milli;
		}
		r->ratio = new_ratio;
		r->nused = n;
		r->rebalanced = true;
		if (within(pol, new_ratio) || (ratio < 1.0 && new_ratio > 1.0) ||
		    (ratio > 1.0 && new_ratio < 1.0)) {
			r->replicas = cur;
			return;
		}
		{
			int32_t nr = clamp32(ceil(new_ratio * (double)n));
			if ((new_ratio < 1.0 && nr > cur) || (new_ratio > 1.0 && nr < cur)) {
				r->replicas = cur;
				return;
			}
			r->replicas = nr;
			r->acted = true;
		}
	}
}

/* A pod's previous sample older than this many sync periods is not used
 * for a delta: the pod counts as seen for the first time. One failed scrape
 * (a gap of two periods) keeps the sample; two or more (three periods, or a
 * pod unready through a device outage) drop it. The half period absorbs the
 * jitter of the rounds' times. */
#define HIST_MAX_GAP_PERIODS 2.5

/* Rolls the per-pod counter history one round: the pods' bucket deltas
 * since their previous sample summed by le (for P99), and each pod's period
 * average of requests in the worker from its latency sum (for occupancy).
 * A pod seen for the first time contributes nothing (rate() needs two
 * samples); counters that went down mean a restart, and the new counters are
 * the increase, as Prometheus assumes. A pod whose scrape failed (or that
 * was unready) keeps its old counters and time, so the next delta spans
 * both periods; but a previous sample older than HIST_MAX_GAP_PERIODS sync
 * periods is not a measure of "the last period": it would fold everything
 * the gap held (the requests that timed out on a dead device, the burst
 * when it came back) into one round, and it hides a restart whose new
 * counters have passed the old ones. Such a pod starts again from its
 * current sample, like a new pod. Pods no longer in the input are
 * forgotten. Returns -1 on out of memory. */
static int roll_history(const autoscale_policy_t *pol, autoscale_state_t *st,
                        const autoscale_input_t *in, bool want_buckets)
{
	double period = pol->sync_period_ms > 0 ? (double)pol->sync_period_ms / 1000.0 : 15.0;
	double max_gap = HIST_MAX_GAP_PERIODS * period;
	htab_t *old = &st->hist[st->cur];
	htab_t *nw = &st->hist[st->cur ^ 1];
	prom_worker_metrics_t *agg = &st->agg;

	agg->nbuckets = 0;
	st->agg_pods = 0;
	htab_clear(nw);
	for (size_t i = 0; i < in->npods; i++) {
		const autoscale_pod_t *p = &in->pods[i];
		const prom_worker_metrics_t *x = &p->metrics;
		const char *name = p->name ? p->name : "";
		size_t n = strlen(name);
		uint32_t h = base_fnv1a(name, n);
		hent_t *prev;

		st->little[i] = NAN;
		if (p->deleted || p->phase == AUTOSCALE_POD_FAILED)
			continue;
		prev = htab_find(old, name, n, h);
		if (!p->has_metrics) {
			if (prev && htab_add(nw, name, n, h, old->bk + prev->b_off, prev->nb,
			                     prev->t, prev->has_sum, prev->sum) != 0)
				return -1;
			continue;
		}
		if (htab_add(nw, name, n, h, want_buckets ? x->buckets : NULL,
		             want_buckets ? x->nbuckets : 0, in->now, x->has_latency_sum,
		             x->latency_sum) != 0)
			return -1;
		if (prev == NULL || in->now - prev->t > max_gap)
			continue;
		if (x->has_latency_sum && prev->has_sum && in->now > prev->t &&
		    x->latency_sum >= prev->sum)
			st->little[i] = (x->latency_sum - prev->sum) / (in->now - prev->t);
		if (want_buckets && x->nbuckets > 0 && prev->nb > 0) {
			const prom_bucket_t *pb = old->bk + prev->b_off;
			const prom_bucket_t *cb = x->buckets;
			size_t nb = x->nbuckets;
			bool reset = prev->nb != nb;
			for (size_t k = 0; k < nb && !reset; k++) {
				if (pb[k].le != cb[k].le || cb[k].count < pb[k].count)
					reset = true;
			}
			for (size_t k = 0; k < nb; k++) {
				double dv = reset ? cb[k].count : cb[k].count - pb[k].count;
				/* beyond PROM_MAX_BUCKETS distinct bounds over all pods
				 * the extra bounds are dropped */
				(void)prom_worker_add_bucket(agg, cb[k].le, dv);
			}
			st->agg_pods++;
		}
	}
	st->cur ^= 1;
	return 0;
}

/* P99 over the bucket deltas roll_history summed, then HPA's object-metric
 * rule (getUsageRatioReplicaCount) with the ready pod count. */
static void calc_p99(const autoscale_policy_t *pol, autoscale_state_t *st,
                     const autoscale_input_t *in, mres_t *r)
{
	prom_worker_metrics_t agg = st->agg;
	int64_t ready_count = 0;

	memset(r, 0, sizeof(*r));
	for (size_t i = 0; i < in->npods; i++) {
		if (in->pods[i].phase == AUTOSCALE_POD_RUNNING && in->pods[i].ready)
			ready_count++;
	}
	if (st->agg_pods == 0) {
		snprintf(r->err, sizeof(r->err),
		         "no latency histogram deltas yet (needs two samples of a pod)");
		return;
	}
	{
		double total = agg.nbuckets ? agg.buckets[agg.nbuckets - 1].count : 0;
		double q;
		if (agg.nbuckets == 0 || !isinf(agg.buckets[agg.nbuckets - 1].le)) {
			snprintf(r->err, sizeof(r->err), "latency histogram has no +Inf bucket");
			return;
		}
		if (total <= 0) {
			q = 0; /* no requests in the period: nothing waited */
		} else {
			q = prom_histogram_quantile(0.99, agg.buckets, agg.nbuckets);
			if (isnan(q)) {
				snprintf(r->err, sizeof(r->err),
				         "P99 is undefined for the histogram");
				return;
			}
		}
		r->ok = true;
		r->usage = q;
		{
			int64_t um = milli(q), tm = milli(pol->target[AUTOSCALE_M_P99_LATENCY]);
			double ratio = (double)um / (double)tm;
			r->ratio = ratio;
			r->nused = (size_t)ready_count;
			if (in->current_replicas != 0) {
				if (within(pol, ratio)) {
					r->replicas = in->current_replicas;
					return;
				}
				r->replicas = clamp32(ceil(ratio * (double)ready_count));
			} else {
				r->replicas = clamp32(ceil(ratio));
			}
			r->acted = true;
		}
	}
}

/* ---- behaviors ---------------------------------------------------------------- */

static int32_t change_in_period(const events_t *ev, double now, int32_t period)
{
	double cutoff = now - (double)period;
	int32_t sum = 0;
	for (size_t i = 0; i < ev->n; i++) {
		if (ev->v[i].t > cutoff)
			sum += ev->v[i].change;
	}
	return sum;
}

/* The HPA's calculateScaleUpLimitWithScalingRules (up) and
 * calculateScaleDownLimitWithBehaviors (!up): every policy proposes a bound
 * from the replicas at the start of its period (now, less what it added,
 * plus what it removed); selectPolicy Max takes the largest change (the
 * highest bound up, the lowest down), Min the smallest. */
static int32_t scale_limit(const autoscale_state_t *st, const autoscale_rules_t *r, int32_t cur,
                           double now, bool up)
{
	bool lowest; /* keep the lowest bound (else the highest) */
	int32_t result;
	if (r->select == AUTOSCALE_SELECT_DISABLED)
		return cur;
	lowest = (r->select == AUTOSCALE_SELECT_MIN) == up;
	result = lowest ? INT32_MAX : INT32_MIN;
	for (size_t i = 0; i < r->npolicies; i++) {
		const autoscale_rule_t *p = &r->policies[i];
		int32_t added = change_in_period(&st->up, now, p->period_seconds);
		int32_t deleted = change_in_period(&st->down, now, p->period_seconds);
		int32_t start = cur - added + deleted;
		double pct = (double)p->value / 100;
		int32_t proposed;
		if (p->type == AUTOSCALE_POLICY_PODS)
			proposed = up ? start + p->value : start - p->value;
		else if (up)
			proposed = clamp32(ceil((double)start * (1 + pct)));
		else
			proposed = clamp32((double)start * (1 - pct)); /* truncated, as int32() */
		if (lowest ? proposed < result : proposed > result)
			result = proposed;
	}
	return result;
}

/* stabilizeRecommendationWithBehaviors, without recording (done by the caller
 * once the pool want is known). *stab_reason gets HPA's reason. */
static int32_t stabilize(const autoscale_policy_t *pol, const autoscale_state_t *st, double now,
                         int32_t cur, int32_t desired, const char **reason, const char **msg)
{
	int32_t up = desired, down = desired, rec = cur;
	double up_cut = now - pol->scale_up.stabilization_window_seconds;
	double down_cut = now - pol->scale_down.stabilization_window_seconds;
	for (size_t i = 0; i < st->recs.n; i++) {
		const rec_t *x = &st->recs.v[i];
		if (x->t > up_cut && x->replicas < up)
			up = x->replicas;
		if (x->t > down_cut && x->replicas > down)
			down = x->replicas;
	}
	if (rec < up)
		rec = up;
	if (rec > down)
		rec = down;
	if (desired >= cur) {
		*reason = "ScaleUpStabilized";
		*msg = "recent recommendations were lower than current one, applying the lowest "
		       "recent recommendation";
	} else {
		*reason = "ScaleDownStabilized";
		*msg = "recent recommendations were higher than current one, applying the highest "
		       "recent recommendation";
	}
	return rec;
}

static int record(const autoscale_policy_t *pol, autoscale_state_t *st, double now,
                  int32_t replicas, int32_t pool)
{
	double keep = pol->scale_up.stabilization_window_seconds;
	size_t j = 0;
	if (pol->scale_down.stabilization_window_seconds > keep)
		keep = pol->scale_down.stabilization_window_seconds;
	/* drop samples older than both windows (HPA reuses their slots) */
	for (size_t i = 0; i < st->recs.n; i++) {
		if (st->recs.v[i].t >= now - keep)
			st->recs.v[j++] = st->recs.v[i];
	}
	st->recs.n = j;
	if (grow((void **)&st->recs.v, &st->recs.cap, st->recs.n + 1, sizeof(rec_t)) != 0)
		return -1;
	st->recs.v[st->recs.n++] = (rec_t){now, replicas, pool};
	return 0;
}

static int32_t longest_period(const autoscale_rules_t *r)
{
	int32_t m = 0;
	for (size_t i = 0; i < r->npolicies; i++) {
		if (r->policies[i].period_seconds > m)
			m = r->policies[i].period_seconds;
	}
	return m;
}

void autoscale_commit(const autoscale_policy_t *pol, autoscale_state_t *st, autoscale_decision_t *d,
                      int32_t from_replicas, double now)
{
	events_t *ev;
	const autoscale_rules_t *r;
	int32_t change;
	size_t j = 0;
	if (pol == NULL || st == NULL || d == NULL || d->desired_replicas == from_replicas)
		return;
	if (d->desired_replicas > from_replicas) {
		ev = &st->up;
		r = &pol->scale_up;
		change = d->desired_replicas - from_replicas;
	} else {
		ev = &st->down;
		r = &pol->scale_down;
		change = from_replicas - d->desired_replicas;
	}
	/* markScaleEventsOutdated + reuse: events older than the longest period
	 * can never count again */
	for (size_t i = 0; i < ev->n; i++) {
		if (ev->v[i].t >= now - longest_period(r))
			ev->v[j++] = ev->v[i];
	}
	ev->n = j;
	if (grow((void **)&ev->v, &ev->cap, ev->n + 1, sizeof(event_t)) == 0)
		ev->v[ev->n++] = (event_t){now, change};
	setcond(d, AUTOSCALE_COND_ABLE_TO_SCALE, true, "SucceededRescale",
	        "the HPA controller was able to update the target scale to %d",
	        (int)d->desired_replicas);
}

/* ---- the decision ---------------------------------------------------------------- */

static const char *failed_reason(autoscale_metric_t m)
{
	return m == AUTOSCALE_M_CPU_UTILIZATION ? "FailedGetResourceMetric" : "FailedGetPodsMetric";
}

static int32_t clamp_pool(const autoscale_policy_t *pol, double v)
{
	if (!(v >= pol->pool_min_size))
		return pol->pool_min_size;
	if (v > pol->pool_max_size)
		return pol->pool_max_size;
	return (int32_t)v;
}

static void init_decision(autoscale_decision_t *d, const autoscale_input_t *in)
{
	static const char *const types[AUTOSCALE_COND_COUNT] = {"AbleToScale", "ScalingActive",
	                                                        "ScalingLimited"};
	memset(d, 0, sizeof(*d));
	for (int c = 0; c < AUTOSCALE_COND_COUNT; c++)
		d->conditions[c].type = types[c];
	d->desired_replicas = in ? in->current_replicas : 0;
	d->desired_pool_size = in ? in->current_pool_size : 0;
	setcond(d, AUTOSCALE_COND_ABLE_TO_SCALE, true, "SucceededGetScale",
	        "the HPA controller was able to get the target's current scale");
	setcond(d, AUTOSCALE_COND_SCALING_ACTIVE, true, "ValidMetricFound",
	        "the HPA was able to successfully calculate a replica count");
	setcond(d, AUTOSCALE_COND_SCALING_LIMITED, false, "DesiredWithinRange",
	        "the desired count is within the acceptable range");
}

int autoscale_decide(const autoscale_policy_t *pol, autoscale_state_t *st,
                     const autoscale_input_t *in, autoscale_decision_t *d)
{
	mres_t mr[AUTOSCALE_M_COUNT];
	int32_t R, P, desired, prenorm = 0, stabilized = 0;
	int32_t occ_pool_want = -1; /* pool the tier wants at R (scale-up), -1 none */
	double conn_needed = 0;
	bool pool_tier, normalized = false, failed_round = false, all_failed = false,
	                starting = false;
	bool burst_now = false;
	bool skip_metrics_reason = false;
	int nconf = 0, ninvalid = 0, first_invalid = -1, best_m = -1;
	int32_t best = 0;
	double max_ratio = 0;
	char vbuf[32], tbuf[32];

	init_decision(d, in);
	if (pol == NULL || st == NULL || in == NULL || (in->npods > 0 && in->pods == NULL)) {
		reasonf(d, "invalid call: NULL argument");
		return AUTOSCALE_EINVAL;
	}
	if (!isfinite(in->now) || (st->has_last_now && in->now < st->last_now)) {
		reasonf(d, "invalid input: time %.3f is before the last round's %.3f", in->now,
		        st->last_now);
		return AUTOSCALE_EINVAL;
	}
	R = in->current_replicas;
	P = in->current_pool_size;
	pool_tier = pol->has_target[AUTOSCALE_M_POOL_OCCUPANCY];

	if (pol->paused) {
		setcond(d, AUTOSCALE_COND_SCALING_ACTIVE, false, "ScalingPaused",
		        "the policy is paused (paused: \"true\"); no change is made");
		reasonf(d, "paused: no change (policy has paused=true)");
		for (int m = 0; m < AUTOSCALE_M_COUNT; m++) {
			d->metrics[m].configured = pol->has_target[m];
			d->metrics[m].target = pol->target[m];
		}
		return 0;
	}
	st->has_last_now = true;
	st->last_now = in->now;
	if (grow((void **)&st->cls, &st->ncls, in->npods + 1, 1) != 0 ||
	    grow((void **)&st->little, &st->nlittle, in->npods + 1, sizeof(double)) != 0) {
		reasonf(d, "out of memory");
		return AUTOSCALE_ENOMEM;
	}
	for (size_t i = 0; i < in->npods; i++)
		st->little[i] = NAN;
	if ((pol->has_target[AUTOSCALE_M_P99_LATENCY] || pool_tier) &&
	    roll_history(pol, st, in, pol->has_target[AUTOSCALE_M_P99_LATENCY]) != 0) {
		reasonf(d, "out of memory");
		return AUTOSCALE_ENOMEM;
	}

	/* ---- every metric (also for status when no decision follows) ---- */
	for (int m = 0; m < AUTOSCALE_M_COUNT; m++) {
		autoscale_metric_status_t *ms = &d->metrics[m];
		ms->configured = pol->has_target[m];
		ms->target = pol->target[m];
		memset(&mr[m], 0, sizeof(mr[m]));
		if (!ms->configured)
			continue;
		nconf++;
		if (in->metric_error[m] != NULL) {
			snprintf(mr[m].err, sizeof(mr[m].err), "%s", in->metric_error[m]);
		} else if (m == AUTOSCALE_M_P99_LATENCY) {
			calc_p99(pol, st, in, &mr[m]);
		} else {
			calc_pods_metric(pol, st, in, (autoscale_metric_t)m, &mr[m]);
		}
		ms->valid = mr[m].ok;
		ms->value = mr[m].usage;
		if (!mr[m].ok) {
			snprintf(ms->error, sizeof(ms->error), "%s", mr[m].err);
			ninvalid++;
			if (first_invalid < 0)
				first_invalid = m;
			continue;
		}
		if (mr[m].ratio > max_ratio)
			max_ratio = mr[m].ratio;
	}

	/* ---- pool tier: connections needed at the target occupancy ---- */
	if (pool_tier && mr[AUTOSCALE_M_POOL_OCCUPANCY].ok) {
		mres_t *o = &mr[AUTOSCALE_M_POOL_OCCUPANCY];
		int32_t pcur = P > 0 ? P : pol->pool_min_size;
		conn_needed = o->ratio * (double)o->nused * (double)pcur;
		d->connections_needed = conn_needed;
		if (o->acted) {
			int32_t base = R > 0 ? R : 1;
			if (o->ratio > 1.0) {
				/* grow pools first, add pods only when pools are at max */
				if (conn_needed <= (double)base * pol->pool_max_size + 1e-9) {
					o->replicas = R;
					occ_pool_want =
					        clamp_pool(pol, ceil(conn_needed / base - 1e-9));
				} else {
					o->replicas = clamp32(
					        ceil(conn_needed / pol->pool_max_size - 1e-9));
					occ_pool_want = pol->pool_max_size;
				}
			} else {
				/* shrink pods first at the current pool size (this is
				 * exactly HPA's ceil(ratio x pods)) */
				o->replicas = clamp32(ceil(conn_needed / pcur - 1e-9));
				if (o->replicas < 1)
					o->replicas = 1;
			}
		} else {
			o->replicas = R;
		}
		/* while the pool can still absorb the load, the queue does not add pods */
		if (occ_pool_want > 0 && occ_pool_want < pol->pool_max_size &&
		    mr[AUTOSCALE_M_QUEUE_LENGTH].ok && mr[AUTOSCALE_M_QUEUE_LENGTH].replicas > R)
			mr[AUTOSCALE_M_QUEUE_LENGTH].replicas = R;
	}
	for (int m = 0; m < AUTOSCALE_M_COUNT; m++) {
		if (mr[m].ok)
			d->metrics[m].replicas = mr[m].replicas;
	}

	/* ---- reconcileAutoscaler ---- */
	if (R == 0 && pol->min_replicas != 0) {
		desired = 0;
		setcond(d, AUTOSCALE_COND_SCALING_ACTIVE, false, "ScalingDisabled",
		        "scaling is disabled since the replica count of the target is zero");
		reasonf(d, "scaling disabled: the target was scaled to 0 by hand");
		d->desired_replicas = 0;
		d->desired_pool_size = P;
		return 0;
	} else if (R > pol->max_replicas) {
		desired = pol->max_replicas;
		setcond(d, AUTOSCALE_COND_SCALING_LIMITED, true, "TooManyReplicas",
		        "the desired replica count is more than the maximum replica count");
		reasonf(d, "current replicas %d above maxReplicas %d", (int)R,
		        (int)pol->max_replicas);
		skip_metrics_reason = true;
	} else if (R < pol->min_replicas) {
		desired = pol->min_replicas;
		setcond(d, AUTOSCALE_COND_SCALING_LIMITED, true, "TooFewReplicas",
		        "the desired replica count is less than the minimum replica count");
		reasonf(d, "current replicas %d below minReplicas %d", (int)R,
		        (int)pol->min_replicas);
		skip_metrics_reason = true;
	} else {
		/* computeReplicasForMetrics: highest recommendation wins */
		for (int m = 0; m < AUTOSCALE_M_COUNT; m++) {
			if (!mr[m].ok)
				continue;
			if (best_m < 0 || mr[m].replicas > best) {
				best = mr[m].replicas;
				best_m = m;
			}
		}
		/* HPA: every metric failed, or some failed and the rest say scale
		 * down: the round failed and replicas hold. Only the first counts
		 * for the fallback (KEDA falls back when the scaler, i.e. every
		 * metric, fails): a metric that fails while others work only
		 * forbids scale-down, as in the HPA. */
		all_failed = ninvalid >= nconf;
		failed_round = all_failed || (ninvalid > 0 && best < R);
		/* a burst ends a full stable window after the last one, whatever
		 * the metrics do meanwhile */
		if (st->burst &&
		    in->now - st->burst_t >= (double)pol->burst_stable_window_ms / 1000.0)
			st->burst = false;
		starting = all_failed && all_starting(pol, in);
		if (starting) {
			/* pending, not failed: the fallback counter stands still */
		} else if (all_failed) {
			st->fail_rounds++;
			st->ok_rounds = 0;
		} else {
			st->fail_rounds = 0;
			if (st->fallback && ++st->ok_rounds >= pol->fallback_failure_threshold) {
				st->fallback = false;
				st->ok_rounds = 0;
			}
		}
		if (failed_round) {
			setcond(d, AUTOSCALE_COND_SCALING_ACTIVE, false,
			        failed_reason((autoscale_metric_t)first_invalid),
			        "the HPA was unable to compute the replica count: %s: %s",
			        autoscale_metric_name((autoscale_metric_t)first_invalid),
			        mr[first_invalid].err);
		}
		if (all_failed && !starting && pol->fallback_failure_threshold > 0 &&
		    (st->fallback || st->fail_rounds >= pol->fallback_failure_threshold)) {
			st->fallback = true;
			prenorm = pol->fallback_replicas;
			reasonf(d,
			        "fallback: %d consecutive failed metric rounds; going to "
			        "fallbackReplicas %d (%s: %s)",
			        (int)st->fail_rounds, (int)pol->fallback_replicas,
			        autoscale_metric_name((autoscale_metric_t)first_invalid),
			        mr[first_invalid].err);
		} else if (st->fallback) {
			/* metrics are back (some or all), not yet for long enough */
			prenorm = pol->fallback_replicas;
			if (!failed_round)
				setcond(d, AUTOSCALE_COND_SCALING_ACTIVE, true, "ValidMetricFound",
				        "the HPA was able to successfully calculate a replica "
				        "count from %s",
				        autoscale_metric_name((autoscale_metric_t)best_m));
			reasonf(d,
			        "fallback: metrics back for %d of %d rounds; staying at "
			        "fallbackReplicas %d",
			        (int)st->ok_rounds, (int)pol->fallback_failure_threshold,
			        (int)pol->fallback_replicas);
		} else if (failed_round) {
			desired = R;
			reasonf(d,
			        "metrics failed (%d invalid out of %d), first error: %s: %s; "
			        "holding %d replicas",
			        ninvalid, nconf,
			        autoscale_metric_name((autoscale_metric_t)first_invalid),
			        mr[first_invalid].err, (int)R);
			if (!all_failed)
				reason_append(d, " (no scale-down while a metric is failing)");
			if (starting)
				reason_append(d, " (every pod is starting: not counted toward the "
				                 "fallback)");
			goto pool;
		} else {
			prenorm = best;
			setcond(d, AUTOSCALE_COND_SCALING_ACTIVE, true, "ValidMetricFound",
			        "the HPA was able to successfully calculate a replica count from "
			        "%s",
			        autoscale_metric_name((autoscale_metric_t)best_m));
		}
		if (!failed_round) {
			/* burst mode (Knative panic mode) */
			if (pol->burst_threshold > 0 && !st->fallback) {
				if (max_ratio >= pol->burst_threshold) {
					st->burst = true;
					st->burst_t = in->now;
					burst_now = true;
				}
			}
			if (!st->fallback) {
				fmt_value((autoscale_metric_t)best_m, mr[best_m].usage, vbuf,
				          sizeof(vbuf));
				fmt_value((autoscale_metric_t)best_m, pol->target[best_m], tbuf,
				          sizeof(tbuf));
				if (prenorm > R) {
					reasonf(d, "%s %s above target %s",
					        autoscale_metric_name((autoscale_metric_t)best_m),
					        vbuf, tbuf);
					d->driver = (autoscale_metric_t)best_m;
					d->has_driver = true;
				} else if (prenorm < R) {
					reasonf(d, "all metrics below target");
				} else {
					/* name the metric furthest from its target */
					int far = best_m;
					for (int m = 0; m < AUTOSCALE_M_COUNT; m++) {
						if (mr[m].ok &&
						    fabs(mr[m].ratio - 1) > fabs(mr[far].ratio - 1))
							far = m;
					}
					/* the pool tier acting is the news of this round */
					if (pool_tier && mr[AUTOSCALE_M_POOL_OCCUPANCY].acted)
						far = AUTOSCALE_M_POOL_OCCUPANCY;
					fmt_value((autoscale_metric_t)far, mr[far].usage, vbuf,
					          sizeof(vbuf));
					fmt_value((autoscale_metric_t)far, pol->target[far], tbuf,
					          sizeof(tbuf));
					if (mr[far].rebalanced)
						reasonf(d,
						        "%s %s, target %s: replicas unchanged once "
						        "missing/unready pods are counted as the "
						        "HPA "
						        "does",
						        autoscale_metric_name(
						                (autoscale_metric_t)far),
						        vbuf, tbuf);
					else
						reasonf(d, "%s %s %s target %s: replicas unchanged",
						        autoscale_metric_name(
						                (autoscale_metric_t)far),
						        vbuf,
						        within(pol, mr[far].ratio)
						                ? "within tolerance of"
						                : (mr[far].ratio > 1 ? "above"
						                                     : "below"),
						        tbuf);
				}
			}
		}
		/* normalizeDesiredReplicasWithBehaviors */
		{
			const char *sreason, *smsg;
			stabilized = stabilize(pol, st, in->now, R, prenorm, &sreason, &smsg);
			if (st->burst) {
				if (prenorm > R) {
					stabilized = prenorm; /* at once: no up window */
					setcond(d, AUTOSCALE_COND_ABLE_TO_SCALE, true, "BurstMode",
					        "burst mode: scaling up at once, no scale-down "
					        "until "
					        "the burst has passed");
				} else {
					stabilized = R;
					if (prenorm < R)
						setcond(d, AUTOSCALE_COND_ABLE_TO_SCALE, true,
						        "BurstMode",
						        "burst mode: scale-down forbidden until a "
						        "full "
						        "stable window passes without a burst");
				}
			} else if (stabilized != prenorm) {
				setcond(d, AUTOSCALE_COND_ABLE_TO_SCALE, true, sreason, "%s", smsg);
			} else {
				setcond(d, AUTOSCALE_COND_ABLE_TO_SCALE, true, "ReadyForNewScale",
				        "recommended size matches current size");
			}
		}
		/* convertDesiredReplicasWithBehaviorRate */
		{
			const char *lreason = "DesiredWithinRange";
			const char *lmsg = "the desired count is within the acceptable range";
			desired = stabilized;
			if (stabilized > R) {
				int32_t lim = st->burst ? INT32_MAX
				                        : scale_limit(st, &pol->scale_up, R,
				                                      in->now, true);
				int32_t maxa = pol->max_replicas;
				if (lim < R)
					lim = R;
				if (maxa > lim) {
					maxa = lim;
					lreason = "ScaleUpLimit";
					lmsg = "the desired replica count is increasing faster "
					       "than "
					       "the maximum scale rate";
				} else {
					lreason = "TooManyReplicas";
					lmsg = "the desired replica count is more than the maximum "
					       "replica count";
				}
				if (stabilized > maxa)
					desired = maxa;
			} else if (stabilized < R) {
				int32_t lim = scale_limit(st, &pol->scale_down, R, in->now, false);
				int32_t mina = pol->min_replicas;
				if (lim > R)
					lim = R;
				if (mina < lim) {
					mina = lim;
					lreason = "ScaleDownLimit";
					lmsg = "the desired replica count is decreasing faster "
					       "than "
					       "the maximum scale rate";
				} else {
					lreason = "TooFewReplicas";
					lmsg = "the desired replica count is less than the minimum "
					       "replica count";
				}
				if (stabilized < mina)
					desired = mina;
			}
			if (desired == stabilized)
				setcond(d, AUTOSCALE_COND_SCALING_LIMITED, false,
				        "DesiredWithinRange",
				        "the desired count is within the acceptable range");
			else
				setcond(d, AUTOSCALE_COND_SCALING_LIMITED, true, lreason, "%s",
				        lmsg);
			normalized = true;
		}
		if (st->burst && !st->fallback) {
			if (burst_now && prenorm > R) {
				char was[sizeof(d->reason)];
				memcpy(was, d->reason, sizeof(was));
				reasonf(d, "burst (%.1fx a target): %s; scaling up at once",
				        max_ratio, was);
			} else if (prenorm < R)
				reasonf(d,
				        "burst mode: no scale-down until %gs pass without a burst",
				        (double)pol->burst_stable_window_ms / 1000.0);
		}
		if (desired != prenorm && normalized) {
			const autoscale_condition_t *l =
			        &d->conditions[AUTOSCALE_COND_SCALING_LIMITED];
			if (l->status)
				reason_append(d, "; limited to %d by %s", (int)desired, l->reason);
			else if (stabilized != prenorm && !st->burst)
				reason_append(d, "; held at %d by the %s stabilization window",
				              (int)desired,
				              prenorm < R ? "scale-down" : "scale-up");
		}
	}

pool:
	/* ---- pool size ---- */
	{
		int32_t pcur = P > 0 ? P : pol->pool_min_size;
		int32_t pool = clamp_pool(pol, pcur);
		int32_t pool_want = pool;
		if (pool_tier && mr[AUTOSCALE_M_POOL_OCCUPANCY].ok &&
		    mr[AUTOSCALE_M_POOL_OCCUPANCY].acted && !failed_round && desired > 0) {
			int32_t need = clamp_pool(pol, ceil(conn_needed / desired - 1e-9));
			pool_want = need;
			if (need > pool) {
				pool = need;
			} else if (need < pool) {
				/* shrink pods before pools: a pool shrinks only in a round
				 * where the pod count holds and the pool tier cannot drop a
				 * pod at the current pool size (or pods are at minReplicas) */
				bool pods_at_floor = mr[AUTOSCALE_M_POOL_OCCUPANCY].replicas >= R ||
				                     R <= pol->min_replicas;
				if (desired == R && pods_at_floor && !st->burst) {
					/* and never below the pool wanted within the
					 * scale-down stabilization window */
					double cut = in->now -
					             pol->scale_down.stabilization_window_seconds;
					int32_t hi = need;
					for (size_t i = 0; i < st->recs.n; i++) {
						const rec_t *x = &st->recs.v[i];
						if (x->t > cut && x->pool > hi)
							hi = x->pool;
					}
					if (hi < pool)
						pool = hi;
				}
			}
		} else if (occ_pool_want > 0 && !failed_round) {
			pool_want = occ_pool_want;
		}
		/* the connection budget binds last: replicas x pool <= budget */
		if (pol->connection_budget > 0 && desired > 0 &&
		    (int64_t)desired * pool > pol->connection_budget) {
			int32_t before_r = desired, before_p = pool;
			int64_t per = pol->connection_budget / desired;
			if (per >= pol->pool_min_size) {
				pool = (int32_t)(per < pool ? per : pool);
			} else {
				pool = pol->pool_min_size;
				desired = (int32_t)(pol->connection_budget / pol->pool_min_size);
			}
			d->budget_limited = true;
			setcond(d, AUTOSCALE_COND_SCALING_LIMITED, true, "ConnectionBudget",
			        "replicas x poolSize would be %d x %d = %lld, above "
			        "connectionBudget "
			        "%lld",
			        (int)before_r, (int)before_p, (long long)before_r * before_p,
			        (long long)pol->connection_budget);
			reason_append(d, "; connectionBudget %lld binds (%d x %d)",
			              (long long)pol->connection_budget, (int)desired, (int)pool);
		}
		if (normalized && record(pol, st, in->now, prenorm, pool_want) != 0) {
			reasonf(d, "out of memory");
			return AUTOSCALE_ENOMEM;
		}
		d->desired_pool_size = pool;
		if (pool != P && !skip_metrics_reason)
			reason_append(d, "; pool %d->%d%s", (int)P, (int)pool,
			              pool > P && desired <= R
			                      ? " (pools grow before pods)"
			                      : (pool < P && desired == R
			                                 ? " (pods at their floor, pools shrink)"
			                                 : ""));
	}
	d->desired_replicas = desired;
	d->rescale = desired != R;
	d->repool = d->desired_pool_size != P;
	d->burst = st->burst;
	d->fallback = st->fallback;
	return 0;
}

/* ---- JSON ------------------------------------------------------------------ */

typedef struct {
	char *buf;
	size_t cap, len;
} out_t;

static void put(out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(out_t *o, const char *fmt, ...)
{
	va_list ap;
	int w;
	size_t room = o->len < o->cap ? o->cap - o->len : 0;
	va_start(ap, fmt);
	w = vsnprintf(room ? o->buf + o->len : NULL, room, fmt, ap);
	va_end(ap);
	if (w > 0)
		o->len += (size_t)w;
}

static void put_str(out_t *o, const char *s)
{
	put(o, "\"");
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			put(o, "\\%c", c);
		else if (c < 0x20)
			put(o, "\\u%04x", c);
		else
			put(o, "%c", c);
	}
	put(o, "\"");
}

static void put_num(out_t *o, double v)
{
	if (!isfinite(v))
		put(o, "null");
	else if (v == floor(v) && fabs(v) < 1e15)
		put(o, "%.0f", v);
	else
		put(o, "%.6g", v);
}

size_t autoscale_decision_json(const autoscale_decision_t *d, double t, int32_t replicas,
                               int32_t pool_size, char *buf, size_t cap)
{
	out_t o = {buf, cap, 0};
	bool first = true;
	if (cap > 0)
		buf[0] = '\0';
	put(&o, "{\"t\":");
	put_num(&o, t);
	put(&o, ",\"replicas\":%d,\"desiredReplicas\":%d,\"poolSize\":%d,\"desiredPoolSize\":%d,",
	    (int)replicas, (int)d->desired_replicas, (int)pool_size, (int)d->desired_pool_size);
	put(&o, "\"reason\":");
	put_str(&o, d->reason);
	put(&o, ",\"metrics\":{");
	for (int m = 0; m < AUTOSCALE_M_COUNT; m++) {
		if (!d->metrics[m].configured)
			continue;
		put(&o, "%s\"%s\":", first ? "" : ",",
		    autoscale_metric_name((autoscale_metric_t)m));
		if (d->metrics[m].valid)
			put_num(&o, d->metrics[m].value);
		else
			put(&o, "null");
		first = false;
	}
	put(&o, "},\"targets\":{");
	first = true;
	for (int m = 0; m < AUTOSCALE_M_COUNT; m++) {
		if (!d->metrics[m].configured)
			continue;
		put(&o, "%s\"%s\":", first ? "" : ",",
		    autoscale_metric_name((autoscale_metric_t)m));
		put_num(&o, d->metrics[m].target);
		first = false;
	}
	put(&o, "},\"conditions\":[");
	for (int c = 0; c < AUTOSCALE_COND_COUNT; c++) {
		const autoscale_condition_t *x = &d->conditions[c];
		put(&o, "%s{\"type\":\"%s\",\"status\":\"%s\",\"reason\":", c ? "," : "", x->type,
		    x->status ? "True" : "False");
		put_str(&o, x->reason);
		put(&o, ",\"message\":");
		put_str(&o, x->message);
		put(&o, "}");
	}
	put(&o, "],\"burst\":%s,\"fallback\":%s}", d->burst ? "true" : "false",
	    d->fallback ? "true" : "false");
	if (cap > 0 && o.len >= cap)
		buf[cap - 1] = '\0';
	return o.len;
}

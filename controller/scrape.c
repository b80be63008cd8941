#include "scrape.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kube/kube.h"

/* ---- pods ---------------------------------------------------------------- */

static int digits(const char **p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)**p))
			return -1;
		v = v * 10 + (**p - '0');
		(*p)++;
	}
	*out = v;
	return 0;
}

int ctl_parse_time(const char *s, double *out)
{
	struct tm tm = {0};
	int y, mo, d, h, mi, se;
	const char *p = s;
	if (!s || digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' ||
	    digits(&p, 2, &d) || (*p != 'T' && *p != 't' && *p != ' '))
		return -1;
	p++;
	if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi) || *p++ != ':' ||
	    digits(&p, 2, &se))
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
		return -1;
	double frac = 0, scale = 0.1;
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return -1;
		while (isdigit((unsigned char)*p)) {
			frac += (*p - '0') * scale;
			scale /= 10;
			p++;
		}
	}
	long off = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p == '-' ? -1 : 1;
		int oh, om;
		p++;
		if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om))
			return -1;
		off = sign * (oh * 3600L + om * 60L);
	} else {
		return -1;
	}
	if (*p)
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	*out = (double)timegm(&tm) - (double)off + frac;
	return 0;
}

static const char *str_at(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

int ctl_pod_parse(const cJSON *obj, ctl_pod_t *out)
{
	memset(out, 0, sizeof(*out));
	const char *name = kube_obj_name(obj);
	if (!name)
		return -1;
	snprintf(out->name, sizeof(out->name), "%s", name);
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	out->deleted = str_at(meta, "deletionTimestamp") != NULL;
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(obj, "status");
	const char *phase = str_at(st, "phase");
	out->phase = AUTOSCALE_POD_UNKNOWN;
	if (!phase || strcmp(phase, "Pending") == 0)
		out->phase = AUTOSCALE_POD_PENDING;
	else if (strcmp(phase, "Running") == 0)
		out->phase = AUTOSCALE_POD_RUNNING;
	else if (strcmp(phase, "Succeeded") == 0)
		out->phase = AUTOSCALE_POD_SUCCEEDED;
	else if (strcmp(phase, "Failed") == 0)
		out->phase = AUTOSCALE_POD_FAILED;
	const char *ip = str_at(st, "podIP");
	if (ip)
		snprintf(out->ip, sizeof(out->ip), "%s", ip);
	out->has_start_time = ctl_parse_time(str_at(st, "startTime"), &out->start_time) == 0;
	const cJSON *c;
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(st, "conditions"))
	{
		const char *type = str_at(c, "type");
		if (!type || strcmp(type, "Ready") != 0)
			continue;
		const char *status = str_at(c, "status");
		out->ready = status && strcmp(status, "True") == 0;
		out->has_ready_transition = ctl_parse_time(str_at(c, "lastTransitionTime"),
		                                           &out->ready_transition_time) == 0;
	}
	return 0;
}

bool ctl_pod_scrapable(const ctl_pod_t *p)
{
	return p->phase == AUTOSCALE_POD_RUNNING && p->ready && !p->deleted && p->ip[0];
}

/* ---- scrapes ------------------------------------------------------------- */

typedef struct {
	ctl_scrape_t *owner;
	size_t idx;
	kube_http_t *h;
} slot_t;

struct ctl_scrape {
	kube_loop_t *loop;
	ctl_scrape_opts_t o;
	ctl_metrics_t *metrics;
	ctl_scrape_done_fn done;
	void *arg;
	char **urls;
	size_t n;
	ctl_scrape_result_t *res;
	slot_t *slots; /* one per url */
	size_t next;   /* next url to start */
	size_t running;
	size_t finished;
	size_t failures;
	kube_timer_t *timer; /* defers done when there is nothing to fetch */
	bool done_called;
};

static void start_more(ctl_scrape_t *s);

static void fail(ctl_scrape_t *s, size_t i, ctl_scrape_result_kind_t k, const char *what,
                 const char *detail)
{
	s->res[i].kind = k;
	/* A long message is cut; the return value is checked only for that. */
	if (snprintf(s->res[i].error, sizeof(s->res[i].error), "%s: %s%s%s", s->urls[i], what,
	             detail && detail[0] ? ": " : "", detail ? detail : "") < 0)
		s->res[i].error[0] = '\0';
	s->failures++;
}

static void finish_if_done(ctl_scrape_t *s)
{
	if (s->finished == s->n && !s->done_called) {
		s->done_called = true;
		s->done(s, s->arg);
	}
}

static void on_done(const kube_http_result_t *r, void *arg)
{
	slot_t *sl = arg;
	ctl_scrape_t *s = sl->owner;
	size_t i = sl->idx;
	sl->h = NULL;
	s->running--;
	s->finished++;
	if (r->err == KUBE_ETIMEOUT) {
		fail(s, i, CTL_SCRAPE_TIMEOUT, "timeout", NULL);
	} else if (r->err == KUBE_ETOOBIG) {
		fail(s, i, CTL_SCRAPE_TOOBIG, "body over the cap", NULL);
	} else if (r->err != 0) {
		fail(s, i, CTL_SCRAPE_TRANSPORT, r->errmsg ? r->errmsg : kube_strerror(r->err),
		     NULL);
	} else if (r->status != 200) {
		char st[16];
		snprintf(st, sizeof(st), "%ld", r->status);
		fail(s, i, CTL_SCRAPE_HTTP, "HTTP status", st);
	} else {
		char err[160];
		int rc = prom_worker_extract(r->body, r->body_len, s->o.max_bytes,
		                             &s->res[i].metrics, err, sizeof(err));
		if (rc == PROM_ETOOBIG)
			fail(s, i, CTL_SCRAPE_TOOBIG, err, NULL);
		else if (rc != 0)
			fail(s, i, CTL_SCRAPE_PARSE, err, NULL);
		else
			s->res[i].kind = CTL_SCRAPE_OK;
	}
	ctl_metrics_scrape(s->metrics, s->res[i].kind);
	start_more(s);
	finish_if_done(s);
}

static void start_more(ctl_scrape_t *s)
{
	while (s->next < s->n && (int)s->running < s->o.max_concurrency) {
		size_t i = s->next++;
		kube_http_opts_t ho = {0};
		ho.url = s->urls[i];
		ho.timeout_ms = s->o.timeout_ms;
		ho.connect_timeout_ms = s->o.timeout_ms;
		ho.max_body = s->o.max_bytes;
		s->slots[i].owner = s;
		s->slots[i].idx = i;
		if (kube_http_start(s->loop, &ho, on_done, &s->slots[i], &s->slots[i].h) != 0) {
			s->slots[i].h = NULL;
			fail(s, i, CTL_SCRAPE_TRANSPORT, "cannot start the request", NULL);
			ctl_metrics_scrape(s->metrics, CTL_SCRAPE_TRANSPORT);
			s->finished++;
			continue;
		}
		s->running++;
	}
}

static int64_t empty_timer(kube_loop_t *loop, void *arg)
{
	(void)loop;
	ctl_scrape_t *s = arg;
	s->timer = NULL;
	finish_if_done(s);
	return -1;
}

ctl_scrape_t *ctl_scrape_start(kube_loop_t *loop, const char *const *urls, size_t n,
                               const ctl_scrape_opts_t *o, ctl_metrics_t *metrics,
                               ctl_scrape_done_fn done, void *arg)
{
	ctl_scrape_t *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->loop = loop;
	s->metrics = metrics;
	s->done = done;
	s->arg = arg;
	s->o.timeout_ms = 2000;
	s->o.max_bytes = 4u << 20;
	s->o.max_concurrency = 256;
	if (o) {
		if (o->timeout_ms > 0)
			s->o.timeout_ms = o->timeout_ms;
		if (o->max_bytes > 0)
			s->o.max_bytes = o->max_bytes;
		if (o->max_concurrency > 0)
			s->o.max_concurrency = o->max_concurrency;
	}
	s->n = n;
	s->urls = calloc(n ? n : 1, sizeof(char *));
	s->res = calloc(n ? n : 1, sizeof(*s->res));
	s->slots = calloc(n ? n : 1, sizeof(*s->slots));
	if (!s->urls || !s->res || !s->slots)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		s->urls[i] = strdup(urls[i]);
		if (!s->urls[i])
			goto fail;
	}
	/* done must never run from inside this call: defer through a timer
	 * that fires once everything started below has finished or failed. */
	s->timer = kube_loop_timer_add(loop, 0, empty_timer, s);
	if (!s->timer)
		goto fail;
	start_more(s);
	return s;
fail:
	ctl_scrape_free(s);
	return NULL;
}

const ctl_scrape_result_t *ctl_scrape_results(const ctl_scrape_t *s, size_t *n)
{
	*n = s->n;
	return s->res;
}

size_t ctl_scrape_failures(const ctl_scrape_t *s)
{
	return s->failures;
}

void ctl_scrape_free(ctl_scrape_t *s)
{
	if (!s)
		return;
	kube_loop_timer_cancel(s->loop, s->timer);
	for (size_t i = 0; s->slots && i < s->n; i++)
		kube_http_cancel(s->slots[i].h);
	for (size_t i = 0; s->urls && i < s->n; i++)
		free(s->urls[i]);
	free(s->urls);
	free(s->res);
	free(s->slots);
	free(s);
}

/* ---- aggregation ----------------------------------------------------------- */

size_t ctl_scrape_build_input(const ctl_pod_t *pods, size_t npods,
                              const ctl_scrape_result_t *results, size_t nresults,
                              autoscale_pod_t *out)
{
	size_t k = 0, with = 0;
	for (size_t i = 0; i < npods; i++) {
		const ctl_pod_t *p = &pods[i];
		autoscale_pod_t *a = &out[i];
		memset(a, 0, sizeof(*a));
		a->name = p->name;
		a->phase = p->phase;
		a->ready = p->ready;
		a->deleted = p->deleted;
		a->has_start_time = p->has_start_time;
		a->start_time = p->start_time;
		a->has_ready_transition = p->has_ready_transition;
		a->ready_transition_time = p->ready_transition_time;
		if (!ctl_pod_scrapable(p))
			continue;
		if (k < nresults && results[k].kind == CTL_SCRAPE_OK) {
			a->has_metrics = true;
			a->metrics = results[k].metrics;
			with++;
		}
		k++;
	}
	return with;
}

#include "leader.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apply.h"
#include "base/clock.h"
#include "base/log.h"

/* ---- pure part ------------------------------------------------------------ */

static void copy_str(char *dst, size_t cap, const cJSON *v)
{
	snprintf(dst, cap, "%s", cJSON_IsString(v) ? v->valuestring : "");
}

void ctl_lease_read(const cJSON *lease, ctl_lease_rec_t *out)
{
	memset(out, 0, sizeof(*out));
	const cJSON *spec = cJSON_GetObjectItemCaseSensitive(lease, "spec");
	copy_str(out->holder, sizeof(out->holder),
	         cJSON_GetObjectItemCaseSensitive(spec, "holderIdentity"));
	copy_str(out->acquire_time, sizeof(out->acquire_time),
	         cJSON_GetObjectItemCaseSensitive(spec, "acquireTime"));
	copy_str(out->renew_time, sizeof(out->renew_time),
	         cJSON_GetObjectItemCaseSensitive(spec, "renewTime"));
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(spec, "leaseDurationSeconds");
	if (cJSON_IsNumber(d))
		out->duration_s = (int32_t)d->valuedouble;
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(spec, "leaseTransitions");
	if (cJSON_IsNumber(t))
		out->transitions = (int32_t)t->valuedouble;
}

bool ctl_lease_try(const ctl_lease_rec_t *old, bool exists, bool old_valid, const char *me,
                   int32_t duration_s, double now_wall, ctl_lease_rec_t *next)
{
	char now[40];
	ctl_format_time(now_wall, true, now, sizeof(now));
	memset(next, 0, sizeof(*next));
	snprintf(next->holder, sizeof(next->holder), "%s", me);
	next->duration_s = duration_s;
	snprintf(next->renew_time, sizeof(next->renew_time), "%s", now);
	if (!exists) {
		snprintf(next->acquire_time, sizeof(next->acquire_time), "%s", now);
		next->transitions = 0;
		return true;
	}
	bool mine = strcmp(old->holder, me) == 0;
	if (old->holder[0] && old_valid && !mine)
		return false;
	if (mine) {
		snprintf(next->acquire_time, sizeof(next->acquire_time), "%s",
		         old->acquire_time[0] ? old->acquire_time : now);
		next->transitions = old->transitions;
	} else {
		snprintf(next->acquire_time, sizeof(next->acquire_time), "%s", now);
		next->transitions = old->transitions + 1;
	}
	return true;
}

int ctl_lease_write(cJSON *obj, const ctl_lease_rec_t *rec)
{
	cJSON_DeleteItemFromObjectCaseSensitive(obj, "spec");
	cJSON *spec = cJSON_AddObjectToObject(obj, "spec");
	if (!spec)
		return -1;
	if (!cJSON_AddStringToObject(spec, "holderIdentity", rec->holder) ||
	    !cJSON_AddNumberToObject(spec, "leaseDurationSeconds", rec->duration_s) ||
	    !cJSON_AddNumberToObject(spec, "leaseTransitions", rec->transitions))
		return -1;
	if (rec->acquire_time[0] &&
	    !cJSON_AddStringToObject(spec, "acquireTime", rec->acquire_time))
		return -1;
	if (rec->renew_time[0] && !cJSON_AddStringToObject(spec, "renewTime", rec->renew_time))
		return -1;
	return 0;
}

/* ---- the elector ------------------------------------------------------------ */

struct ctl_leader {
	kube_client_t *client;
	kube_loop_t *loop;
	ctl_metrics_t *metrics;
	char *ns, *name, *identity;
	int64_t lease_ms, deadline_ms, retry_ms;
	ctl_leader_fn fn;
	void *arg;
	kube_timer_t *timer;
	kube_call_t *call;
	bool leading;
	bool stopped;
	int64_t renewed_ms;  /* monotonic start of the last successful acquire/renew */
	int64_t attempt_ms;  /* start of the attempt in flight */
	char *observed;      /* last seen spec, printed */
	int64_t observed_ms; /* when it last changed */
	int32_t observed_dur_s;
	cJSON *last; /* last Lease object seen (for release) */
	void (*release_done)(void *);
	void *release_arg;
};

static void set_leading(ctl_leader_t *l, bool on)
{
	if (l->leading == on)
		return;
	l->leading = on;
	ctl_metrics_set_leader(l->metrics, on);
	base_log(on ? BASE_LOG_INFO : BASE_LOG_WARN, on ? "leader_acquired" : "leader_lost",
	         "lease", l->name, "namespace", l->ns, "identity", l->identity, (char *)NULL);
	if (l->fn)
		l->fn(on, l->arg);
}

bool ctl_leader_leading(ctl_leader_t *l)
{
	if (!l || !l->leading)
		return false;
	if (kube_loop_now_ms(l->loop) - l->renewed_ms >= l->deadline_ms) {
		set_leading(l, false);
		return false;
	}
	return true;
}

static void attempt_failed(ctl_leader_t *l, const char *why)
{
	if (l->leading) {
		base_log(BASE_LOG_WARN, "leader_renew_failed", "lease", l->name, "error", why,
		         (char *)NULL);
		(void)ctl_leader_leading(l); /* drops leadership past the deadline */
	} else {
		base_log(BASE_LOG_DEBUG, "leader_acquire_failed", "lease", l->name, "error", why,
		         (char *)NULL);
	}
}

static void on_write(kube_result_t *res, void *arg)
{
	ctl_leader_t *l = arg;
	l->call = NULL;
	ctl_metrics_api(l->metrics, "update", res->http_status);
	if (res->err != 0) {
		attempt_failed(l, res->errmsg);
		return;
	}
	cJSON_Delete(l->last);
	l->last = kube_result_take_obj(res);
	l->renewed_ms = l->attempt_ms;
	/* What we wrote is now the observed record. */
	free(l->observed);
	l->observed = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(l->last, "spec"));
	l->observed_ms = kube_loop_now_ms(l->loop);
	set_leading(l, true);
}

static void write_lease(ctl_leader_t *l, cJSON *obj, bool create)
{
	char *body = cJSON_PrintUnformatted(obj);
	if (!body) {
		attempt_failed(l, "out of memory");
		return;
	}
	int rc = create ? kube_create(l->client, &KUBE_RES_LEASES, l->ns, body, on_write, l,
	                              &l->call)
	                : kube_update(l->client, &KUBE_RES_LEASES, l->ns, l->name, body, on_write,
	                              l, &l->call);
	free(body);
	if (rc != 0) {
		l->call = NULL;
		attempt_failed(l, kube_strerror(rc));
	}
}

static void on_get(kube_result_t *res, void *arg)
{
	ctl_leader_t *l = arg;
	l->call = NULL;
	ctl_metrics_api(l->metrics, "get", res->http_status);
	int64_t now = kube_loop_now_ms(l->loop);
	ctl_lease_rec_t old, next;
	memset(&old, 0, sizeof(old));
	bool exists = true;
	cJSON *obj = NULL;
	if (res->err == KUBE_EAPI && res->status.code == 404) {
		exists = false;
		obj = cJSON_CreateObject();
		if (!obj) {
			attempt_failed(l, "out of memory");
			return;
		}
		cJSON_AddStringToObject(obj, "apiVersion", "coordination.k8s.io/v1");
		cJSON_AddStringToObject(obj, "kind", "Lease");
		cJSON *meta = cJSON_AddObjectToObject(obj, "metadata");
		cJSON_AddStringToObject(meta, "name", l->name);
		cJSON_AddStringToObject(meta, "namespace", l->ns);
	} else if (res->err != 0) {
		attempt_failed(l, res->errmsg);
		return;
	} else {
		obj = kube_result_take_obj(res);
		ctl_lease_read(obj, &old);
		char *spec = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(obj, "spec"));
		if (!l->observed || !spec || strcmp(spec, l->observed) != 0) {
			free(l->observed);
			l->observed = spec;
			l->observed_ms = now;
			spec = NULL;
		}
		free(spec);
		l->observed_dur_s = old.duration_s;
		cJSON_Delete(l->last);
		l->last = cJSON_Duplicate(obj, 1);
	}
	bool valid = exists && l->observed_ms + (int64_t)l->observed_dur_s * 1000 > now;
	if (!ctl_lease_try(&old, exists, valid, l->identity, (int32_t)(l->lease_ms / 1000),
	                   (double)base_wall_ms() / 1000.0, &next)) {
		cJSON_Delete(obj);
		if (l->leading) {
			/* Someone else holds it: we lost it. */
			set_leading(l, false);
		}
		return;
	}
	if (ctl_lease_write(obj, &next) != 0) {
		cJSON_Delete(obj);
		attempt_failed(l, "out of memory");
		return;
	}
	write_lease(l, obj, !exists);
	cJSON_Delete(obj);
}

static int64_t tick(kube_loop_t *loop, void *arg)
{
	(void)loop;
	ctl_leader_t *l = arg;
	if (l->stopped) {
		l->timer = NULL;
		return -1;
	}
	(void)ctl_leader_leading(l);
	if (l->call)
		return l->retry_ms; /* the previous attempt is still running */
	l->attempt_ms = kube_loop_now_ms(l->loop);
	if (kube_get(l->client, &KUBE_RES_LEASES, l->ns, l->name, on_get, l, &l->call) != 0) {
		l->call = NULL;
		attempt_failed(l, "cannot start the request");
	}
	return l->retry_ms;
}

ctl_leader_t *ctl_leader_new(kube_client_t *client, const ctl_leader_opts_t *o,
                             ctl_metrics_t *metrics, ctl_leader_fn fn, void *arg, char *err,
                             size_t errlen)
{
	if (!o->ns || !o->ns[0] || !o->name || !o->name[0] || !o->identity || !o->identity[0]) {
		snprintf(err, errlen,
		         "leader election needs a namespace, a lease name and an identity");
		return NULL;
	}
	ctl_leader_t *l = calloc(1, sizeof(*l));
	if (!l)
		goto fail;
	l->client = client;
	l->loop = kube_client_loop(client);
	l->metrics = metrics;
	l->fn = fn;
	l->arg = arg;
	l->lease_ms = o->lease_ms > 0 ? o->lease_ms : 15000;
	l->deadline_ms = o->renew_deadline_ms > 0 ? o->renew_deadline_ms : 10000;
	l->retry_ms = o->retry_ms > 0 ? o->retry_ms : 2000;
	l->ns = strdup(o->ns);
	l->name = strdup(o->name);
	l->identity = strdup(o->identity);
	if (!l->ns || !l->name || !l->identity)
		goto fail;
	l->timer = kube_loop_timer_add(l->loop, 0, tick, l);
	if (!l->timer)
		goto fail;
	return l;
fail:
	snprintf(err, errlen, "out of memory");
	ctl_leader_free(l);
	return NULL;
}

static void on_release(kube_result_t *res, void *arg)
{
	ctl_leader_t *l = arg;
	l->call = NULL;
	ctl_metrics_api(l->metrics, "update", res->http_status);
	if (res->err != 0)
		base_log(BASE_LOG_WARN, "leader_release_failed", "lease", l->name, "error",
		         res->errmsg, (char *)NULL);
	else
		base_log(BASE_LOG_INFO, "leader_released", "lease", l->name, "identity",
		         l->identity, (char *)NULL);
	if (l->release_done)
		l->release_done(l->release_arg);
}

void ctl_leader_release(ctl_leader_t *l, void (*done)(void *arg), void *arg)
{
	l->stopped = true;
	kube_loop_timer_cancel(l->loop, l->timer);
	l->timer = NULL;
	kube_call_cancel(l->call);
	l->call = NULL;
	bool was = ctl_leader_leading(l);
	l->leading = false;
	ctl_metrics_set_leader(l->metrics, false);
	if (!was || !l->last) {
		done(arg);
		return;
	}
	ctl_lease_rec_t old, rel;
	ctl_lease_read(l->last, &old);
	memset(&rel, 0, sizeof(rel));
	/* client-go ReleaseOnCancel: empty holder, 1 s duration, times now. */
	char now[40];
	ctl_format_time((double)base_wall_ms() / 1000.0, true, now, sizeof(now));
	rel.duration_s = 1;
	rel.transitions = old.transitions;
	snprintf(rel.acquire_time, sizeof(rel.acquire_time), "%s", now);
	snprintf(rel.renew_time, sizeof(rel.renew_time), "%s", now);
	cJSON *obj = cJSON_Duplicate(l->last, 1);
	char *body = NULL;
	if (obj && ctl_lease_write(obj, &rel) == 0)
		body = cJSON_PrintUnformatted(obj);
	cJSON_Delete(obj);
	l->release_done = done;
	l->release_arg = arg;
	if (!body || kube_update(l->client, &KUBE_RES_LEASES, l->ns, l->name, body, on_release, l,
	                         &l->call) != 0) {
		l->call = NULL;
		free(body);
		done(arg);
		return;
	}
	free(body);
}

void ctl_leader_free(ctl_leader_t *l)
{
	if (!l)
		return;
	kube_loop_timer_cancel(l->loop, l->timer);
	kube_call_cancel(l->call);
	cJSON_Delete(l->last);
	free(l->observed);
	free(l->ns);
	free(l->name);
	free(l->identity);
	free(l);
}

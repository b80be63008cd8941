#include "kube/informer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "kubeapi/kubeapi.h"
#include "kube/store.h"

struct kube_informer {
	kube_client_t *c;
	kube_informer_handlers_t h;
	void *arg;
	kube_resource_t res;
	char *ns, *label, *field;
	int64_t resync_ms;
	long page_size;
	long watch_timeout_s;
	bool keep_mf;
	bool started;
	bool synced;
	int busy;   /* inside a handler call chain */
	bool dying; /* freed from a handler: finish later */
	char rv[64];
	kube_store_t *store;
	kube_store_t *pending; /* pages of a list in progress */
	char list_rv[64];
	kube_call_t *call;
	kube_timer_t *retry_timer;
	kube_timer_t *resync_timer;
	int failures;
	kube_backoff_t backoff;
	uint64_t rnd;
	kube_informer_stats_t st;
};

static void start_list(kube_informer_t *inf, const char *cont);
static void start_watch(kube_informer_t *inf);

static char *dups(const char *s)
{
	return s && s[0] ? strdup(s) : NULL;
}

kube_informer_t *kube_informer_new(kube_client_t *c, const kube_informer_opts_t *o,
                                   const kube_informer_handlers_t *h, void *arg, char *err,
                                   size_t errlen)
{
	kube_informer_t *inf;

	if (c == NULL || o == NULL || o->res == NULL) {
		snprintf(err, errlen, "informer: client and resource are required");
		return NULL;
	}
	if (kubeapi_selectors_validate(o->label_selector, o->field_selector, err, errlen) != 0)
		return NULL;
	inf = calloc(1, sizeof(*inf));
	if (inf == NULL)
		goto nomem;
	inf->c = c;
	if (h)
		inf->h = *h;
	inf->arg = arg;
	inf->res = *o->res;
	inf->ns = dups(o->ns);
	inf->label = dups(o->label_selector);
	inf->field = dups(o->field_selector);
	if ((o->ns && o->ns[0] && !inf->ns) ||
	    (o->label_selector && o->label_selector[0] && !inf->label) ||
	    (o->field_selector && o->field_selector[0] && !inf->field))
		goto nomem;
	inf->resync_ms = o->resync_ms;
	inf->page_size = o->page_size > 0 ? o->page_size : 500;
	inf->watch_timeout_s = o->watch_timeout_s;
	inf->keep_mf = o->keep_managed_fields;
	inf->store = kube_store_new();
	if (inf->store == NULL)
		goto nomem;
	kube_backoff_default(&inf->backoff);
	inf->backoff.max_retries = 1 << 30;
	inf->rnd = (uint64_t)base_now_ns() | 1;
	return inf;
nomem:
	snprintf(err, errlen, "out of memory");
	kube_informer_free(inf);
	return NULL;
}

static void destroy(kube_informer_t *inf)
{
	kube_loop_t *loop = kube_client_loop(inf->c);
	kube_call_cancel(inf->call);
	kube_loop_timer_cancel(loop, inf->retry_timer);
	kube_loop_timer_cancel(loop, inf->resync_timer);
	kube_store_free(inf->store);
	kube_store_free(inf->pending);
	free(inf->ns);
	free(inf->label);
	free(inf->field);
	free(inf);
}

void kube_informer_free(kube_informer_t *inf)
{
	if (inf == NULL)
		return;
	if (inf->busy > 0) {
		/* Called from a handler: stop traffic now, free when it returns. */
		inf->dying = true;
		kube_call_cancel(inf->call);
		inf->call = NULL;
		return;
	}
	destroy(inf);
}

/* Brackets handler calls; returns true when the informer went away. */
static void enter(kube_informer_t *inf)
{
	inf->busy++;
}
static bool leave(kube_informer_t *inf)
{
	inf->busy--;
	if (inf->busy == 0 && inf->dying) {
		destroy(inf);
		return true;
	}
	return inf->dying;
}

static void set_rv(kube_informer_t *inf, const char *rv)
{
	if (rv && rv[0])
		snprintf(inf->rv, sizeof(inf->rv), "%s", rv);
}

static void strip(kube_informer_t *inf, cJSON *obj)
{
	cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	if (!inf->keep_mf && m)
		cJSON_DeleteItemFromObjectCaseSensitive(m, "managedFields");
}

static double rnd01(kube_informer_t *inf)
{
	inf->rnd ^= inf->rnd << 13;
	inf->rnd ^= inf->rnd >> 7;
	inf->rnd ^= inf->rnd << 17;
	return (double)(inf->rnd >> 11) / 9007199254740992.0;
}

static int64_t retry_fire(kube_loop_t *loop, void *arg)
{
	kube_informer_t *inf = arg;
	(void)loop;
	inf->retry_timer = NULL;
	start_list(inf, NULL);
	return -1;
}

static void relist_later(kube_informer_t *inf, const char *why)
{
	int64_t d;
	char ds[32];
	inf->failures++;
	inf->st.errors++;
	d = kube_retry_delay(&inf->backoff, inf->failures, -1, rnd01(inf));
	base_log(BASE_LOG_WARN, "kube_informer_retry", "resource", inf->res.resource, "error", why,
	         "delay", base_format_duration_ms(d, ds, sizeof(ds)), (char *)NULL);
	kube_store_free(inf->pending);
	inf->pending = NULL;
	inf->retry_timer = kube_loop_timer_add(kube_client_loop(inf->c), d, retry_fire, inf);
}

/* ---- relist: diff pending against the store ---- */

struct diff_ctx {
	kube_informer_t *inf;
	kube_store_t *gone; /* collects objects no longer present */
};

static void diff_new(const cJSON *obj, void *arg)
{
	kube_informer_t *inf = arg;
	const cJSON *old = kube_store_get(inf->store, kube_obj_namespace(obj), kube_obj_name(obj));
	if (inf->dying)
		return;
	if (old == NULL) {
		if (inf->h.on_add)
			inf->h.on_add(obj, inf->arg);
	} else {
		const char *a = kube_obj_rv(old), *b = kube_obj_rv(obj);
		if (inf->h.on_update && !(a && b && strcmp(a, b) == 0))
			inf->h.on_update(old, obj, inf->arg);
	}
}

static void diff_old(const cJSON *obj, void *arg)
{
	kube_informer_t *inf = arg;
	if (inf->dying)
		return;
	if (kube_store_get(inf->pending, kube_obj_namespace(obj), kube_obj_name(obj)) == NULL &&
	    inf->h.on_delete)
		inf->h.on_delete(obj, inf->arg);
}

static void list_complete(kube_informer_t *inf)
{
	kube_store_t *old = inf->store;

	inf->st.lists++;
	inf->failures = 0;
	set_rv(inf, inf->list_rv);
	enter(inf);
	/* Handlers see the old store through kube_informer_get until the swap,
	 * as client-go's Replace delivers deltas against the old cache. */
	kube_store_foreach(inf->pending, diff_new, inf);
	kube_store_foreach(old, diff_old, inf);
	inf->store = inf->pending;
	inf->pending = NULL;
	kube_store_free(old);
	inf->synced = true;
	if (!inf->dying && inf->h.on_synced)
		inf->h.on_synced(inf->arg);
	if (leave(inf))
		return;
	start_watch(inf);
}

static void list_cb(kube_result_t *res, void *arg)
{
	kube_informer_t *inf = arg;
	cJSON *items, *it;
	const cJSON *meta, *cont, *rv;

	inf->call = NULL;
	if (res->err != 0) {
		if (res->err == KUBE_EAPI && res->status.code == 410) {
			/* The continue token expired: start over. */
			kube_store_free(inf->pending);
			inf->pending = NULL;
			inf->st.relists_410++;
			start_list(inf, NULL);
			return;
		}
		relist_later(inf, res->errmsg);
		return;
	}
	items = cJSON_GetObjectItemCaseSensitive(res->obj, "items");
	meta = cJSON_GetObjectItemCaseSensitive(res->obj, "metadata");
	rv = meta ? cJSON_GetObjectItemCaseSensitive(meta, "resourceVersion") : NULL;
	cont = meta ? cJSON_GetObjectItemCaseSensitive(meta, "continue") : NULL;
	if (!cJSON_IsArray(items) && !cJSON_IsNull(items) && items != NULL) {
		relist_later(inf, "list response without items");
		return;
	}
	if (cJSON_IsString(rv))
		snprintf(inf->list_rv, sizeof(inf->list_rv), "%s", rv->valuestring);
	while (items && (it = cJSON_DetachItemFromArray(items, 0)) != NULL) {
		strip(inf, it);
		if (kube_obj_namespace(it) == NULL && inf->res.namespaced && inf->ns) {
			cJSON *m = cJSON_GetObjectItemCaseSensitive(it, "metadata");
			if (m)
				cJSON_AddStringToObject(m, "namespace", inf->ns);
		}
		kube_store_put(inf->pending, it, NULL);
	}
	if (cJSON_IsString(cont) && cont->valuestring[0]) {
		char tok[4096];
		snprintf(tok, sizeof(tok), "%s", cont->valuestring);
		start_list(inf, tok);
		return;
	}
	list_complete(inf);
}

static void start_list(kube_informer_t *inf, const char *cont)
{
	kube_list_opts_t o;
	int rc;

	if (cont == NULL) {
		kube_store_free(inf->pending);
		inf->pending = kube_store_new();
		if (inf->pending == NULL) {
			relist_later(inf, "out of memory");
			return;
		}
	}
	memset(&o, 0, sizeof(o));
	o.label_selector = inf->label;
	o.field_selector = inf->field;
	o.limit = inf->page_size;
	o.continue_token = cont;
	rc = kube_list(inf->c, &inf->res, inf->ns, &o, list_cb, inf, &inf->call);
	if (rc != 0)
		relist_later(inf, kube_strerror(rc));
}

static void watch_ev(kube_event_type_t t, const cJSON *obj, void *arg)
{
	kube_informer_t *inf = arg;
	const char *ns = kube_obj_namespace(obj);
	const char *name = kube_obj_name(obj);
	cJSON *copy, *old = NULL;

	set_rv(inf, kube_obj_rv(obj));
	if (t == KUBE_EV_BOOKMARK)
		return;
	if (name == NULL)
		return;
	inf->st.events++;
	enter(inf);
	if (t == KUBE_EV_DELETED) {
		old = kube_store_remove(inf->store, ns, name);
		if (inf->h.on_delete)
			inf->h.on_delete(obj, inf->arg);
		cJSON_Delete(old);
		leave(inf);
		return;
	}
	copy = cJSON_Duplicate(obj, 1);
	if (copy == NULL) {
		leave(inf);
		return;
	}
	strip(inf, copy);
	if (kube_store_put(inf->store, copy, &old) == 0) {
		const cJSON *now = kube_store_get(inf->store, ns, name);
		if (old == NULL && inf->h.on_add)
			inf->h.on_add(now, inf->arg);
		else if (old != NULL && inf->h.on_update)
			inf->h.on_update(old, now, inf->arg);
	}
	cJSON_Delete(old);
	leave(inf);
}

static void watch_end(kube_result_t *res, void *arg)
{
	kube_informer_t *inf = arg;
	inf->call = NULL;
	if (res->err == 0) {
		start_watch(inf); /* server timeout: carry on from the last rv */
		return;
	}
	if (res->err == KUBE_EAPI && res->status.code == 410) {
		inf->st.relists_410++;
		start_list(inf, NULL);
		return;
	}
	relist_later(inf, res->errmsg);
}

static void start_watch(kube_informer_t *inf)
{
	kube_list_opts_t o;
	int rc;
	memset(&o, 0, sizeof(o));
	o.label_selector = inf->label;
	o.field_selector = inf->field;
	o.resource_version = inf->rv;
	o.allow_bookmarks = true;
	o.timeout_s = inf->watch_timeout_s;
	inf->st.watches++;
	rc = kube_watch(inf->c, &inf->res, inf->ns, &o, watch_ev, watch_end, inf, &inf->call);
	if (rc != 0)
		relist_later(inf, kube_strerror(rc));
}

struct resync_ctx {
	kube_informer_t *inf;
};

static void resync_one(const cJSON *obj, void *arg)
{
	kube_informer_t *inf = arg;
	if (!inf->dying && inf->h.on_update)
		inf->h.on_update(obj, obj, inf->arg);
}

static int64_t resync_tick(kube_loop_t *loop, void *arg)
{
	kube_informer_t *inf = arg;
	(void)loop;
	if (!inf->synced)
		return inf->resync_ms;
	enter(inf);
	kube_store_foreach(inf->store, resync_one, inf);
	if (inf->busy == 1 && inf->dying) {
		/* Freed from a resync handler: the loop frees this timer when we
		 * return -1, so forget it before destroying. */
		inf->resync_timer = NULL;
		leave(inf);
		return -1;
	}
	leave(inf);
	return inf->resync_ms;
}

int kube_informer_start(kube_informer_t *inf)
{
	if (inf->started)
		return KUBE_ESTATE;
	inf->started = true;
	if (inf->resync_ms > 0) {
		inf->resync_timer = kube_loop_timer_add(kube_client_loop(inf->c), inf->resync_ms,
		                                        resync_tick, inf);
		if (inf->resync_timer == NULL)
			return KUBE_ENOMEM;
	}
	start_list(inf, NULL);
	return 0;
}

bool kube_informer_synced(const kube_informer_t *inf)
{
	return inf->synced;
}

const cJSON *kube_informer_get(const kube_informer_t *inf, const char *ns, const char *name)
{
	return kube_store_get(inf->store, ns, name);
}

size_t kube_informer_count(const kube_informer_t *inf)
{
	return kube_store_count(inf->store);
}

void kube_informer_foreach(const kube_informer_t *inf, void (*fn)(const cJSON *obj, void *arg),
                           void *arg)
{
	kube_store_foreach(inf->store, fn, arg);
}

const char *kube_informer_rv(const kube_informer_t *inf)
{
	return inf->rv;
}

void kube_informer_stats(const kube_informer_t *inf, kube_informer_stats_t *st)
{
	*st = inf->st;
}

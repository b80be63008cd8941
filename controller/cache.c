#include "cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "kube/selector.h"

#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000

typedef struct {
	char *ns;
	char *name;
	cJSON *obj;
} item_t;

struct ctl_cache {
	kube_client_t *client;
	kube_loop_t *loop;
	const kube_resource_t *res;
	char *ns;
	char *selector;
	ctl_metrics_t *metrics;
	ctl_cache_fn fn;
	void *arg;
	item_t *items;
	size_t n, cap;
	bool synced;
	char rv[64];
	kube_call_t *call;
	kube_timer_t *timer;
	int64_t backoff_ms;
	unsigned relists;
};

static void start_list(ctl_cache_t *c);
static void start_watch(ctl_cache_t *c);

static char *dup_or_empty(const char *s)
{
	return strdup(s ? s : "");
}

ctl_cache_t *ctl_cache_new(kube_client_t *client, const kube_resource_t *res, const char *ns,
                           const char *selector, ctl_metrics_t *metrics, ctl_cache_fn fn, void *arg,
                           char *err, size_t errlen)
{
	ctl_cache_t *c = NULL;
	if (selector && selector[0]) {
		kube_selector_t *sel = NULL;
		if (kube_selector_parse(selector, &sel, err, errlen) != 0)
			return NULL;
		kube_selector_free(sel);
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		goto fail;
	c->client = client;
	c->loop = kube_client_loop(client);
	c->res = res;
	c->metrics = metrics;
	c->fn = fn;
	c->arg = arg;
	c->ns = dup_or_empty(ns);
	c->selector = dup_or_empty(selector);
	if (!c->ns || !c->selector)
		goto fail;
	c->backoff_ms = BACKOFF_MIN_MS;
	start_list(c);
	return c;
fail:
	snprintf(err, errlen, "out of memory");
	ctl_cache_free(c);
	return NULL;
}

static void items_clear(item_t *items, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(items[i].ns);
		free(items[i].name);
		cJSON_Delete(items[i].obj);
	}
}

void ctl_cache_free(ctl_cache_t *c)
{
	if (!c)
		return;
	kube_call_cancel(c->call);
	kube_loop_timer_cancel(c->loop, c->timer);
	items_clear(c->items, c->n);
	free(c->items);
	free(c->ns);
	free(c->selector);
	free(c);
}

bool ctl_cache_synced(const ctl_cache_t *c)
{
	return c && c->synced;
}
const char *ctl_cache_selector(const ctl_cache_t *c)
{
	return c->selector;
}
size_t ctl_cache_len(const ctl_cache_t *c)
{
	return c ? c->n : 0;
}
const cJSON *ctl_cache_at(const ctl_cache_t *c, size_t i)
{
	return i < c->n ? c->items[i].obj : NULL;
}
unsigned ctl_cache_relists(const ctl_cache_t *c)
{
	return c->relists;
}

static ssize_t find(const item_t *items, size_t n, const char *ns, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(items[i].name, name) == 0 && strcmp(items[i].ns, ns) == 0)
			return (ssize_t)i;
	return -1;
}

const cJSON *ctl_cache_get(const ctl_cache_t *c, const char *ns, const char *name)
{
	if (!c || !name)
		return NULL;
	ssize_t i = find(c->items, c->n, ns ? ns : "", name);
	return i < 0 ? NULL : c->items[i].obj;
}

static const char *verb_name(const ctl_cache_t *c, bool watch)
{
	(void)c;
	return watch ? "watch" : "list";
}

static void emit(ctl_cache_t *c, kube_event_type_t t, const cJSON *obj)
{
	if (c->fn)
		c->fn(c, t, obj, c->arg);
}

static int64_t retry_timer(kube_loop_t *loop, void *arg)
{
	(void)loop;
	ctl_cache_t *c = arg;
	c->timer = NULL;
	start_list(c);
	return -1;
}

static void relist_later(ctl_cache_t *c, const char *why)
{
	char ms[24];
	snprintf(ms, sizeof(ms), "%lld", (long long)c->backoff_ms);
	base_log(BASE_LOG_WARN, "cache_relist", "resource", c->res->resource, "namespace",
	         c->ns[0] ? c->ns : "(all)", "error", why, "backoff_ms", ms, (char *)NULL);
	kube_loop_timer_cancel(c->loop, c->timer);
	c->timer = kube_loop_timer_add(c->loop, c->backoff_ms, retry_timer, c);
	c->backoff_ms *= 2;
	if (c->backoff_ms > BACKOFF_MAX_MS)
		c->backoff_ms = BACKOFF_MAX_MS;
}

/* Upserts obj (takes ownership). Returns the event to emit, or -1 when the
 * object did not change (same resourceVersion). */
static int upsert(ctl_cache_t *c, cJSON *obj)
{
	const char *ns = kube_obj_namespace(obj);
	const char *name = kube_obj_name(obj);
	if (!name) {
		cJSON_Delete(obj);
		return -1;
	}
	if (!ns)
		ns = "";
	ssize_t i = find(c->items, c->n, ns, name);
	if (i >= 0) {
		const char *a = kube_obj_rv(c->items[i].obj);
		const char *b = kube_obj_rv(obj);
		if (a && b && strcmp(a, b) == 0) {
			cJSON_Delete(obj);
			return -1;
		}
		cJSON_Delete(c->items[i].obj);
		c->items[i].obj = obj;
		return KUBE_EV_MODIFIED;
	}
	if (c->n == c->cap) {
		size_t nc = c->cap ? c->cap * 2 : 16;
		item_t *ni = realloc(c->items, nc * sizeof(*ni));
		if (!ni) {
			cJSON_Delete(obj);
			return -1;
		}
		c->items = ni;
		c->cap = nc;
	}
	item_t *it = &c->items[c->n];
	it->ns = strdup(ns);
	it->name = strdup(name);
	if (!it->ns || !it->name) {
		free(it->ns);
		free(it->name);
		cJSON_Delete(obj);
		return -1;
	}
	it->obj = obj;
	c->n++;
	return KUBE_EV_ADDED;
}

static void set_rv(ctl_cache_t *c, const char *rv)
{
	if (rv)
		snprintf(c->rv, sizeof(c->rv), "%s", rv);
}

static void on_watch_event(kube_event_type_t type, const cJSON *obj, void *arg)
{
	ctl_cache_t *c = arg;
	set_rv(c, kube_obj_rv(obj));
	if (type == KUBE_EV_BOOKMARK)
		return;
	if (type == KUBE_EV_DELETED) {
		const char *ns = kube_obj_namespace(obj);
		const char *name = kube_obj_name(obj);
		if (!name)
			return;
		ssize_t i = find(c->items, c->n, ns ? ns : "", name);
		if (i < 0)
			return;
		item_t gone = c->items[i];
		c->items[i] = c->items[c->n - 1];
		c->n--;
		emit(c, KUBE_EV_DELETED, gone.obj);
		items_clear(&gone, 1);
		return;
	}
	cJSON *copy = cJSON_Duplicate(obj, 1);
	if (!copy)
		return;
	int ev = upsert(c, copy);
	if (ev >= 0) {
		ssize_t i =
		        find(c->items, c->n, kube_obj_namespace(obj) ? kube_obj_namespace(obj) : "",
		             kube_obj_name(obj));
		if (i >= 0)
			emit(c, (kube_event_type_t)ev, c->items[i].obj);
	}
}

static void on_watch_end(kube_result_t *res, void *arg)
{
	ctl_cache_t *c = arg;
	c->call = NULL;
	ctl_metrics_api(c->metrics, verb_name(c, true), res->http_status);
	if (res->err == 0) {
		start_watch(c);
		return;
	}
	c->relists++;
	if (res->err == KUBE_EAPI && res->status.code == 410) {
		start_list(c);
		return;
	}
	relist_later(c, res->errmsg);
}

static void start_watch(ctl_cache_t *c)
{
	kube_list_opts_t o = {0};
	o.label_selector = c->selector[0] ? c->selector : NULL;
	o.resource_version = c->rv;
	o.allow_bookmarks = true;
	if (kube_watch(c->client, c->res, c->ns[0] ? c->ns : NULL, &o, on_watch_event, on_watch_end,
	               c, &c->call) != 0) {
		c->call = NULL;
		relist_later(c, "cannot start the watch");
	}
}

static void on_list(kube_result_t *res, void *arg)
{
	ctl_cache_t *c = arg;
	c->call = NULL;
	ctl_metrics_api(c->metrics, verb_name(c, false), res->http_status);
	if (res->err != 0) {
		relist_later(c, res->errmsg);
		return;
	}
	const cJSON *items = cJSON_GetObjectItemCaseSensitive(res->obj, "items");
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(res->obj, "metadata");
	const cJSON *rv = cJSON_GetObjectItemCaseSensitive(meta, "resourceVersion");
	set_rv(c, cJSON_IsString(rv) ? rv->valuestring : "");

	/* Move the old items aside; what is not listed again has been deleted. */
	item_t *old = c->items;
	size_t nold = c->n;
	bool *seen = calloc(nold ? nold : 1, sizeof(bool));
	if (!seen) {
		relist_later(c, "out of memory");
		return;
	}
	c->items = NULL;
	c->n = c->cap = 0;
	const cJSON *it;
	cJSON_ArrayForEach(it, items)
	{
		const char *ns = kube_obj_namespace(it);
		const char *name = kube_obj_name(it);
		if (!name)
			continue;
		cJSON *copy = cJSON_Duplicate(it, 1);
		if (!copy)
			continue;
		/* The list's items carry no kind; consumers do not need it. */
		if (upsert(c, copy) != KUBE_EV_ADDED)
			continue;
		ssize_t o = find(old, nold, ns ? ns : "", name);
		const char *nrv = kube_obj_rv(copy);
		if (o >= 0) {
			seen[o] = true;
			const char *orv = kube_obj_rv(old[o].obj);
			if (orv && nrv && strcmp(orv, nrv) == 0)
				continue;
			emit(c, KUBE_EV_MODIFIED, copy);
		} else {
			emit(c, KUBE_EV_ADDED, copy);
		}
	}
	for (size_t i = 0; i < nold; i++)
		if (!seen[i])
			emit(c, KUBE_EV_DELETED, old[i].obj);
	items_clear(old, nold);
	free(old);
	free(seen);
	c->synced = true;
	c->backoff_ms = BACKOFF_MIN_MS;
	start_watch(c);
}

static void start_list(ctl_cache_t *c)
{
	kube_list_opts_t o = {0};
	o.label_selector = c->selector[0] ? c->selector : NULL;
	if (kube_list(c->client, c->res, c->ns[0] ? c->ns : NULL, &o, on_list, c, &c->call) != 0) {
		c->call = NULL;
		relist_later(c, "cannot start the list");
	}
}

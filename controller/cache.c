#include "cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube/informer.h"
#include "kubeapi/kubeapi.h"

struct ctl_cache {
	kube_informer_t *inf;
	char *selector;
	ctl_metrics_t *metrics;
	ctl_cache_fn fn;
	void *arg;
	unsigned lists;
};

static void on_add(const cJSON *obj, void *arg)
{
	ctl_cache_t *c = arg;
	if (c->fn)
		c->fn(c, KUBE_EV_ADDED, obj, c->arg);
}

static void on_update(const cJSON *old_obj, const cJSON *obj, void *arg)
{
	(void)old_obj;
	ctl_cache_t *c = arg;
	if (c->fn)
		c->fn(c, KUBE_EV_MODIFIED, obj, c->arg);
}

static void on_delete(const cJSON *obj, void *arg)
{
	ctl_cache_t *c = arg;
	if (c->fn)
		c->fn(c, KUBE_EV_DELETED, obj, c->arg);
}

static void on_synced(void *arg)
{
	ctl_cache_t *c = arg;
	c->lists++;
	ctl_metrics_api(c->metrics, "list", 200);
	if (c->fn)
		c->fn(c, KUBE_EV_BOOKMARK, NULL, c->arg);
}

ctl_cache_t *ctl_cache_new(kube_client_t *client, const kube_resource_t *res, const char *ns,
                           const char *selector, ctl_metrics_t *metrics, ctl_cache_fn fn, void *arg,
                           char *err, size_t errlen)
{
	if (kubeapi_selectors_validate(selector, NULL, err, errlen) != 0)
		return NULL;
	ctl_cache_t *c = calloc(1, sizeof(*c));
	if (!c)
		goto nomem;
	c->metrics = metrics;
	c->fn = fn;
	c->arg = arg;
	c->selector = strdup(selector ? selector : "");
	if (!c->selector)
		goto nomem;
	kube_informer_opts_t o = {0};
	o.res = res;
	o.ns = ns && ns[0] ? ns : NULL;
	o.label_selector = c->selector[0] ? c->selector : NULL;
	kube_informer_handlers_t h = {on_add, on_update, on_delete, on_synced};
	c->inf = kube_informer_new(client, &o, &h, c, err, errlen);
	if (!c->inf)
		goto fail;
	if (kube_informer_start(c->inf) != 0)
		goto nomem;
	return c;
nomem:
	snprintf(err, errlen, "out of memory");
fail:
	ctl_cache_free(c);
	return NULL;
}

void ctl_cache_free(ctl_cache_t *c)
{
	if (!c)
		return;
	kube_informer_free(c->inf);
	free(c->selector);
	free(c);
}

bool ctl_cache_synced(const ctl_cache_t *c)
{
	return c && kube_informer_synced(c->inf);
}
const char *ctl_cache_selector(const ctl_cache_t *c)
{
	return c->selector;
}
size_t ctl_cache_len(const ctl_cache_t *c)
{
	return c ? kube_informer_count(c->inf) : 0;
}

void ctl_cache_foreach(const ctl_cache_t *c, void (*fn)(const cJSON *obj, void *arg), void *arg)
{
	kube_informer_foreach(c->inf, fn, arg);
}

const cJSON *ctl_cache_get(const ctl_cache_t *c, const char *ns, const char *name)
{
	return c && name ? kube_informer_get(c->inf, ns, name) : NULL;
}

unsigned ctl_cache_relists(const ctl_cache_t *c)
{
	return c->lists > 0 ? c->lists - 1 : 0;
}

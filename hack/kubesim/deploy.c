#include "deploy.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/hash.h"
#include "base/log.h"
#include "kubeapi/kubeapi.h"
#include "podenv.h"

#define SYNC_MS   200
#define RESYNC_MS 5000

struct ks_deploy {
	ks_store_t *st;
	ks_loop_t *loop;
	int sub_d, sub_p, timer;
	bool dirty;
	int64_t since_full;
};

static const char *pstr(const cJSON *o, const char *path)
{
	return cJSON_GetStringValue(kubeapi_get_path(o, path));
}

/* JSON with object keys sorted, so equal templates hash equally. */
static void canon(const cJSON *j, base_buf_t *b)
{
	if (cJSON_IsObject(j)) {
		const cJSON *kids[256];
		int n = 0;
		const cJSON *c;
		cJSON_ArrayForEach(c, j)
		{
			if (n < 256)
				kids[n++] = c;
		}
		for (int i = 1; i < n; i++) {
			for (int k = i; k > 0 && strcmp(kids[k - 1]->string, kids[k]->string) > 0;
			     k--) {
				const cJSON *t = kids[k];
				kids[k] = kids[k - 1];
				kids[k - 1] = t;
			}
		}
		base_buf_appends(b, "{");
		for (int i = 0; i < n; i++) {
			base_buf_printf(b, "%s\"%s\":", i ? "," : "", kids[i]->string);
			canon(kids[i], b);
		}
		base_buf_appends(b, "}");
	} else if (cJSON_IsArray(j)) {
		const cJSON *c;
		bool first = true;
		base_buf_appends(b, "[");
		cJSON_ArrayForEach(c, j)
		{
			if (!first)
				base_buf_appends(b, ",");
			first = false;
			canon(c, b);
		}
		base_buf_appends(b, "]");
	} else {
		char *s = cJSON_PrintUnformatted(j);
		if (s)
			base_buf_appends(b, s);
		free(s);
	}
}

void ks_deploy_template_hash(const cJSON *tmpl, char *out, size_t cap)
{
	static const char al[] = "bcdfghjklmnpqrstvwxz2456789";
	base_buf_t b;
	uint32_t h;
	char dec[16];
	base_buf_init(&b, 16u << 20);
	canon(tmpl, &b);
	h = base_fnv1a(b.data, b.len);
	base_buf_free(&b);
	ks_fmt(dec, sizeof(dec), "%u", h);
	size_t i = 0;
	for (; dec[i] && i + 1 < cap; i++)
		out[i] = al[(unsigned char)dec[i] % (sizeof(al) - 1)];
	out[i] = '\0';
}

static bool pod_ready(const cJSON *pod)
{
	const cJSON *c;
	cJSON_ArrayForEach(c, kubeapi_get_path(pod, "status.conditions"))
	{
		const char *t = pstr(c, "type"), *s = pstr(c, "status");
		if (t && s && strcmp(t, "Ready") == 0)
			return strcmp(s, "True") == 0;
	}
	return false;
}

static int restarts(const cJSON *pod)
{
	int n = 0;
	const cJSON *c;
	cJSON_ArrayForEach(c, kubeapi_get_path(pod, "status.containerStatuses"))
	{
		n += (int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(c, "restartCount"));
	}
	return n;
}

/* Kubernetes' ActivePods order: the pods to delete first come first. */
static int delete_order(const void *a, const void *b)
{
	const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
	bool rx = pod_ready(x), ry = pod_ready(y);
	if (rx != ry)
		return rx ? 1 : -1;
	bool px = strcmp(pstr(x, "status.phase") ?: "", "Pending") == 0;
	bool py = strcmp(pstr(y, "status.phase") ?: "", "Pending") == 0;
	if (px != py)
		return px ? -1 : 1;
	int dx = restarts(x), dy = restarts(y);
	if (dx != dy)
		return dx > dy ? -1 : 1;
	int c = strcmp(pstr(y, "metadata.creationTimestamp") ?: "",
	               pstr(x, "metadata.creationTimestamp") ?: "");
	if (c)
		return c;
	return strcmp(pstr(y, "metadata.name") ?: "", pstr(x, "metadata.name") ?: "");
}

static void delete_pods(ks_deploy_t *d, const cJSON **pods, int n, int count)
{
	qsort(pods, (size_t)n, sizeof(pods[0]), delete_order);
	for (int i = 0; i < n && i < count; i++) {
		ks_err_t e;
		if (ks_store_delete(d->st, ks_rtype_find("", "v1", "pods"),
		                    pstr(pods[i], "metadata.namespace"),
		                    pstr(pods[i], "metadata.name"), pstr(pods[i], "metadata.uid"),
		                    NULL, 0, NULL, &e))
			base_log(BASE_LOG_WARN, "FailedDelete", "pod",
			         pstr(pods[i], "metadata.name"), "error", e.message, (char *)NULL);
	}
}

static void create_pod(ks_deploy_t *d, const cJSON *dep, const char *hash)
{
	const char *ns = pstr(dep, "metadata.namespace");
	const char *name = pstr(dep, "metadata.name");
	cJSON *pod = cJSON_Duplicate(kubeapi_get_path(dep, "spec.template"), 1);
	char gn[300];
	ks_err_t e;
	if (!pod)
		return;
	cJSON *md = cJSON_GetObjectItemCaseSensitive(pod, "metadata");
	if (!md)
		md = cJSON_AddObjectToObject(pod, "metadata");
	cJSON_DeleteItemFromObjectCaseSensitive(md, "name");
	cJSON_DeleteItemFromObjectCaseSensitive(md, "creationTimestamp");
	ks_fmt(gn, sizeof(gn), "%s-%s-", name, hash);
	cJSON_AddStringToObject(md, "generateName", gn);
	cJSON *labels = cJSON_GetObjectItemCaseSensitive(md, "labels");
	if (!labels)
		labels = cJSON_AddObjectToObject(md, "labels");
	cJSON_DeleteItemFromObjectCaseSensitive(labels, "pod-template-hash");
	cJSON_AddStringToObject(labels, "pod-template-hash", hash);
	cJSON *refs = cJSON_AddArrayToObject(md, "ownerReferences");
	cJSON *r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "apiVersion", "apps/v1");
	cJSON_AddStringToObject(r, "kind", "Deployment");
	cJSON_AddStringToObject(r, "name", name);
	cJSON_AddStringToObject(r, "uid", pstr(dep, "metadata.uid") ?: "");
	cJSON_AddBoolToObject(r, "controller", true);
	cJSON_AddBoolToObject(r, "blockOwnerDeletion", true);
	cJSON_AddItemToArray(refs, r);
	cJSON_AddStringToObject(pod, "apiVersion", "v1");
	cJSON_AddStringToObject(pod, "kind", "Pod");
	if (ks_store_create(d->st, ks_rtype_find("", "v1", "pods"), ns, pod, 0, NULL, &e))
		base_log(BASE_LOG_WARN, "FailedCreate", "deployment", name, "namespace", ns,
		         "error", e.message, (char *)NULL);
	cJSON_Delete(pod);
}

static bool owned(const cJSON *pod, const char *uid)
{
	const cJSON *r;
	cJSON_ArrayForEach(r, kubeapi_get_path(pod, "metadata.ownerReferences"))
	{
		if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "controller")) &&
		    strcmp(pstr(r, "uid") ?: "", uid) == 0)
			return true;
	}
	return false;
}

/* maxUnavailable (int or percent of replicas, rounded down). */
static int max_unavailable(const cJSON *dep, int replicas)
{
	const cJSON *mu = kubeapi_get_path(dep, "spec.strategy.rollingUpdate.maxUnavailable");
	if (cJSON_IsNumber(mu))
		return (int)mu->valuedouble;
	if (cJSON_IsString(mu)) {
		char *end;
		long pct = strtol(mu->valuestring, &end, 10);
		if (*end == '%')
			return (int)(pct * replicas / 100);
		return (int)pct;
	}
	return replicas / 4;
}

typedef struct {
	cJSON *status;
} status_ctx_t;

static int set_status_fn(cJSON **obj, void *ud, ks_err_t *e)
{
	(void)e;
	cJSON_DeleteItemFromObjectCaseSensitive(*obj, "status");
	cJSON_AddItemToObject(*obj, "status", cJSON_Duplicate(ud, 1));
	return 0;
}

static cJSON *cond(const cJSON *old_status, const char *type, bool ok, const char *reason,
                   const char *msg, const char *now)
{
	const char *since = now;
	const cJSON *c;
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(old_status, "conditions"))
	{
		if (strcmp(pstr(c, "type") ?: "", type) == 0 &&
		    strcmp(pstr(c, "status") ?: "", ok ? "True" : "False") == 0 &&
		    strcmp(pstr(c, "reason") ?: "", reason) == 0)
			since = pstr(c, "lastTransitionTime") ?: now;
	}
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "type", type);
	cJSON_AddStringToObject(o, "status", ok ? "True" : "False");
	cJSON_AddStringToObject(o, "lastUpdateTime", since);
	cJSON_AddStringToObject(o, "lastTransitionTime", since);
	cJSON_AddStringToObject(o, "reason", reason);
	cJSON_AddStringToObject(o, "message", msg);
	return o;
}

static void sync_one(ks_deploy_t *d, const cJSON *dep)
{
	const char *ns = pstr(dep, "metadata.namespace");
	const char *name = pstr(dep, "metadata.name");
	const char *uid = pstr(dep, "metadata.uid");
	char err[256], hash[32], now[40];
	kubeapi_selector_t *sel = NULL;
	cJSON *items = NULL;
	uint64_t rv;
	char cont[8];
	long rest;
	ks_err_t e;

	if (!ns || !name || !uid || kubeapi_get_path(dep, "metadata.deletionTimestamp"))
		return;
	if (kubeapi_selector_from_json(kubeapi_get_path(dep, "spec.selector"), &sel, err,
	                               sizeof(err)))
		return;
	if (kubeapi_selector_empty(sel)) {
		kubeapi_selector_free(sel);
		return; /* an empty selector would select every pod: Kubernetes refuses too */
	}
	int rc = ks_store_list(d->st, ks_rtype_find("", "v1", "pods"), ns, sel, NULL, 0, NULL,
	                       &items, &rv, cont, sizeof(cont), &rest, &e);
	kubeapi_selector_free(sel);
	if (rc)
		return;
	ks_deploy_template_hash(kubeapi_get_path(dep, "spec.template"), hash, sizeof(hash));
	int n = cJSON_GetArraySize(items);
	const cJSON **newp = calloc((size_t)n + 1, sizeof(*newp));
	const cJSON **oldp = calloc((size_t)n + 1, sizeof(*oldp));
	int nn = 0, no = 0, old_terminating = 0, ready_new = 0, ready_all = 0;
	const cJSON *p;
	if (!newp || !oldp)
		goto out;
	cJSON_ArrayForEach(p, items)
	{
		if (!owned(p, uid))
			continue;
		const char *phase = pstr(p, "status.phase") ?: "";
		bool is_new = strcmp(pstr(p, "metadata.labels.pod-template-hash") ?: "", hash) == 0;
		if (kubeapi_get_path(p, "metadata.deletionTimestamp")) {
			if (!is_new)
				old_terminating++;
			continue;
		}
		if (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0)
			continue;
		bool r = pod_ready(p);
		ready_all += r;
		if (is_new) {
			newp[nn++] = p;
			ready_new += r;
		} else {
			oldp[no++] = p;
		}
	}
	int replicas = (int)cJSON_GetNumberValue(kubeapi_get_path(dep, "spec.replicas"));
	if (replicas < 0)
		replicas = 0;
	bool recreate = strcmp(pstr(dep, "spec.strategy.type") ?: "", "Recreate") == 0;
	if (recreate && (no > 0 || old_terminating > 0)) {
		delete_pods(d, oldp, no, no);
	} else {
		if (nn < replicas) {
			for (int i = nn; i < replicas; i++)
				create_pod(d, dep, hash);
		} else if (nn > replicas) {
			delete_pods(d, newp, nn, nn - replicas);
		}
		int keep_old = replicas - ready_new;
		if (keep_old < 0)
			keep_old = 0;
		if (no > keep_old)
			delete_pods(d, oldp, no, no - keep_old);
	}

	/* Status from what was observed at the start of this sync. */
	cJSON *st = cJSON_CreateObject();
	const cJSON *gen = kubeapi_get_path(dep, "metadata.generation");
	int active = nn + no;
	cJSON_AddNumberToObject(st, "observedGeneration",
	                        cJSON_IsNumber(gen) ? gen->valuedouble : 1);
	cJSON_AddNumberToObject(st, "replicas", active);
	cJSON_AddNumberToObject(st, "updatedReplicas", nn);
	cJSON_AddNumberToObject(st, "readyReplicas", ready_all);
	cJSON_AddNumberToObject(st, "availableReplicas", ready_all);
	if (replicas - ready_all > 0)
		cJSON_AddNumberToObject(st, "unavailableReplicas", replicas - ready_all);
	ks_timestamp(now, sizeof(now));
	const cJSON *old_status = kubeapi_get_path(dep, "status");
	cJSON *conds = cJSON_AddArrayToObject(st, "conditions");
	bool avail = ready_all >= replicas - (recreate ? 0 : max_unavailable(dep, replicas));
	cJSON_AddItemToArray(conds,
	                     cond(old_status, "Available", avail,
	                          avail ? "MinimumReplicasAvailable" : "MinimumReplicasUnavailable",
	                          avail ? "Deployment has minimum availability."
	                                : "Deployment does not have minimum availability.",
	                          now));
	bool done = nn == replicas && no == 0 && ready_new == replicas;
	char msg[400];
	ks_fmt(msg, sizeof(msg), "ReplicaSet \"%s-%s\" %s.", name, hash,
	       done ? "has successfully progressed" : "is progressing");
	cJSON_AddItemToArray(conds,
	                     cond(old_status, "Progressing", true,
	                          done ? "NewReplicaSetAvailable" : "ReplicaSetUpdated", msg, now));
	char *a = cJSON_PrintUnformatted(st);
	char *b = old_status ? cJSON_PrintUnformatted(old_status) : NULL;
	if (a && (!b || strcmp(a, b) != 0))
		ks_store_mutate(d->st, ks_rtype_find("apps", "v1", "deployments"), ns, name,
		                set_status_fn, st, KS_W_STATUS, NULL, &e);
	free(a);
	free(b);
	cJSON_Delete(st);
out:
	free(newp);
	free(oldp);
	cJSON_Delete(items);
}

static int64_t sync_timer(void *ud)
{
	ks_deploy_t *d = ud;
	d->since_full += SYNC_MS;
	if (!d->dirty && d->since_full < RESYNC_MS)
		return SYNC_MS;
	d->dirty = false;
	d->since_full = 0;
	cJSON *items = NULL;
	uint64_t rv;
	char cont[8];
	long rest;
	ks_err_t e;
	if (ks_store_list(d->st, ks_rtype_find("apps", "v1", "deployments"), NULL, NULL, NULL, 0,
	                  NULL, &items, &rv, cont, sizeof(cont), &rest, &e) == 0) {
		const cJSON *dep;
		cJSON_ArrayForEach(dep, items) sync_one(d, dep);
	}
	cJSON_Delete(items);
	return SYNC_MS;
}

static void on_event(void *ud, ks_ev_type_t type, const ks_rtype_t *rt, const cJSON *obj,
                     const cJSON *old)
{
	ks_deploy_t *d = ud;
	(void)type;
	(void)rt;
	(void)obj;
	(void)old;
	d->dirty = true;
}

ks_deploy_t *ks_deploy_new(ks_store_t *st, ks_loop_t *loop, char *err, size_t errlen)
{
	ks_deploy_t *d = calloc(1, sizeof(*d));
	if (!d) {
		ks_fmt(err, errlen, "out of memory");
		return NULL;
	}
	d->st = st;
	d->loop = loop;
	d->dirty = true;
	d->sub_d = ks_store_subscribe(st, ks_rtype_find("apps", "v1", "deployments"), on_event, d);
	d->sub_p = ks_store_subscribe(st, ks_rtype_find("", "v1", "pods"), on_event, d);
	d->timer = ks_loop_add_timer(loop, 0, sync_timer, d);
	if (d->sub_d < 0 || d->sub_p < 0 || d->timer < 0) {
		ks_fmt(err, errlen, "cannot subscribe to the store or add a timer");
		ks_deploy_free(d);
		return NULL;
	}
	return d;
}

void ks_deploy_free(ks_deploy_t *d)
{
	if (!d)
		return;
	if (d->sub_d >= 0)
		ks_store_unsubscribe(d->st, d->sub_d);
	if (d->sub_p >= 0)
		ks_store_unsubscribe(d->st, d->sub_p);
	if (d->timer >= 0)
		ks_loop_remove_timer(d->loop, d->timer);
	free(d);
}

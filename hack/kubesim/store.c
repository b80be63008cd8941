#include "store.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/log.h"

#define KS_MAX_RT       32
#define KS_MAX_SUBS     32
#define KS_MAX_CASCADE  8
#define KS_SNAPSHOT_MAX (512u << 20)
/* Internal write flag: this write sets deletionTimestamp (graceful delete). */
#define W_MARK_DELETE 0x1000

typedef struct {
	char *ns; /* "" for cluster-scoped */
	char *name;
	cJSON *obj;
} entry_t;

typedef struct {
	entry_t *v;
	size_t n, cap;
	bool graceful;
} table_t;

typedef struct {
	uint64_t rv;
	ks_ev_type_t type;
	int rt; /* storage index */
	cJSON *obj;
	cJSON *old;
} event_t;

typedef struct {
	int id;
	const ks_rtype_t *rt;
	ks_store_cb cb;
	void *ud;
} sub_t;

struct ks_store {
	pthread_mutex_t mu;
	pthread_cond_t cond;
	uint64_t rv;
	table_t tab[KS_MAX_RT];
	event_t *hist;
	size_t hmax, hstart, hlen;
	uint64_t floor; /* newest evicted rv: watches from before it get 410 */
	unsigned ip_next;
	unsigned (*ip_fn)(void *); /* ks_store_set_ip_alloc */
	void *ip_ud;
	bool dirty;
	bool stopping;
	uint64_t drop_gen;
	void (*notify)(void *);
	void *notify_ud;
	sub_t subs[KS_MAX_SUBS];
	int nsubs, next_sub_id;
	uint64_t dispatched_rv;
};

struct ks_watch {
	ks_store_t *st;
	const ks_rtype_t *rt;
	int storage;
	char ns[256];
	const kubeapi_selector_t *lsel, *fsel;
	uint64_t cursor;
	cJSON *initial; /* objects still to send as ADDED */
	uint64_t drop_gen;
	bool bookmarks;
	bool closed;
};

ks_store_t *ks_store_new(size_t history_max)
{
	ks_store_t *st = calloc(1, sizeof(*st));
	if (!st)
		return NULL;
	if (history_max < 16)
		history_max = 16;
	st->hist = calloc(history_max, sizeof(event_t));
	if (!st->hist) {
		free(st);
		return NULL;
	}
	st->hmax = history_max;
	st->ip_next = 10;
	pthread_mutex_init(&st->mu, NULL);
	pthread_cond_init(&st->cond, NULL);
	return st;
}

void ks_store_free(ks_store_t *st)
{
	if (!st)
		return;
	for (int t = 0; t < KS_MAX_RT; t++) {
		for (size_t i = 0; i < st->tab[t].n; i++) {
			free(st->tab[t].v[i].ns);
			free(st->tab[t].v[i].name);
			cJSON_Delete(st->tab[t].v[i].obj);
		}
		free(st->tab[t].v);
	}
	for (size_t i = 0; i < st->hlen; i++) {
		event_t *ev = &st->hist[(st->hstart + i) % st->hmax];
		cJSON_Delete(ev->obj);
		cJSON_Delete(ev->old);
	}
	free(st->hist);
	pthread_mutex_destroy(&st->mu);
	pthread_cond_destroy(&st->cond);
	free(st);
}

void ks_store_set_notify(ks_store_t *st, void (*fn)(void *ud), void *ud)
{
	pthread_mutex_lock(&st->mu);
	st->notify = fn;
	st->notify_ud = ud;
	pthread_mutex_unlock(&st->mu);
}

uint64_t ks_store_rv(ks_store_t *st)
{
	pthread_mutex_lock(&st->mu);
	uint64_t rv = st->rv;
	pthread_mutex_unlock(&st->mu);
	return rv;
}

/* ---- helpers ------------------------------------------------------------- */

static int cmp_key(const char *ns1, const char *n1, const char *ns2, const char *n2)
{
	int c = strcmp(ns1, ns2);
	return c ? c : strcmp(n1, n2);
}

/* Index of (ns,name) or of where it would go; *found set. */
static size_t tab_find(const table_t *t, const char *ns, const char *name, bool *found)
{
	size_t lo = 0, hi = t->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = cmp_key(t->v[mid].ns, t->v[mid].name, ns, name);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

static int tab_insert(table_t *t, size_t at, const char *ns, const char *name, cJSON *obj)
{
	if (t->n == t->cap) {
		size_t nc = t->cap ? t->cap * 2 : 64;
		entry_t *nv = realloc(t->v, nc * sizeof(entry_t));
		if (!nv)
			return -1;
		t->v = nv;
		t->cap = nc;
	}
	char *a = strdup(ns);
	char *b = strdup(name);
	if (!a || !b) {
		free(a);
		free(b);
		return -1;
	}
	memmove(&t->v[at + 1], &t->v[at], (t->n - at) * sizeof(entry_t));
	t->v[at].ns = a;
	t->v[at].name = b;
	t->v[at].obj = obj;
	t->n++;
	return 0;
}

/* Removes entry at, returning its object (owned by the caller). */
static cJSON *tab_remove(table_t *t, size_t at)
{
	cJSON *obj = t->v[at].obj;
	free(t->v[at].ns);
	free(t->v[at].name);
	memmove(&t->v[at], &t->v[at + 1], (t->n - at - 1) * sizeof(entry_t));
	t->n--;
	return obj;
}

static cJSON *meta_of(cJSON *obj)
{
	cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	if (!cJSON_IsObject(m)) {
		cJSON_DeleteItemFromObjectCaseSensitive(obj, "metadata");
		m = cJSON_AddObjectToObject(obj, "metadata");
	}
	return m;
}

static void set_str(cJSON *o, const char *key, const char *v)
{
	cJSON *n = cJSON_CreateString(v);
	if (cJSON_GetObjectItemCaseSensitive(o, key))
		cJSON_ReplaceItemInObjectCaseSensitive(o, key, n);
	else
		cJSON_AddItemToObject(o, key, n);
}

static void set_num(cJSON *o, const char *key, double v)
{
	cJSON *n = cJSON_CreateNumber(v);
	if (cJSON_GetObjectItemCaseSensitive(o, key))
		cJSON_ReplaceItemInObjectCaseSensitive(o, key, n);
	else
		cJSON_AddItemToObject(o, key, n);
}

static void copy_field(cJSON *dst, const cJSON *src, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(src, key);
	cJSON_DeleteItemFromObjectCaseSensitive(dst, key);
	if (v)
		cJSON_AddItemToObject(dst, key, cJSON_Duplicate(v, 1));
}

static void new_uid(char *out, size_t cap)
{
	unsigned char b[16];
	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b)) {
		/* Extremely unlikely; fall back to time and address bits. */
		uint64_t t = (uint64_t)base_now_ns() ^ (uint64_t)(uintptr_t)out;
		for (size_t i = 0; i < sizeof(b); i++)
			b[i] = (unsigned char)(t >> ((i % 8) * 8)) ^ (unsigned char)(i * 37);
	}
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(out, cap, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
	         b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
	         b[13], b[14], b[15]);
}

static void fmt_rv(uint64_t rv, char *buf, size_t cap)
{
	snprintf(buf, cap, "%" PRIu64, rv);
}

/* Appends an event; takes ownership of obj and old. Caller holds the lock. */
static void emit(ks_store_t *st, ks_ev_type_t type, int rti, cJSON *obj, cJSON *old)
{
	event_t *ev;
	if (st->hlen == st->hmax) {
		event_t *o = &st->hist[st->hstart];
		st->floor = o->rv;
		cJSON_Delete(o->obj);
		cJSON_Delete(o->old);
		st->hstart = (st->hstart + 1) % st->hmax;
		st->hlen--;
	}
	ev = &st->hist[(st->hstart + st->hlen) % st->hmax];
	ev->rv = st->rv;
	ev->type = type;
	ev->rt = rti;
	ev->obj = obj;
	ev->old = old;
	st->hlen++;
	st->dirty = true;
	pthread_cond_broadcast(&st->cond);
}

static void notify(ks_store_t *st)
{
	void (*fn)(void *);
	void *ud;
	pthread_mutex_lock(&st->mu);
	fn = st->notify;
	ud = st->notify_ud;
	pthread_mutex_unlock(&st->mu);
	if (fn)
		fn(ud);
}

static const char *ns_of(const ks_rtype_t *rt, const char *ns)
{
	return rt->namespaced && ns ? ns : "";
}

static int storage(const ks_rtype_t *rt)
{
	return rt->storage;
}

/* A ClusterIP as a host-order IPv4 address (0 = range full). */
static unsigned alloc_ip(void *ud)
{
	ks_store_t *st = ud;
	if (st->ip_fn)
		return st->ip_fn(st->ip_ud);
	unsigned n = st->ip_next++;
	return 0x0A600000u | (n & 0xffffu); /* 10.96.0.0/16 */
}

void ks_store_set_ip_alloc(ks_store_t *st, unsigned (*fn)(void *ud), void *ud)
{
	pthread_mutex_lock(&st->mu);
	st->ip_fn = fn;
	st->ip_ud = ud;
	pthread_mutex_unlock(&st->mu);
}

static bool locked_ns_exists(ks_store_t *st, const char *ns)
{
	bool found;
	const ks_rtype_t *nsrt = ks_rtype_find("", "v1", "namespaces");
	tab_find(&st->tab[storage(nsrt)], "", ns, &found);
	return found;
}

bool ks_store_ns_exists(ks_store_t *st, const char *ns)
{
	pthread_mutex_lock(&st->mu);
	bool r = locked_ns_exists(st, ns);
	pthread_mutex_unlock(&st->mu);
	return r;
}

/* Converts an outgoing stored object for the requested type (new tree). */
static cJSON *present(const ks_rtype_t *rt, const cJSON *obj)
{
	cJSON *c = cJSON_Duplicate(obj, 1);
	if (c && strcmp(rt->group, "events.k8s.io") == 0)
		ks_event_from_core(c);
	return c;
}

int ks_store_get(ks_store_t *st, const ks_rtype_t *rt, const char *ns, const char *name,
                 cJSON **out, ks_err_t *e)
{
	bool found;
	pthread_mutex_lock(&st->mu);
	table_t *t = &st->tab[storage(rt)];
	size_t i = tab_find(t, ns_of(rt, ns), name, &found);
	if (found)
		*out = present(rt, t->v[i].obj);
	pthread_mutex_unlock(&st->mu);
	if (!found)
		return ks_err_set(e, 404, "NotFound", "%s \"%s\" not found", rt->plural, name);
	return *out ? 0 : ks_err_set(e, 500, "InternalError", "out of memory");
}

static bool obj_matches(const cJSON *obj, const char *ns, const kubeapi_selector_t *lsel,
                        const kubeapi_selector_t *fsel, const char *obj_ns)
{
	if (ns && *ns && strcmp(ns, obj_ns) != 0)
		return false;
	if (lsel &&
	    !kubeapi_selector_matches(
	            lsel, cJSON_GetObjectItemCaseSensitive(
	                          cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "labels")))
		return false;
	return !fsel || kubeapi_fieldsel_matches(fsel, obj);
}

int ks_store_list(ks_store_t *st, const ks_rtype_t *rt, const char *ns,
                  const kubeapi_selector_t *lsel, const kubeapi_selector_t *fsel, long limit,
                  const char *cont, cJSON **items, uint64_t *list_rv, char *next_cont,
                  size_t cont_cap, long *remaining, ks_err_t *e)
{
	char cns[256] = "", cname[256] = "";
	size_t start = 0;
	bool found;
	long n = 0, rest = 0;

	next_cont[0] = '\0';
	*remaining = 0;
	if (cont && *cont) {
		const char *colon = strchr(cont, ':');
		if (!colon || (size_t)(colon - cont) >= sizeof(cns) ||
		    strlen(colon + 1) >= sizeof(cname))
			return ks_err_set(e, 400, "BadRequest", "invalid continue token");
		memcpy(cns, cont, (size_t)(colon - cont));
		cns[colon - cont] = '\0';
		snprintf(cname, sizeof(cname), "%s", colon + 1);
	}
	*items = cJSON_CreateArray();
	if (!*items)
		return ks_err_set(e, 500, "InternalError", "out of memory");
	pthread_mutex_lock(&st->mu);
	table_t *t = &st->tab[storage(rt)];
	if (cont && *cont) {
		start = tab_find(t, cns, cname, &found);
		if (found)
			start++;
	}
	for (size_t i = start; i < t->n; i++) {
		if (!obj_matches(t->v[i].obj, ns_of(rt, ns), lsel, fsel, t->v[i].ns))
			continue;
		if (limit > 0 && n >= limit) {
			rest++;
			continue;
		}
		cJSON_AddItemToArray(*items, present(rt, t->v[i].obj));
		n++;
		if (limit > 0 && n == limit)
			snprintf(next_cont, cont_cap, "%s:%s", t->v[i].ns, t->v[i].name);
	}
	*list_rv = st->rv;
	pthread_mutex_unlock(&st->mu);
	if (rest == 0)
		next_cont[0] = '\0';
	*remaining = rest;
	return 0;
}

/* Everything but metadata and status, to detect spec changes. */
static bool spec_changed(const cJSON *a, const cJSON *b)
{
	const cJSON *it;
	cJSON_ArrayForEach(it, a)
	{
		if (strcmp(it->string, "metadata") == 0 || strcmp(it->string, "status") == 0)
			continue;
		const cJSON *o = cJSON_GetObjectItemCaseSensitive(b, it->string);
		if (!o || !cJSON_Compare(it, o, 1))
			return true;
	}
	cJSON_ArrayForEach(it, b)
	{
		if (strcmp(it->string, "metadata") == 0 || strcmp(it->string, "status") == 0)
			continue;
		if (!cJSON_GetObjectItemCaseSensitive(a, it->string))
			return true;
	}
	return false;
}

static int locked_create(ks_store_t *st, const ks_rtype_t *rt, const char *ns, const cJSON *in,
                         unsigned flags, cJSON **out, ks_err_t *e)
{
	char buf[64];
	cJSON *obj;
	cJSON *meta;
	const char *name;
	bool found;
	int rc;

	if (!cJSON_IsObject(in))
		return ks_err_set(e, 400, "BadRequest", "the body is not a JSON object");
	obj = cJSON_Duplicate(in, 1);
	if (!obj)
		return ks_err_set(e, 500, "InternalError", "out of memory");
	if (strcmp(rt->group, "events.k8s.io") == 0)
		ks_event_to_core(obj);
	const ks_rtype_t *srt = &ks_rtypes()[storage(rt)];
	meta = meta_of(obj);
	const char *mns = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "namespace"));
	if (srt->namespaced) {
		if (mns && ns && *ns && strcmp(mns, ns) != 0) {
			rc = ks_err_set(e, 400, "BadRequest",
			                "the namespace of the provided object does not match the "
			                "namespace sent on the request");
			goto fail;
		}
		if (!ns || !*ns) {
			rc = ks_err_set(e, 400, "BadRequest", "a namespace is required for %s",
			                rt->plural);
			goto fail;
		}
		set_str(meta, "namespace", ns);
	} else {
		cJSON_DeleteItemFromObjectCaseSensitive(meta, "namespace");
	}
	if (!cJSON_GetObjectItemCaseSensitive(meta, "name")) {
		const char *gn = cJSON_GetStringValue(
		        cJSON_GetObjectItemCaseSensitive(meta, "generateName"));
		if (gn && *gn) {
			static const char al[] = "bcdfghjklmnpqrstvwxz2456789";
			unsigned char r[5];
			char nm[300];
			if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
				memset(r, (int)(st->rv & 0xff), sizeof(r));
			snprintf(nm, sizeof(nm), "%.247s%c%c%c%c%c", gn, al[r[0] % 27],
			         al[r[1] % 27], al[r[2] % 27], al[r[3] % 27], al[r[4] % 27]);
			cJSON_AddStringToObject(meta, "name", nm);
		}
	}
	if ((flags & KS_W_STRICT) && (rc = ks_check_fields(srt, obj, e)) != 0)
		goto fail;
	rc = ks_prepare(srt, obj, NULL, alloc_ip, st, e);
	if (rc)
		goto fail;
	meta = meta_of(obj);
	name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "name"));
	if (srt->namespaced && strcmp(srt->kind, "Event") != 0 && !locked_ns_exists(st, ns)) {
		rc = ks_err_set(e, 404, "NotFound", "namespaces \"%s\" not found", ns);
		goto fail;
	}
	if (srt->namespaced && strcmp(srt->kind, "Event") == 0 && !locked_ns_exists(st, ns)) {
		rc = ks_err_set(e, 404, "NotFound", "namespaces \"%s\" not found", ns);
		goto fail;
	}
	table_t *t = &st->tab[storage(rt)];
	size_t at = tab_find(t, ns_of(srt, ns), name, &found);
	if (found) {
		rc = ks_err_set(e, 409, "AlreadyExists", "%s \"%s\" already exists", rt->plural,
		                name);
		goto fail;
	}
	new_uid(buf, sizeof(buf));
	set_str(meta, "uid", buf);
	ks_timestamp(buf, sizeof(buf));
	set_str(meta, "creationTimestamp", buf);
	cJSON_DeleteItemFromObjectCaseSensitive(meta, "deletionTimestamp");
	cJSON_DeleteItemFromObjectCaseSensitive(meta, "managedFields");
	if (rt->flags & KS_RT_GENERATION)
		set_num(meta, "generation", 1);
	else
		cJSON_DeleteItemFromObjectCaseSensitive(meta, "generation");
	if (flags & KS_W_DRYRUN) {
		fmt_rv(st->rv, buf, sizeof(buf));
		set_str(meta, "resourceVersion", buf);
		if (out)
			*out = present(rt, obj);
		cJSON_Delete(obj);
		return 0;
	}
	st->rv++;
	fmt_rv(st->rv, buf, sizeof(buf));
	set_str(meta, "resourceVersion", buf);
	if (tab_insert(t, at, ns_of(srt, ns), name, obj)) {
		st->rv--;
		rc = ks_err_set(e, 500, "InternalError", "out of memory");
		goto fail;
	}
	emit(st, KS_EV_ADDED, storage(rt), cJSON_Duplicate(obj, 1), NULL);
	if (out)
		*out = present(rt, obj);
	/* Every namespace gets its "default" ServiceAccount, as the
	 * serviceaccounts controller makes it. */
	if (strcmp(srt->kind, "Namespace") == 0) {
		const ks_rtype_t *sart = ks_rtype_find("", "v1", "serviceaccounts");
		cJSON *sa = cJSON_Parse("{\"metadata\":{\"name\":\"default\"}}");
		ks_err_t e2;
		if (sa)
			locked_create(st, sart, name, sa, 0, NULL, &e2);
		cJSON_Delete(sa);
	}
	return 0;
fail:
	cJSON_Delete(obj);
	return rc;
}

int ks_store_create(ks_store_t *st, const ks_rtype_t *rt, const char *ns, const cJSON *obj,
                    unsigned flags, cJSON **out, ks_err_t *e)
{
	pthread_mutex_lock(&st->mu);
	int rc = locked_create(st, rt, ns, obj, flags, out, e);
	pthread_mutex_unlock(&st->mu);
	if (rc == 0 && !(flags & KS_W_DRYRUN))
		notify(st);
	return rc;
}

static int locked_remove(ks_store_t *st, int rti, size_t at, unsigned flags, int depth);

/* Writes `obj` (owned) over entry i of table rti; the common tail of update,
 * mutate and finalizer removal. */
static int locked_replace(ks_store_t *st, const ks_rtype_t *rt, size_t i, cJSON *obj,
                          unsigned flags, cJSON **out, ks_err_t *e)
{
	table_t *t = &st->tab[storage(rt)];
	const ks_rtype_t *srt = &ks_rtypes()[storage(rt)];
	cJSON *old = t->v[i].obj;
	cJSON *ometa = cJSON_GetObjectItemCaseSensitive(old, "metadata");
	cJSON *meta;
	char buf[64];
	int rc;

	if (strcmp(rt->group, "events.k8s.io") == 0)
		ks_event_to_core(obj);
	meta = meta_of(obj);
	const char *nm = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "name"));
	if (nm && strcmp(nm, t->v[i].name) != 0) {
		cJSON_Delete(obj);
		return ks_err_set(
		        e, 400, "BadRequest",
		        "the name of the object (%s) does not match the name on the URL (%s)", nm,
		        t->v[i].name);
	}
	const char *rv =
	        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "resourceVersion"));
	const char *orv =
	        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ometa, "resourceVersion"));
	if (rv && *rv && orv && strcmp(rv, orv) != 0) {
		cJSON_Delete(obj);
		return ks_err_set(
		        e, 409, "Conflict",
		        "Operation cannot be fulfilled on %s \"%s\": the object has been "
		        "modified; please apply your changes to the latest version and try "
		        "again",
		        rt->plural, t->v[i].name);
	}
	if (flags & KS_W_STATUS) {
		/* Only status moves; the rest stays as stored. */
		cJSON *ns = cJSON_Duplicate(old, 1);
		copy_field(ns, obj, "status");
		cJSON_Delete(obj);
		obj = ns;
		meta = meta_of(obj);
	} else {
		if ((flags & KS_W_MAIN) && (srt->flags & KS_RT_STATUS))
			copy_field(obj, old, "status");
		if ((flags & KS_W_STRICT) && (rc = ks_check_fields(srt, obj, e)) != 0) {
			cJSON_Delete(obj);
			return rc;
		}
		set_str(meta, "name", t->v[i].name);
		if (srt->namespaced)
			set_str(meta, "namespace", t->v[i].ns);
		rc = ks_prepare(srt, obj, old, alloc_ip, st, e);
		if (rc) {
			cJSON_Delete(obj);
			return rc;
		}
		meta = meta_of(obj);
		copy_field(meta, ometa, "uid");
		copy_field(meta, ometa, "creationTimestamp");
		if (!(flags & W_MARK_DELETE)) {
			copy_field(meta, ometa, "deletionTimestamp");
			copy_field(meta, ometa, "deletionGracePeriodSeconds");
		}
		cJSON_DeleteItemFromObjectCaseSensitive(meta, "managedFields");
		copy_field(meta, ometa, "generation");
		if ((srt->flags & KS_RT_GENERATION) && spec_changed(obj, old)) {
			const cJSON *g = cJSON_GetObjectItemCaseSensitive(ometa, "generation");
			set_num(meta, "generation", (cJSON_IsNumber(g) ? g->valuedouble : 0) + 1);
		}
	}
	set_str(meta, "resourceVersion", orv ? orv : "0");
	if (cJSON_Compare(obj, old, 1)) {
		/* A no-op write keeps the resourceVersion, as Kubernetes does. */
		cJSON_Delete(obj);
		if (out)
			*out = present(rt, old);
		return 0;
	}
	if (flags & KS_W_DRYRUN) {
		if (out)
			*out = present(rt, obj);
		cJSON_Delete(obj);
		return 0;
	}
	st->rv++;
	fmt_rv(st->rv, buf, sizeof(buf));
	set_str(meta, "resourceVersion", buf);
	t->v[i].obj = obj;
	emit(st, KS_EV_MODIFIED, storage(rt), cJSON_Duplicate(obj, 1), old);
	if (out)
		*out = present(rt, obj);
	/* The last finalizer gone from an object being deleted removes it. */
	const cJSON *fin = cJSON_GetObjectItemCaseSensitive(meta, "finalizers");
	if (cJSON_GetObjectItemCaseSensitive(meta, "deletionTimestamp") &&
	    cJSON_GetArraySize(fin) == 0 && !t->graceful)
		locked_remove(st, storage(rt), i, 0, 0);
	return 0;
}

static int find_entry(ks_store_t *st, const ks_rtype_t *rt, const char *ns, const char *name,
                      size_t *i, ks_err_t *e)
{
	bool found;
	*i = tab_find(&st->tab[storage(rt)], ns_of(rt, ns), name, &found);
	if (!found)
		return ks_err_set(e, 404, "NotFound", "%s \"%s\" not found", rt->plural, name);
	return 0;
}

int ks_store_update(ks_store_t *st, const ks_rtype_t *rt, const char *ns, const char *name,
                    const cJSON *obj, unsigned flags, cJSON **out, ks_err_t *e)
{
	size_t i;
	int rc;
	if (!cJSON_IsObject(obj))
		return ks_err_set(e, 400, "BadRequest", "the body is not a JSON object");
	pthread_mutex_lock(&st->mu);
	rc = find_entry(st, rt, ns, name, &i, e);
	if (rc == 0) {
		cJSON *copy = cJSON_Duplicate(obj, 1);
		rc = copy ? locked_replace(st, rt, i, copy, flags, out, e)
		          : ks_err_set(e, 500, "InternalError", "out of memory");
	}
	pthread_mutex_unlock(&st->mu);
	if (rc == 0 && !(flags & KS_W_DRYRUN))
		notify(st);
	return rc;
}

int ks_store_mutate(ks_store_t *st, const ks_rtype_t *rt, const char *ns, const char *name,
                    ks_mutate_fn fn, void *ud, unsigned flags, cJSON **out, ks_err_t *e)
{
	size_t i;
	int rc;
	pthread_mutex_lock(&st->mu);
	rc = find_entry(st, rt, ns, name, &i, e);
	if (rc == 0) {
		cJSON *copy = present(rt, st->tab[storage(rt)].v[i].obj);
		if (!copy) {
			rc = ks_err_set(e, 500, "InternalError", "out of memory");
		} else {
			rc = fn(&copy, ud, e);
			if (rc == 0 && !cJSON_IsObject(copy))
				rc = ks_err_set(e, 422, "Invalid",
				                "the patched object is not a JSON object");
			if (rc == 0)
				rc = locked_replace(st, rt, i, copy, flags, out, e);
			else
				cJSON_Delete(copy);
		}
	}
	pthread_mutex_unlock(&st->mu);
	if (rc == 0 && !(flags & KS_W_DRYRUN))
		notify(st);
	return rc;
}

static bool owned_by(const cJSON *obj, const char *uid)
{
	const cJSON *r;
	cJSON_ArrayForEach(r, kubeapi_get_path(obj, "metadata.ownerReferences"))
	{
		const char *u = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "uid"));
		if (u && strcmp(u, uid) == 0)
			return true;
	}
	return false;
}

/* Removes entry at from table rti now, then its dependents. */
static int locked_remove(ks_store_t *st, int rti, size_t at, unsigned flags, int depth)
{
	table_t *t = &st->tab[rti];
	char uid[64];
	char nsname[256];
	char buf[32];
	bool is_ns = strcmp(ks_rtypes()[rti].kind, "Namespace") == 0;
	cJSON *obj = tab_remove(t, at);

	const char *ouid = cJSON_GetStringValue(kubeapi_get_path(obj, "metadata.uid"));
	const char *oname = cJSON_GetStringValue(kubeapi_get_path(obj, "metadata.name"));
	snprintf(uid, sizeof(uid), "%s", ouid ? ouid : "");
	snprintf(nsname, sizeof(nsname), "%s", oname ? oname : "");
	st->rv++;
	fmt_rv(st->rv, buf, sizeof(buf));
	cJSON *last = cJSON_Duplicate(obj, 1);
	set_str(meta_of(last), "resourceVersion", buf);
	emit(st, KS_EV_DELETED, rti, last, obj);
	if (depth >= KS_MAX_CASCADE)
		return 0;
	for (size_t r = 0; r < ks_rtypes_count(); r++) {
		if (ks_rtypes()[r].storage != (int)r)
			continue;
		table_t *d = &st->tab[r];
		for (size_t k = 0; k < d->n;) {
			bool dep = (is_ns && strcmp(d->v[k].ns, nsname) == 0) ||
			           (!(flags & KS_DEL_ORPHAN) && *uid && owned_by(d->v[k].obj, uid));
			if (!dep) {
				k++;
				continue;
			}
			size_t before = d->n;
			locked_remove(st, (int)r, k, flags, depth + 1);
			/* Nested removals may shift entries; restart this table. */
			if (d->n != before - 1)
				k = 0;
		}
	}
	return 0;
}

int ks_store_delete(ks_store_t *st, const ks_rtype_t *rt, const char *ns, const char *name,
                    const char *uid, const char *rv, unsigned flags, cJSON **out, ks_err_t *e)
{
	size_t i;
	int rc;
	pthread_mutex_lock(&st->mu);
	rc = find_entry(st, rt, ns, name, &i, e);
	if (rc)
		goto out;
	table_t *t = &st->tab[storage(rt)];
	cJSON *obj = t->v[i].obj;
	cJSON *meta = meta_of(obj);
	const char *ouid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "uid"));
	const char *orv =
	        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "resourceVersion"));
	if ((uid && *uid && (!ouid || strcmp(uid, ouid))) ||
	    (rv && *rv && (!orv || strcmp(rv, orv)))) {
		rc = ks_err_set(
		        e, 409, "Conflict",
		        "Operation cannot be fulfilled on %s \"%s\": the precondition (uid or "
		        "resourceVersion) does not match",
		        rt->plural, name);
		goto out;
	}
	if (out)
		*out = present(rt, obj);
	if (flags & KS_W_DRYRUN)
		goto out;
	bool has_fin = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(meta, "finalizers")) > 0;
	if (!(flags & KS_DEL_FORCE) && (has_fin || t->graceful)) {
		if (!cJSON_GetObjectItemCaseSensitive(meta, "deletionTimestamp")) {
			cJSON *copy = cJSON_Duplicate(obj, 1);
			char ts[64];
			cJSON *cm = meta_of(copy);
			ks_timestamp(ts, sizeof(ts));
			set_str(cm, "deletionTimestamp", ts);
			const cJSON *gp =
			        kubeapi_get_path(copy, "spec.terminationGracePeriodSeconds");
			set_num(cm, "deletionGracePeriodSeconds",
			        cJSON_IsNumber(gp) ? gp->valuedouble : 30);
			if (out) {
				cJSON_Delete(*out);
				*out = NULL;
			}
			/* Keep the graceful object in place: no finalizer check. */
			bool g = t->graceful;
			t->graceful = true;
			rc = locked_replace(st, rt, i, copy, W_MARK_DELETE, out, e);
			t->graceful = g;
		}
		goto out;
	}
	locked_remove(st, storage(rt), i, flags, 0);
out:
	pthread_mutex_unlock(&st->mu);
	if (rc == 0 && !(flags & KS_W_DRYRUN))
		notify(st);
	return rc;
}

void ks_store_set_graceful(ks_store_t *st, const ks_rtype_t *rt, bool on)
{
	pthread_mutex_lock(&st->mu);
	st->tab[storage(rt)].graceful = on;
	pthread_mutex_unlock(&st->mu);
}

/* ---- watch ------------------------------------------------------------- */

/* Index in the ring of the first event with rv > cursor (hlen if none). */
static size_t hist_after(const ks_store_t *st, uint64_t cursor)
{
	size_t lo = 0, hi = st->hlen;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (st->hist[(st->hstart + mid) % st->hmax].rv <= cursor)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int ks_watch_open(ks_store_t *st, const ks_rtype_t *rt, const char *ns,
                  const kubeapi_selector_t *lsel, const kubeapi_selector_t *fsel, const char *rv,
                  bool bookmarks, ks_watch_t **out, ks_err_t *e)
{
	ks_watch_t *w = calloc(1, sizeof(*w));
	uint64_t from = 0;
	bool initial = !rv || !*rv || strcmp(rv, "0") == 0;

	if (!w)
		return ks_err_set(e, 500, "InternalError", "out of memory");
	if (!initial) {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(rv, &end, 10);
		if (errno || *end || rv[0] == '-') {
			free(w);
			return ks_err_set(e, 400, "BadRequest", "invalid resourceVersion \"%s\"",
			                  rv);
		}
		from = v;
	}
	w->st = st;
	w->rt = rt;
	w->storage = storage(rt);
	snprintf(w->ns, sizeof(w->ns), "%s", ns_of(rt, ns));
	w->lsel = lsel;
	w->fsel = fsel;
	w->bookmarks = bookmarks;
	pthread_mutex_lock(&st->mu);
	w->drop_gen = st->drop_gen;
	if (initial) {
		table_t *t = &st->tab[w->storage];
		w->initial = cJSON_CreateArray();
		for (size_t i = 0; w->initial && i < t->n; i++) {
			if (obj_matches(t->v[i].obj, w->ns, lsel, fsel, t->v[i].ns))
				cJSON_AddItemToArray(w->initial, present(rt, t->v[i].obj));
		}
		w->cursor = st->rv;
	} else {
		if (from < st->floor || from > st->rv) {
			uint64_t fl = st->floor;
			pthread_mutex_unlock(&st->mu);
			free(w);
			if (from > fl)
				return ks_err_set(e, 504, "Timeout",
				                  "Too large resource version: %llu, current: %llu",
				                  (unsigned long long)from,
				                  (unsigned long long)ks_store_rv(st));
			return ks_err_set(e, 410, "Expired",
			                  "too old resource version: %llu (%llu)",
			                  (unsigned long long)from, (unsigned long long)fl + 1);
		}
		w->cursor = from;
	}
	pthread_mutex_unlock(&st->mu);
	*out = w;
	return 0;
}

static void append_event(base_buf_t *b, const char *type, cJSON *obj)
{
	cJSON *ev = cJSON_CreateObject();
	cJSON_AddStringToObject(ev, "type", type);
	cJSON_AddItemToObject(ev, "object", obj);
	char *s = cJSON_PrintUnformatted(ev);
	if (s) {
		base_buf_appends(b, s);
		base_buf_appends(b, "\n");
		free(s);
	}
	cJSON_Delete(ev);
}

static cJSON *expired_status(uint64_t cursor)
{
	char msg[128];
	cJSON *s = cJSON_CreateObject();
	snprintf(msg, sizeof(msg), "too old resource version: %llu", (unsigned long long)cursor);
	cJSON_AddStringToObject(s, "kind", "Status");
	cJSON_AddStringToObject(s, "apiVersion", "v1");
	cJSON_AddObjectToObject(s, "metadata");
	cJSON_AddStringToObject(s, "status", "Failure");
	cJSON_AddStringToObject(s, "message", msg);
	cJSON_AddStringToObject(s, "reason", "Expired");
	cJSON_AddNumberToObject(s, "code", 410);
	return s;
}

/* Collects what is ready; caller holds the lock. */
static void collect(ks_watch_t *w, base_buf_t *b, bool *closed)
{
	ks_store_t *st = w->st;
	if (w->initial) {
		cJSON *o;
		while ((o = cJSON_DetachItemFromArray(w->initial, 0)))
			append_event(b, "ADDED", o);
		cJSON_Delete(w->initial);
		w->initial = NULL;
	}
	if (w->cursor < st->floor) {
		append_event(b, "ERROR", expired_status(w->cursor));
		w->closed = *closed = true;
		return;
	}
	for (size_t k = hist_after(st, w->cursor); k < st->hlen; k++) {
		event_t *ev = &st->hist[(st->hstart + k) % st->hmax];
		w->cursor = ev->rv;
		if (ev->rt != w->storage)
			continue;
		const char *ons =
		        cJSON_GetStringValue(kubeapi_get_path(ev->obj, "metadata.namespace"));
		bool now = obj_matches(ev->obj, w->ns, w->lsel, w->fsel, ons ? ons : "");
		bool before = ev->old && ev->type == KS_EV_MODIFIED &&
		              obj_matches(ev->old, w->ns, w->lsel, w->fsel, ons ? ons : "");
		const char *type = NULL;
		if (ev->type == KS_EV_ADDED && now)
			type = "ADDED";
		else if (ev->type == KS_EV_DELETED && now)
			type = "DELETED";
		else if (ev->type == KS_EV_MODIFIED)
			type = now ? (before ? "MODIFIED" : "ADDED") : (before ? "DELETED" : NULL);
		if (type)
			append_event(b, type, present(w->rt, ev->obj));
	}
	if (w->cursor < st->rv)
		w->cursor = st->rv;
}

char *ks_watch_next(ks_watch_t *w, int wait_ms, bool bookmark_due, size_t *len, bool *closed)
{
	ks_store_t *st = w->st;
	base_buf_t b;
	base_buf_init(&b, 64u << 20);
	*closed = false;
	*len = 0;
	pthread_mutex_lock(&st->mu);
	for (int round = 0; round < 2; round++) {
		if (st->stopping || st->drop_gen != w->drop_gen || w->closed) {
			w->closed = *closed = true;
			break;
		}
		collect(w, &b, closed);
		if (b.len || *closed || round == 1)
			break;
		struct timespec ts;
		base_abs_timespec(&ts, wait_ms);
		pthread_cond_timedwait(&st->cond, &st->mu, &ts);
	}
	if (!b.len && !*closed && w->bookmarks && bookmark_due) {
		char rv[32];
		char av[64];
		cJSON *o = cJSON_CreateObject();
		fmt_rv(w->cursor, rv, sizeof(rv));
		cJSON_AddStringToObject(o, "kind", w->rt->kind);
		cJSON_AddStringToObject(o, "apiVersion",
		                        ks_rtype_api_version(w->rt, av, sizeof(av)));
		cJSON_AddStringToObject(cJSON_AddObjectToObject(o, "metadata"), "resourceVersion",
		                        rv);
		append_event(&b, "BOOKMARK", o);
	}
	pthread_mutex_unlock(&st->mu);
	return base_buf_take(&b, len);
}

void ks_watch_close(ks_watch_t *w)
{
	if (!w)
		return;
	cJSON_Delete(w->initial);
	free(w);
}

void ks_store_drop_watches(ks_store_t *st)
{
	pthread_mutex_lock(&st->mu);
	st->drop_gen++;
	pthread_cond_broadcast(&st->cond);
	pthread_mutex_unlock(&st->mu);
}

void ks_store_shutdown(ks_store_t *st)
{
	pthread_mutex_lock(&st->mu);
	st->stopping = true;
	pthread_cond_broadcast(&st->cond);
	pthread_mutex_unlock(&st->mu);
}

/* ---- subscribers ---------------------------------------------------------- */

int ks_store_subscribe(ks_store_t *st, const ks_rtype_t *rt, ks_store_cb cb, void *ud)
{
	int id = -1;
	pthread_mutex_lock(&st->mu);
	if (st->nsubs < KS_MAX_SUBS) {
		if (st->nsubs == 0)
			st->dispatched_rv = st->rv;
		id = st->next_sub_id++;
		st->subs[st->nsubs++] = (sub_t){id, rt, cb, ud};
	}
	pthread_mutex_unlock(&st->mu);
	return id;
}

void ks_store_unsubscribe(ks_store_t *st, int id)
{
	pthread_mutex_lock(&st->mu);
	for (int i = 0; i < st->nsubs; i++) {
		if (st->subs[i].id == id) {
			st->subs[i] = st->subs[--st->nsubs];
			break;
		}
	}
	pthread_mutex_unlock(&st->mu);
}

void ks_store_dispatch(ks_store_t *st)
{
	event_t *evs = NULL;
	size_t n = 0;
	bool resync = false;
	sub_t subs[KS_MAX_SUBS];
	int nsubs;

	pthread_mutex_lock(&st->mu);
	nsubs = st->nsubs;
	memcpy(subs, st->subs, sizeof(sub_t) * (size_t)nsubs);
	if (nsubs == 0) {
		st->dispatched_rv = st->rv;
		pthread_mutex_unlock(&st->mu);
		return;
	}
	resync = st->dispatched_rv < st->floor;
	size_t k = hist_after(st, st->dispatched_rv);
	if (st->hlen > k) {
		evs = calloc(st->hlen - k, sizeof(event_t));
		for (; evs && k < st->hlen; k++) {
			event_t *ev = &st->hist[(st->hstart + k) % st->hmax];
			evs[n] = *ev;
			evs[n].obj = cJSON_Duplicate(ev->obj, 1);
			evs[n].old = ev->old ? cJSON_Duplicate(ev->old, 1) : NULL;
			n++;
		}
	}
	st->dispatched_rv = st->rv;
	pthread_mutex_unlock(&st->mu);
	for (int s = 0; s < nsubs; s++) {
		if (resync)
			subs[s].cb(subs[s].ud, KS_EV_RESYNC, subs[s].rt, NULL, NULL);
		for (size_t i = 0; i < n; i++) {
			const ks_rtype_t *rt = &ks_rtypes()[evs[i].rt];
			if (subs[s].rt && storage(subs[s].rt) != evs[i].rt)
				continue;
			subs[s].cb(subs[s].ud, evs[i].type, subs[s].rt ? subs[s].rt : rt,
			           evs[i].obj, evs[i].old);
		}
	}
	for (size_t i = 0; i < n; i++) {
		cJSON_Delete(evs[i].obj);
		cJSON_Delete(evs[i].old);
	}
	free(evs);
}

/* ---- snapshot ------------------------------------------------------------ */

bool ks_store_dirty(ks_store_t *st)
{
	pthread_mutex_lock(&st->mu);
	bool d = st->dirty;
	pthread_mutex_unlock(&st->mu);
	return d;
}

int ks_store_save(ks_store_t *st, const char *path, char *err, size_t errlen)
{
	char tmp[4096];
	char av[128];
	cJSON *root = cJSON_CreateObject();
	cJSON *objs;
	char *text;
	FILE *f;

	if (!root) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	pthread_mutex_lock(&st->mu);
	cJSON_AddNumberToObject(root, "resourceVersion", (double)st->rv);
	cJSON_AddNumberToObject(root, "ipNext", st->ip_next);
	objs = cJSON_AddArrayToObject(root, "objects");
	for (size_t r = 0; r < ks_rtypes_count(); r++) {
		const ks_rtype_t *rt = &ks_rtypes()[r];
		if (rt->storage != (int)r)
			continue;
		for (size_t i = 0; i < st->tab[r].n; i++) {
			cJSON *e = cJSON_CreateObject();
			cJSON_AddStringToObject(e, "apiVersion",
			                        ks_rtype_api_version(rt, av, sizeof(av)));
			cJSON_AddStringToObject(e, "resource", rt->plural);
			cJSON_AddItemToObject(e, "object", cJSON_Duplicate(st->tab[r].v[i].obj, 1));
			cJSON_AddItemToArray(objs, e);
		}
	}
	st->dirty = false;
	pthread_mutex_unlock(&st->mu);
	text = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	if (!text) {
		snprintf(err, errlen, "out of memory");
		goto dirty;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		free(text);
		goto dirty;
	}
	size_t n = strlen(text);
	bool ok = fwrite(text, 1, n, f) == n;
	ok = fflush(f) == 0 && ok;
	ok = fsync(fileno(f)) == 0 && ok;
	ok = fclose(f) == 0 && ok;
	free(text);
	if (!ok || rename(tmp, path) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		unlink(tmp);
		goto dirty;
	}
	return 0;
dirty:
	pthread_mutex_lock(&st->mu);
	st->dirty = true;
	pthread_mutex_unlock(&st->mu);
	return -1;
}

int ks_store_load(ks_store_t *st, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	base_buf_t b;
	char chunk[65536];
	size_t n;
	cJSON *root;
	const cJSON *it;
	int rc = 0;

	if (!f) {
		if (errno == ENOENT)
			return 1;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	base_buf_init(&b, KS_SNAPSHOT_MAX);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (base_buf_append(&b, chunk, n)) {
			snprintf(err, errlen, "%s: too large", path);
			fclose(f);
			base_buf_free(&b);
			return -1;
		}
	}
	fclose(f);
	root = cJSON_ParseWithLength(b.data ? b.data : "", b.len);
	base_buf_free(&b);
	const cJSON *jrv = cJSON_GetObjectItemCaseSensitive(root, "resourceVersion");
	if (!cJSON_IsObject(root) || !cJSON_IsNumber(jrv)) {
		snprintf(err, errlen, "%s: not a kubesim snapshot", path);
		cJSON_Delete(root);
		return -1;
	}
	pthread_mutex_lock(&st->mu);
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(root, "objects"))
	{
		const char *av =
		        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "apiVersion"));
		const char *res =
		        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "resource"));
		cJSON *obj = cJSON_GetObjectItemCaseSensitive(it, "object");
		const char *slash = av ? strchr(av, '/') : NULL;
		char group[128] = "";
		const ks_rtype_t *rt;
		if (slash)
			snprintf(group, sizeof(group), "%.*s", (int)(slash - av), av);
		rt = av && res ? ks_rtype_find(group, slash ? slash + 1 : av, res) : NULL;
		const char *name = cJSON_GetStringValue(kubeapi_get_path(obj, "metadata.name"));
		const char *ns = cJSON_GetStringValue(kubeapi_get_path(obj, "metadata.namespace"));
		bool found;
		if (!rt || !name || !cJSON_IsObject(obj)) {
			snprintf(err, errlen, "%s: bad entry (apiVersion %s, resource %s)", path,
			         av ? av : "?", res ? res : "?");
			rc = -1;
			break;
		}
		table_t *t = &st->tab[storage(rt)];
		size_t at = tab_find(t, ns_of(rt, ns), name, &found);
		if (found)
			continue;
		cJSON *copy = cJSON_Duplicate(obj, 1);
		if (!copy || tab_insert(t, at, ns_of(rt, ns), name, copy)) {
			cJSON_Delete(copy);
			snprintf(err, errlen, "out of memory");
			rc = -1;
			break;
		}
	}
	st->rv = (uint64_t)jrv->valuedouble;
	const cJSON *ip = cJSON_GetObjectItemCaseSensitive(root, "ipNext");
	if (cJSON_IsNumber(ip))
		st->ip_next = (unsigned)ip->valuedouble;
	/* History starts now: older resourceVersions are expired. */
	st->floor = st->rv;
	st->dispatched_rv = st->rv;
	pthread_mutex_unlock(&st->mu);
	cJSON_Delete(root);
	return rc;
}

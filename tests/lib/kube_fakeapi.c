#include "kube_fakeapi.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "base/buf.h"
#include "base/clock.h"
#include "kubeapi/kubeapi.h"

#define MAX_FAULTS 32

typedef struct {
	char *coll; /* "group/version/resource" */
	char *ns;   /* "" when cluster-scoped */
	char *name;
	cJSON *obj;
} fobj_t;

typedef struct {
	uint64_t rv;
	char type[10];
	char *coll, *ns, *name;
	cJSON *labels;
	char *json;
} fev_t;

typedef struct {
	char method[8];
	char path[200];
	int64_t t;
} freq_t;

typedef struct {
	char method[8];
	char sub[128];
	int status;
	int retry_after;
	int delay_ms;
	int count;
} ffault_t;

struct kube_fakeapi {
	struct MHD_Daemon *d;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char url[96];
	char dir[256];
	char ca[PATH_MAX];
	char badca[PATH_MAX];
	char *key_pem, *cert_pem;
	char *token;
	fobj_t *objs;
	size_t nobj, capobj;
	fev_t *log;
	size_t nlog, caplog;
	uint64_t compact_rv;
	uint64_t rv;
	uint64_t uid;
	ffault_t faults[MAX_FAULTS];
	int nfault;
	freq_t *reqs;
	size_t nreq, capreq;
	int drop_gen;
	size_t chunk;
	bool no_events_v1;
	uint64_t list_rv;
	int watchers;
	bool stopping;
	char last_ctype[128];
	char last_query[2048];
};

typedef struct {
	base_buf_t body;
} reqctx_t;

typedef struct {
	kube_fakeapi_t *f;
	char *coll, *ns;
	kubeapi_selector_t *sel;
	char *field_name;
	uint64_t pos;
	int64_t deadline;
	int drop_gen;
	bool bookmarks;
	int64_t last_bookmark;
	base_buf_t pending;
	size_t poff;
	bool end_after_pending;
} fwatch_t;

/* ---- helpers ---- */

static void send_raw(struct MHD_Connection *c, int status, char *body, const char *ctype,
                     int retry_after)
{
	struct MHD_Response *r =
	        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(r, "Content-Type", ctype);
	if (retry_after >= 0) {
		char ra[16];
		snprintf(ra, sizeof(ra), "%d", retry_after);
		MHD_add_response_header(r, "Retry-After", ra);
	}
	MHD_queue_response(c, (unsigned)status, r);
	MHD_destroy_response(r);
}

static void send_json(struct MHD_Connection *c, int status, cJSON *o)
{
	char *s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	send_raw(c, status, s ? s : strdup("{}"), "application/json", -1);
}

static void send_status(struct MHD_Connection *c, int code, const char *reason, const char *msg,
                        int retry_after)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "kind", "Status");
	cJSON_AddStringToObject(o, "apiVersion", "v1");
	cJSON_AddObjectToObject(o, "metadata");
	cJSON_AddStringToObject(o, "status", "Failure");
	cJSON_AddStringToObject(o, "message", msg);
	cJSON_AddStringToObject(o, "reason", reason);
	cJSON_AddNumberToObject(o, "code", code);
	char *s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	send_raw(c, code, s, "application/json", retry_after);
}

static const char *reason_for(int code)
{
	switch (code) {
	case 400:
		return "BadRequest";
	case 401:
		return "Unauthorized";
	case 404:
		return "NotFound";
	case 409:
		return "Conflict";
	case 410:
		return "Expired";
	case 429:
		return "TooManyRequests";
	case 503:
		return "ServiceUnavailable";
	default:
		return code >= 500 ? "InternalError" : "BadRequest";
	}
}

static const char *mstr(const cJSON *obj, const char *k)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	const cJSON *v = m ? cJSON_GetObjectItemCaseSensitive(m, k) : NULL;
	return cJSON_IsString(v) ? v->valuestring : NULL;
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

static void mset(cJSON *obj, const char *k, const char *v)
{
	cJSON *m = meta_of(obj);
	cJSON_DeleteItemFromObjectCaseSensitive(m, k);
	cJSON_AddStringToObject(m, k, v);
}

static char *xstrdup(const char *s)
{
	return strdup(s ? s : "");
}

/* ---- store (caller holds mu) ---- */

static fobj_t *find_obj(kube_fakeapi_t *f, const char *coll, const char *ns, const char *name)
{
	for (size_t i = 0; i < f->nobj; i++) {
		fobj_t *o = &f->objs[i];
		if (strcmp(o->coll, coll) == 0 && strcmp(o->ns, ns) == 0 &&
		    strcmp(o->name, name) == 0)
			return o;
	}
	return NULL;
}

static void log_event(kube_fakeapi_t *f, const char *type, const char *coll, const char *ns,
                      const cJSON *obj)
{
	if (f->nlog == f->caplog) {
		f->caplog = f->caplog ? f->caplog * 2 : 256;
		f->log = realloc(f->log, f->caplog * sizeof(*f->log));
	}
	fev_t *e = &f->log[f->nlog++];
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	const cJSON *l = m ? cJSON_GetObjectItemCaseSensitive(m, "labels") : NULL;
	e->rv = f->rv;
	snprintf(e->type, sizeof(e->type), "%s", type);
	e->coll = xstrdup(coll);
	e->ns = xstrdup(ns);
	e->name = xstrdup(mstr(obj, "name"));
	e->labels = l ? cJSON_Duplicate(l, 1) : NULL;
	e->json = cJSON_PrintUnformatted(obj);
	pthread_cond_broadcast(&f->cv);
}

static void stamp(kube_fakeapi_t *f, cJSON *obj)
{
	char rv[32];
	f->rv++;
	snprintf(rv, sizeof(rv), "%llu", (unsigned long long)f->rv);
	mset(obj, "resourceVersion", rv);
}

/* Takes obj. Returns the stored object. */
static fobj_t *store_new(kube_fakeapi_t *f, const char *coll, const char *ns, cJSON *obj)
{
	char uid[64], ts[40];
	if (f->nobj == f->capobj) {
		f->capobj = f->capobj ? f->capobj * 2 : 64;
		f->objs = realloc(f->objs, f->capobj * sizeof(*f->objs));
	}
	fobj_t *o = &f->objs[f->nobj++];
	f->uid++;
	snprintf(uid, sizeof(uid), "00000000-0000-4000-8000-%012llx", (unsigned long long)f->uid);
	mset(obj, "uid", uid);
	mset(obj, "creationTimestamp", base_format_rfc3339(base_wall_ms(), ts, sizeof(ts)));
	if (ns[0])
		mset(obj, "namespace", ns);
	stamp(f, obj);
	o->coll = xstrdup(coll);
	o->ns = xstrdup(ns);
	o->name = xstrdup(mstr(obj, "name"));
	o->obj = obj;
	log_event(f, "ADDED", coll, ns, obj);
	return o;
}

static void store_replace(kube_fakeapi_t *f, fobj_t *o, cJSON *obj)
{
	/* Keep server-owned metadata. */
	mset(obj, "uid", mstr(o->obj, "uid"));
	mset(obj, "creationTimestamp", mstr(o->obj, "creationTimestamp"));
	mset(obj, "name", o->name);
	if (o->ns[0])
		mset(obj, "namespace", o->ns);
	stamp(f, obj);
	cJSON_Delete(o->obj);
	o->obj = obj;
	log_event(f, "MODIFIED", o->coll, o->ns, obj);
}

static void store_delete(kube_fakeapi_t *f, fobj_t *o)
{
	stamp(f, o->obj);
	log_event(f, "DELETED", o->coll, o->ns, o->obj);
	cJSON_Delete(o->obj);
	free(o->coll);
	free(o->ns);
	free(o->name);
	size_t i = (size_t)(o - f->objs);
	memmove(&f->objs[i], &f->objs[i + 1], (f->nobj - i - 1) * sizeof(*o));
	f->nobj--;
}

/* ---- path parsing ---- */

typedef struct {
	char coll[160];
	char group[64];
	char version[16];
	char resource[64];
	char ns[64];
	char name[256];
	char sub[32];
	bool has_ns;
} fpath_t;

static int parse_path(const char *url, fpath_t *p)
{
	char buf[512];
	char *seg[10];
	int n = 0, i = 0;
	memset(p, 0, sizeof(*p));
	if (snprintf(buf, sizeof(buf), "%s", url) >= (int)sizeof(buf))
		return -1;
	char *s = buf;
	while (*s && n < 10) {
		while (*s == '/')
			*s++ = '\0';
		if (*s == '\0')
			break;
		seg[n++] = s;
		while (*s && *s != '/')
			s++;
	}
	if (n >= 2 && strcmp(seg[0], "api") == 0) {
		snprintf(p->version, sizeof(p->version), "%s", seg[1]);
		i = 2;
	} else if (n >= 3 && strcmp(seg[0], "apis") == 0) {
		snprintf(p->group, sizeof(p->group), "%s", seg[1]);
		snprintf(p->version, sizeof(p->version), "%s", seg[2]);
		i = 3;
	} else {
		return -1;
	}
	if (n - i >= 3 && strcmp(seg[i], "namespaces") == 0) {
		snprintf(p->ns, sizeof(p->ns), "%s", seg[i + 1]);
		p->has_ns = true;
		i += 2;
	}
	if (i >= n)
		return -1;
	snprintf(p->resource, sizeof(p->resource), "%s", seg[i++]);
	if (i < n)
		snprintf(p->name, sizeof(p->name), "%s", seg[i++]);
	if (i < n)
		snprintf(p->sub, sizeof(p->sub), "%s", seg[i++]);
	if (i < n)
		return -1;
	snprintf(p->coll, sizeof(p->coll), "%s/%s/%s", p->group, p->version, p->resource);
	return 0;
}

static const char *kind_of(const char *resource)
{
	if (strcmp(resource, "configmaps") == 0)
		return "ConfigMap";
	if (strcmp(resource, "pods") == 0)
		return "Pod";
	if (strcmp(resource, "deployments") == 0)
		return "Deployment";
	if (strcmp(resource, "leases") == 0)
		return "Lease";
	if (strcmp(resource, "events") == 0)
		return "Event";
	return "Object";
}

/* ---- merge patch (RFC 7386) ---- */

static cJSON *merge(cJSON *target, const cJSON *patch)
{
	if (!cJSON_IsObject(patch)) {
		cJSON_Delete(target);
		return cJSON_Duplicate(patch, 1);
	}
	if (!cJSON_IsObject(target)) {
		cJSON_Delete(target);
		target = cJSON_CreateObject();
	}
	for (const cJSON *it = patch->child; it; it = it->next) {
		cJSON *t = cJSON_DetachItemFromObjectCaseSensitive(target, it->string);
		if (cJSON_IsNull(it)) {
			cJSON_Delete(t);
			continue;
		}
		cJSON_AddItemToObject(target, it->string, merge(t, it));
	}
	return target;
}

/* ---- watch streaming ---- */

static bool ev_matches(const fwatch_t *w, const fev_t *e)
{
	if (strcmp(e->coll, w->coll) != 0)
		return false;
	if (w->ns[0] && strcmp(e->ns, w->ns) != 0)
		return false;
	if (w->field_name && strcmp(e->name, w->field_name) != 0)
		return false;
	return kubeapi_selector_matches(w->sel, e->labels);
}

static size_t first_after(const kube_fakeapi_t *f, uint64_t rv)
{
	size_t lo = 0, hi = f->nlog;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (f->log[mid].rv <= rv)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static ssize_t watch_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	fwatch_t *w = cls;
	kube_fakeapi_t *f = w->f;
	(void)pos;

	for (;;) {
		if (w->poff < w->pending.len) {
			size_t n = w->pending.len - w->poff;
			pthread_mutex_lock(&f->mu);
			size_t chunk = f->chunk;
			pthread_mutex_unlock(&f->mu);
			if (n > max)
				n = max;
			if (chunk && n > chunk)
				n = chunk;
			memcpy(buf, w->pending.data + w->poff, n);
			w->poff += n;
			return (ssize_t)n;
		}
		base_buf_reset(&w->pending);
		w->poff = 0;
		if (w->end_after_pending)
			return MHD_CONTENT_READER_END_OF_STREAM;
		pthread_mutex_lock(&f->mu);
		if (f->stopping || f->drop_gen != w->drop_gen) {
			pthread_mutex_unlock(&f->mu);
			return MHD_CONTENT_READER_END_WITH_ERROR;
		}
		if (w->pos < f->compact_rv) {
			pthread_mutex_unlock(&f->mu);
			base_buf_appends(&w->pending,
			                 "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\","
			                 "\"apiVersion\":\"v1\",\"status\":\"Failure\",\"message\":"
			                 "\"too old resource version\",\"reason\":\"Expired\","
			                 "\"code\":410}}\n");
			w->end_after_pending = true;
			continue;
		}
		/* Batch what is ready, up to 64 KiB, to keep the stream fast. */
		for (size_t i = first_after(f, w->pos); i < f->nlog && w->pending.len < 65536;
		     i++) {
			fev_t *e = &f->log[i];
			w->pos = e->rv;
			if (!ev_matches(w, e))
				continue;
			base_buf_printf(&w->pending, "{\"type\":\"%s\",\"object\":%s}\n", e->type,
			                e->json);
		}
		if (w->pending.len > 0) {
			pthread_mutex_unlock(&f->mu);
			continue;
		}
		int64_t now = base_now_ms();
		if (w->bookmarks && f->rv > w->pos && now - w->last_bookmark > 300) {
			w->pos = f->rv;
			w->last_bookmark = now;
			base_buf_printf(&w->pending,
			                "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"%s\","
			                "\"metadata\":{\"resourceVersion\":\"%llu\"}}}\n",
			                kind_of(strrchr(w->coll, '/') + 1),
			                (unsigned long long)f->rv);
			pthread_mutex_unlock(&f->mu);
			continue;
		}
		if (now >= w->deadline) {
			pthread_mutex_unlock(&f->mu);
			return MHD_CONTENT_READER_END_OF_STREAM;
		}
		struct timespec ts;
		base_abs_timespec(&ts, 50);
		pthread_cond_timedwait(&f->cv, &f->mu, &ts);
		pthread_mutex_unlock(&f->mu);
	}
}

static void watch_free(void *cls)
{
	fwatch_t *w = cls;
	pthread_mutex_lock(&w->f->mu);
	w->f->watchers--;
	pthread_mutex_unlock(&w->f->mu);
	kubeapi_selector_free(w->sel);
	base_buf_free(&w->pending);
	free(w->coll);
	free(w->ns);
	free(w->field_name);
	free(w);
}

/* ---- request handling ---- */

static const char *arg(struct MHD_Connection *c, const char *k)
{
	return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, k);
}

static enum MHD_Result collect_query(void *cls, enum MHD_ValueKind kind, const char *k,
                                     const char *v)
{
	base_buf_t *b = cls;
	(void)kind;
	base_buf_printf(b, "%s%s=%s", b->len ? "&" : "", k, v ? v : "");
	return MHD_YES;
}

static int parse_field(const char *fs, char **name_out, char **ns_out)
{
	*name_out = NULL;
	*ns_out = NULL;
	while (fs && *fs) {
		const char *end = strchr(fs, ',');
		size_t n = end ? (size_t)(end - fs) : strlen(fs);
		char tok[256];
		if (n >= sizeof(tok))
			return -1;
		memcpy(tok, fs, n);
		tok[n] = '\0';
		fs = end ? end + 1 : NULL;
		char *eq = strchr(tok, '=');
		if (eq == NULL || eq == tok || eq[-1] == '!')
			return -1;
		char *val = eq + 1;
		if (*val == '=')
			val++;
		*eq = '\0';
		char **dst = strcmp(tok, "metadata.name") == 0        ? name_out
		             : strcmp(tok, "metadata.namespace") == 0 ? ns_out
		                                                      : NULL;
		if (dst == NULL)
			return -1;
		free(*dst);
		*dst = strdup(val);
	}
	return 0;
}

static void handle_watch(kube_fakeapi_t *f, struct MHD_Connection *c, const fpath_t *p)
{
	char err[128];
	fwatch_t *w = calloc(1, sizeof(*w));
	const char *rv = arg(c, "resourceVersion");
	const char *to = arg(c, "timeoutSeconds");
	const char *bm = arg(c, "allowWatchBookmarks");
	char *fns = NULL;

	w->f = f;
	w->coll = xstrdup(p->coll);
	w->ns = xstrdup(p->ns);
	base_buf_init(&w->pending, 64u << 20);
	if (kubeapi_selector_parse(arg(c, "labelSelector"), &w->sel, err, sizeof(err)) != 0 ||
	    parse_field(arg(c, "fieldSelector"), &w->field_name, &fns) != 0) {
		free(fns);
		watch_free(w);
		pthread_mutex_lock(&f->mu);
		f->watchers++; /* watch_free decremented */
		pthread_mutex_unlock(&f->mu);
		send_status(c, 400, "BadRequest", "bad selector", -1);
		return;
	}
	free(fns);
	w->bookmarks = bm && strcmp(bm, "true") == 0;
	w->deadline = base_now_ms() + (to ? strtol(to, NULL, 10) : 300) * 1000;
	pthread_mutex_lock(&f->mu);
	w->pos = rv && rv[0] && strcmp(rv, "0") != 0 ? strtoull(rv, NULL, 10) : f->rv;
	w->drop_gen = f->drop_gen;
	f->watchers++;
	pthread_mutex_unlock(&f->mu);
	struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 65536,
	                                                           watch_read, w, watch_free);
	MHD_add_response_header(r, "Content-Type", "application/json");
	MHD_queue_response(c, 200, r);
	MHD_destroy_response(r);
}

static void handle_list(kube_fakeapi_t *f, struct MHD_Connection *c, const fpath_t *p)
{
	char err[128];
	kubeapi_selector_t *sel = NULL;
	char *fname = NULL, *fns = NULL;
	const char *lim = arg(c, "limit");
	const char *cont = arg(c, "continue");
	long limit = lim ? strtol(lim, NULL, 10) : 0;
	size_t start = 0;
	uint64_t list_rv;

	if (kubeapi_selector_parse(arg(c, "labelSelector"), &sel, err, sizeof(err)) != 0) {
		send_status(c, 400, "BadRequest", err, -1);
		return;
	}
	if (parse_field(arg(c, "fieldSelector"), &fname, &fns) != 0) {
		kubeapi_selector_free(sel);
		send_status(c, 400, "BadRequest", "unsupported field selector", -1);
		return;
	}
	pthread_mutex_lock(&f->mu);
	list_rv = f->list_rv ? f->list_rv : f->rv;
	if (cont && cont[0]) {
		unsigned long long crv = 0, cidx = 0;
		if (sscanf(cont, "%llu:%llu", &crv, &cidx) != 2) {
			pthread_mutex_unlock(&f->mu);
			send_status(c, 400, "BadRequest", "bad continue token", -1);
			goto out;
		}
		if (crv < f->compact_rv) {
			pthread_mutex_unlock(&f->mu);
			send_status(c, 410, "Expired", "continue token expired", -1);
			goto out;
		}
		list_rv = crv;
		start = cidx;
	}
	cJSON *o = cJSON_CreateObject();
	char kind[96], rvs[32];
	snprintf(kind, sizeof(kind), "%sList", kind_of(p->resource));
	cJSON_AddStringToObject(o, "kind", kind);
	cJSON_AddStringToObject(o, "apiVersion", p->version);
	cJSON *m = cJSON_AddObjectToObject(o, "metadata");
	snprintf(rvs, sizeof(rvs), "%llu", (unsigned long long)list_rv);
	cJSON_AddStringToObject(m, "resourceVersion", rvs);
	cJSON *items = cJSON_AddArrayToObject(o, "items");
	long n = 0;
	size_t i;
	for (i = start; i < f->nobj; i++) {
		fobj_t *ob = &f->objs[i];
		if (strcmp(ob->coll, p->coll) != 0)
			continue;
		if (p->has_ns && strcmp(ob->ns, p->ns) != 0)
			continue;
		if (fns && strcmp(ob->ns, fns) != 0)
			continue;
		if (fname && strcmp(ob->name, fname) != 0)
			continue;
		const cJSON *md = cJSON_GetObjectItemCaseSensitive(ob->obj, "metadata");
		if (!kubeapi_selector_matches(
		            sel, md ? cJSON_GetObjectItemCaseSensitive(md, "labels") : NULL))
			continue;
		if (limit > 0 && n == limit) {
			char tok[64];
			snprintf(tok, sizeof(tok), "%llu:%zu", (unsigned long long)list_rv, i);
			cJSON_AddStringToObject(m, "continue", tok);
			break;
		}
		cJSON_AddItemToArray(items, cJSON_Duplicate(ob->obj, 1));
		n++;
	}
	pthread_mutex_unlock(&f->mu);
	send_json(c, 200, o);
out:
	kubeapi_selector_free(sel);
	free(fname);
	free(fns);
}

static cJSON *scale_of(const fobj_t *o)
{
	cJSON *s = cJSON_CreateObject();
	const cJSON *spec = cJSON_GetObjectItemCaseSensitive(o->obj, "spec");
	const cJSON *rep = spec ? cJSON_GetObjectItemCaseSensitive(spec, "replicas") : NULL;
	cJSON_AddStringToObject(s, "kind", "Scale");
	cJSON_AddStringToObject(s, "apiVersion", "autoscaling/v1");
	cJSON *m = cJSON_AddObjectToObject(s, "metadata");
	cJSON_AddStringToObject(m, "name", o->name);
	cJSON_AddStringToObject(m, "namespace", o->ns);
	cJSON_AddStringToObject(m, "resourceVersion", mstr(o->obj, "resourceVersion"));
	cJSON *sp = cJSON_AddObjectToObject(s, "spec");
	cJSON_AddNumberToObject(sp, "replicas", cJSON_IsNumber(rep) ? rep->valuedouble : 1);
	cJSON *st = cJSON_AddObjectToObject(s, "status");
	cJSON_AddNumberToObject(st, "replicas", cJSON_IsNumber(rep) ? rep->valuedouble : 1);
	cJSON_AddStringToObject(st, "selector", "app=worker");
	return s;
}

static void handle(kube_fakeapi_t *f, struct MHD_Connection *c, const char *url, const char *method,
                   const char *body, size_t body_len)
{
	fpath_t p;
	const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	const char *ctype = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
	base_buf_t q;

	base_buf_init(&q, 2000);
	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_query, &q);
	pthread_mutex_lock(&f->mu);
	if (f->nreq == f->capreq) {
		f->capreq = f->capreq ? f->capreq * 2 : 256;
		f->reqs = realloc(f->reqs, f->capreq * sizeof(*f->reqs));
	}
	freq_t *rq = &f->reqs[f->nreq++];
	snprintf(rq->method, sizeof(rq->method), "%s", method);
	snprintf(rq->path, sizeof(rq->path), "%s", url);
	rq->t = base_now_ms();
	snprintf(f->last_ctype, sizeof(f->last_ctype), "%s", ctype ? ctype : "");
	snprintf(f->last_query, sizeof(f->last_query), "%s", q.data ? q.data : "");
	base_buf_free(&q);
	if (f->token) {
		char want[600];
		snprintf(want, sizeof(want), "Bearer %s", f->token);
		if (auth == NULL || strcmp(auth, want) != 0) {
			pthread_mutex_unlock(&f->mu);
			send_status(c, 401, "Unauthorized", "Unauthorized", -1);
			return;
		}
	}
	for (int i = 0; i < f->nfault; i++) {
		ffault_t *ft = &f->faults[i];
		if (ft->count <= 0)
			continue;
		if (ft->method[0] && strcmp(ft->method, method) != 0)
			continue;
		if (ft->sub[0] && strstr(url, ft->sub) == NULL)
			continue;
		ft->count--;
		int st = ft->status, ra = ft->retry_after, delay = ft->delay_ms;
		pthread_mutex_unlock(&f->mu);
		if (delay > 0)
			base_sleep_ms(delay);
		if (st != 0) {
			send_status(c, st, reason_for(st), "injected fault", ra);
			return;
		}
		pthread_mutex_lock(&f->mu);
		break;
	}
	pthread_mutex_unlock(&f->mu);

	if (parse_path(url, &p) != 0) {
		send_raw(c, 404, strdup("404 page not found\n"), "text/plain", -1);
		return;
	}
	pthread_mutex_lock(&f->mu);
	bool no_v1 = f->no_events_v1;
	pthread_mutex_unlock(&f->mu);
	if (no_v1 && strcmp(p.group, "events.k8s.io") == 0) {
		send_raw(c, 404, strdup("404 page not found\n"), "text/plain", -1);
		return;
	}
	bool get = strcmp(method, "GET") == 0;
	if (get && p.name[0] == '\0') {
		const char *wa = arg(c, "watch");
		if (wa && (strcmp(wa, "1") == 0 || strcmp(wa, "true") == 0))
			handle_watch(f, c, &p);
		else
			handle_list(f, c, &p);
		return;
	}
	cJSON *in = NULL;
	if (body_len > 0) {
		in = cJSON_ParseWithLength(body, body_len);
		if (in == NULL) {
			send_status(c, 400, "BadRequest", "body is not JSON", -1);
			return;
		}
	}
	pthread_mutex_lock(&f->mu);
	fobj_t *o = p.name[0] ? find_obj(f, p.coll, p.ns, p.name) : NULL;
	if (strcmp(method, "POST") == 0 && p.name[0] == '\0') {
		const char *name = in ? mstr(in, "name") : NULL;
		if (!cJSON_IsObject(in) || name == NULL || name[0] == '\0') {
			pthread_mutex_unlock(&f->mu);
			cJSON_Delete(in);
			send_status(c, 422, "Invalid", "metadata.name: Required value", -1);
			return;
		}
		if (find_obj(f, p.coll, p.ns, name)) {
			pthread_mutex_unlock(&f->mu);
			char msg[400];
			snprintf(msg, sizeof(msg), "%s \"%s\" already exists", p.resource, name);
			cJSON_Delete(in);
			send_status(c, 409, "AlreadyExists", msg, -1);
			return;
		}
		fobj_t *n = store_new(f, p.coll, p.ns, in);
		cJSON *out = cJSON_Duplicate(n->obj, 1);
		pthread_mutex_unlock(&f->mu);
		send_json(c, 201, out);
		return;
	}
	if (o == NULL) {
		pthread_mutex_unlock(&f->mu);
		cJSON_Delete(in);
		char msg[400];
		snprintf(msg, sizeof(msg), "%s \"%s\" not found", p.resource, p.name);
		send_status(c, 404, "NotFound", msg, -1);
		return;
	}
	bool scale = strcmp(p.sub, "scale") == 0;
	if (get) {
		cJSON *out = scale ? scale_of(o) : cJSON_Duplicate(o->obj, 1);
		pthread_mutex_unlock(&f->mu);
		send_json(c, 200, out);
		return;
	}
	if (strcmp(method, "PUT") == 0) {
		const char *rv = in ? mstr(in, "resourceVersion") : NULL;
		if (!cJSON_IsObject(in)) {
			pthread_mutex_unlock(&f->mu);
			cJSON_Delete(in);
			send_status(c, 400, "BadRequest", "body must be an object", -1);
			return;
		}
		if (rv && rv[0] && strcmp(rv, mstr(o->obj, "resourceVersion")) != 0) {
			pthread_mutex_unlock(&f->mu);
			cJSON_Delete(in);
			send_status(c, 409, "Conflict",
			            "Operation cannot be fulfilled: the object has been modified; "
			            "please apply your changes to the latest version and try again",
			            -1);
			return;
		}
		store_replace(f, o, in);
		cJSON *out = cJSON_Duplicate(o->obj, 1);
		pthread_mutex_unlock(&f->mu);
		send_json(c, 200, out);
		return;
	}
	if (strcmp(method, "PATCH") == 0) {
		if (ctype == NULL ||
		    (strcmp(ctype, "application/merge-patch+json") != 0 &&
		     strcmp(ctype, "application/strategic-merge-patch+json") != 0)) {
			pthread_mutex_unlock(&f->mu);
			cJSON_Delete(in);
			send_status(c, 415, "UnsupportedMediaType",
			            "the fake API server only applies merge patches", -1);
			return;
		}
		cJSON *target = cJSON_Duplicate(o->obj, 1);
		if (scale) {
			const cJSON *sp = cJSON_GetObjectItemCaseSensitive(in, "spec");
			const cJSON *rep =
			        sp ? cJSON_GetObjectItemCaseSensitive(sp, "replicas") : NULL;
			cJSON *patch = cJSON_CreateObject();
			cJSON *ps = cJSON_AddObjectToObject(patch, "spec");
			if (cJSON_IsNumber(rep))
				cJSON_AddNumberToObject(ps, "replicas", rep->valuedouble);
			target = merge(target, patch);
			cJSON_Delete(patch);
		} else {
			target = merge(target, in);
		}
		cJSON_Delete(in);
		store_replace(f, o, target);
		cJSON *out = scale ? scale_of(o) : cJSON_Duplicate(o->obj, 1);
		pthread_mutex_unlock(&f->mu);
		send_json(c, 200, out);
		return;
	}
	if (strcmp(method, "DELETE") == 0) {
		const cJSON *pre =
		        in ? cJSON_GetObjectItemCaseSensitive(in, "preconditions") : NULL;
		const cJSON *prv =
		        pre ? cJSON_GetObjectItemCaseSensitive(pre, "resourceVersion") : NULL;
		if (cJSON_IsString(prv) &&
		    strcmp(prv->valuestring, mstr(o->obj, "resourceVersion")) != 0) {
			pthread_mutex_unlock(&f->mu);
			cJSON_Delete(in);
			send_status(c, 409, "Conflict", "precondition failed: resourceVersion", -1);
			return;
		}
		cJSON_Delete(in);
		cJSON *out = cJSON_Duplicate(o->obj, 1);
		store_delete(f, o);
		pthread_mutex_unlock(&f->mu);
		send_json(c, 200, out);
		return;
	}
	pthread_mutex_unlock(&f->mu);
	cJSON_Delete(in);
	send_status(c, 405, "MethodNotAllowed", "method not allowed", -1);
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *c, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_size, void **con_cls)
{
	kube_fakeapi_t *f = cls;
	reqctx_t *rc = *con_cls;
	(void)version;
	if (rc == NULL) {
		rc = calloc(1, sizeof(*rc));
		base_buf_init(&rc->body, 8u << 20);
		*con_cls = rc;
		return MHD_YES;
	}
	if (*upload_size) {
		base_buf_append(&rc->body, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	handle(f, c, url, method, rc->body.data, rc->body.len);
	return MHD_YES;
}

static void completed_cb(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	reqctx_t *rc = *con_cls;
	(void)cls;
	(void)c;
	(void)toe;
	if (rc) {
		base_buf_free(&rc->body);
		free(rc);
		*con_cls = NULL;
	}
}

/* ---- certificates ---- */

static char *slurp(const char *path)
{
	FILE *fp = fopen(path, "rb");
	base_buf_t b;
	char chunk[4096];
	size_t n;
	if (fp == NULL)
		return NULL;
	base_buf_init(&b, 1u << 20);
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		base_buf_append(&b, chunk, n);
	fclose(fp);
	return base_buf_take(&b, NULL);
}

static int mint_certs(kube_fakeapi_t *f, const char *ip, char *err, size_t errlen)
{
	char cmd[4096];
	int n = snprintf(
	        cmd, sizeof(cmd),
	        "set -e; cd '%s'; "
	        "K='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes';"
	        "openssl req -x509 $K -keyout ca.key -out ca.crt -days 2 -subj /CN=fake-ca;"
	        "openssl req -x509 $K -keyout bad.key -out bad.crt -days 2 -subj /CN=other-ca;"
	        "openssl req $K -keyout srv.key -out srv.csr -subj /CN=fakeapi;"
	        "printf 'subjectAltName=IP:%s\\nbasicConstraints=CA:FALSE\\n' > ext.cnf;"
	        "openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial "
	        "-out srv.crt -days 2 -extfile ext.cnf",
	        f->dir, ip);
	if (n < 0 || n >= (int)sizeof(cmd)) {
		snprintf(err, errlen, "cert command too long");
		return -1;
	}
	char full[4200];
	snprintf(full, sizeof(full), "(%s) >/dev/null 2>&1", cmd);
	if (system(full) != 0) {
		snprintf(err, errlen, "openssl failed to mint certificates in %s", f->dir);
		return -1;
	}
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/srv.key", f->dir);
	f->key_pem = slurp(path);
	snprintf(path, sizeof(path), "%s/srv.crt", f->dir);
	f->cert_pem = slurp(path);
	snprintf(f->ca, sizeof(f->ca), "%s/ca.crt", f->dir);
	snprintf(f->badca, sizeof(f->badca), "%s/bad.crt", f->dir);
	if (f->key_pem == NULL || f->cert_pem == NULL) {
		snprintf(err, errlen, "cannot read minted certificates");
		return -1;
	}
	return 0;
}

kube_fakeapi_t *kube_fakeapi_start(bool tls, char *err, size_t errlen)
{
	kube_fakeapi_t *f = calloc(1, sizeof(*f));
	struct sockaddr_in sa;
	char ip[32];
	unsigned seed = (unsigned)(base_now_ns() ^ (getpid() << 8));

	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->cv, NULL);
	snprintf(f->dir, sizeof(f->dir), "/tmp/kube-fakeapi-XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		snprintf(err, errlen, "mkdtemp: %s", strerror(errno));
		free(f);
		return NULL;
	}
	if (tls && !MHD_is_feature_supported(MHD_FEATURE_TLS)) {
		snprintf(err, errlen, "libmicrohttpd without TLS");
		goto fail;
	}
	for (int attempt = 0; attempt < 8 && f->d == NULL; attempt++) {
		seed = seed * 1103515245u + 12345u;
		unsigned a = (seed >> 8) & 0xff, b = (seed >> 16) % 254 + 1;
		snprintf(ip, sizeof(ip), "127.4.%u.%u", a, b);
		if (tls && attempt == 0 && mint_certs(f, ip, err, errlen) != 0)
			goto fail;
		if (tls && attempt > 0) {
			/* The certificate names the first address; keep it. */
			break;
		}
		memset(&sa, 0, sizeof(sa));
		sa.sin_family = AF_INET;
		sa.sin_port = 0;
		inet_pton(AF_INET, ip, &sa.sin_addr);
		unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD;
		if (tls) {
			flags |= MHD_USE_TLS;
			f->d = MHD_start_daemon(
			        flags, 0, NULL, NULL, access_cb, f, MHD_OPTION_SOCK_ADDR, &sa,
			        MHD_OPTION_NOTIFY_COMPLETED, completed_cb, f,
			        MHD_OPTION_HTTPS_MEM_KEY, f->key_pem, MHD_OPTION_HTTPS_MEM_CERT,
			        f->cert_pem, MHD_OPTION_END);
		} else {
			f->d = MHD_start_daemon(
			        flags, 0, NULL, NULL, access_cb, f, MHD_OPTION_SOCK_ADDR, &sa,
			        MHD_OPTION_NOTIFY_COMPLETED, completed_cb, f, MHD_OPTION_END);
		}
	}
	if (f->d == NULL) {
		snprintf(err, errlen, "cannot start the fake API server on %s", ip);
		goto fail;
	}
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(f->d, MHD_DAEMON_INFO_BIND_PORT);
	snprintf(f->url, sizeof(f->url), "%s://%s:%u", tls ? "https" : "http", ip,
	         di ? (unsigned)di->port : 0u);
	return f;
fail:
	kube_fakeapi_stop(f);
	return NULL;
}

void kube_fakeapi_stop(kube_fakeapi_t *f)
{
	char cmd[PATH_MAX + 32];
	if (f == NULL)
		return;
	pthread_mutex_lock(&f->mu);
	f->stopping = true;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
	if (f->d)
		MHD_stop_daemon(f->d);
	for (size_t i = 0; i < f->nobj; i++) {
		cJSON_Delete(f->objs[i].obj);
		free(f->objs[i].coll);
		free(f->objs[i].ns);
		free(f->objs[i].name);
	}
	free(f->objs);
	for (size_t i = 0; i < f->nlog; i++) {
		free(f->log[i].coll);
		free(f->log[i].ns);
		free(f->log[i].name);
		cJSON_Delete(f->log[i].labels);
		free(f->log[i].json);
	}
	free(f->log);
	free(f->reqs);
	free(f->token);
	free(f->key_pem);
	free(f->cert_pem);
	if (strncmp(f->dir, "/tmp/kube-fakeapi-", 18) == 0) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "kube_fakeapi: could not remove %s\n", f->dir);
	}
	pthread_mutex_destroy(&f->mu);
	pthread_cond_destroy(&f->cv);
	free(f);
}

const char *kube_fakeapi_url(const kube_fakeapi_t *f)
{
	return f->url;
}
const char *kube_fakeapi_ca_file(const kube_fakeapi_t *f)
{
	return f->ca;
}
const char *kube_fakeapi_bad_ca_file(const kube_fakeapi_t *f)
{
	return f->badca;
}
const char *kube_fakeapi_dir(const kube_fakeapi_t *f)
{
	return f->dir;
}

void kube_fakeapi_set_token(kube_fakeapi_t *f, const char *token)
{
	pthread_mutex_lock(&f->mu);
	free(f->token);
	f->token = token ? strdup(token) : NULL;
	pthread_mutex_unlock(&f->mu);
}

void kube_fakeapi_fault(kube_fakeapi_t *f, const char *method, const char *path_sub, int status,
                        int retry_after_s, int count)
{
	pthread_mutex_lock(&f->mu);
	if (f->nfault < MAX_FAULTS) {
		ffault_t *ft = &f->faults[f->nfault++];
		snprintf(ft->method, sizeof(ft->method), "%s", method ? method : "");
		snprintf(ft->sub, sizeof(ft->sub), "%s", path_sub ? path_sub : "");
		ft->status = status;
		ft->retry_after = retry_after_s;
		ft->count = count;
	}
	pthread_mutex_unlock(&f->mu);
}

void kube_fakeapi_clear_faults(kube_fakeapi_t *f)
{
	pthread_mutex_lock(&f->mu);
	f->nfault = 0;
	pthread_mutex_unlock(&f->mu);
}

void kube_fakeapi_delay(kube_fakeapi_t *f, const char *method, const char *path_sub, int delay_ms,
                        int count)
{
	kube_fakeapi_fault(f, method, path_sub, 0, -1, count);
	pthread_mutex_lock(&f->mu);
	if (f->nfault > 0)
		f->faults[f->nfault - 1].delay_ms = delay_ms;
	pthread_mutex_unlock(&f->mu);
}

void kube_fakeapi_drop_watches(kube_fakeapi_t *f)
{
	pthread_mutex_lock(&f->mu);
	f->drop_gen++;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
}

void kube_fakeapi_compact(kube_fakeapi_t *f)
{
	pthread_mutex_lock(&f->mu);
	for (size_t i = 0; i < f->nlog; i++) {
		free(f->log[i].coll);
		free(f->log[i].ns);
		free(f->log[i].name);
		cJSON_Delete(f->log[i].labels);
		free(f->log[i].json);
	}
	f->nlog = 0;
	/* A compaction revision of its own: every rv before it is gone, lists
	 * taken after it carry it, so watches from them are valid. */
	f->compact_rv = ++f->rv;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
}

void kube_fakeapi_set_watch_chunk(kube_fakeapi_t *f, size_t n)
{
	pthread_mutex_lock(&f->mu);
	f->chunk = n;
	pthread_mutex_unlock(&f->mu);
}

void kube_fakeapi_set_list_rv(kube_fakeapi_t *f, uint64_t rv)
{
	pthread_mutex_lock(&f->mu);
	f->list_rv = rv;
	pthread_mutex_unlock(&f->mu);
}

void kube_fakeapi_set_events_v1(kube_fakeapi_t *f, bool available)
{
	pthread_mutex_lock(&f->mu);
	f->no_events_v1 = !available;
	pthread_mutex_unlock(&f->mu);
}

uint64_t kube_fakeapi_put(kube_fakeapi_t *f, const char *collection, const char *json)
{
	fpath_t p;
	cJSON *o = cJSON_Parse(json);
	uint64_t rv;
	const char *name = o ? mstr(o, "name") : NULL;
	if (name == NULL || parse_path(collection, &p) != 0 || p.name[0]) {
		cJSON_Delete(o);
		return 0;
	}
	pthread_mutex_lock(&f->mu);
	fobj_t *ex = find_obj(f, p.coll, p.ns, name);
	if (ex)
		store_replace(f, ex, o);
	else
		store_new(f, p.coll, p.ns, o);
	rv = f->rv;
	pthread_mutex_unlock(&f->mu);
	return rv;
}

int kube_fakeapi_delete(kube_fakeapi_t *f, const char *collection, const char *name)
{
	fpath_t p;
	int rc = -1;
	if (parse_path(collection, &p) != 0)
		return -1;
	pthread_mutex_lock(&f->mu);
	fobj_t *ex = find_obj(f, p.coll, p.ns, name);
	if (ex) {
		store_delete(f, ex);
		rc = 0;
	}
	pthread_mutex_unlock(&f->mu);
	return rc;
}

uint64_t kube_fakeapi_rv(kube_fakeapi_t *f)
{
	uint64_t rv;
	pthread_mutex_lock(&f->mu);
	rv = f->rv;
	pthread_mutex_unlock(&f->mu);
	return rv;
}

static bool req_match(const freq_t *r, const char *method, const char *sub)
{
	return (method == NULL || strcmp(r->method, method) == 0) &&
	       (sub == NULL || strstr(r->path, sub) != NULL);
}

unsigned kube_fakeapi_count(kube_fakeapi_t *f, const char *method, const char *path_sub)
{
	unsigned n = 0;
	pthread_mutex_lock(&f->mu);
	for (size_t i = 0; i < f->nreq; i++)
		n += req_match(&f->reqs[i], method, path_sub);
	pthread_mutex_unlock(&f->mu);
	return n;
}

int64_t kube_fakeapi_time(kube_fakeapi_t *f, const char *method, const char *path_sub, unsigned i)
{
	int64_t t = -1;
	unsigned n = 0;
	pthread_mutex_lock(&f->mu);
	for (size_t k = 0; k < f->nreq; k++) {
		if (req_match(&f->reqs[k], method, path_sub) && n++ == i) {
			t = f->reqs[k].t;
			break;
		}
	}
	pthread_mutex_unlock(&f->mu);
	return t;
}

void kube_fakeapi_last_ctype(kube_fakeapi_t *f, char *buf, size_t cap)
{
	pthread_mutex_lock(&f->mu);
	snprintf(buf, cap, "%s", f->last_ctype);
	pthread_mutex_unlock(&f->mu);
}

void kube_fakeapi_last_query(kube_fakeapi_t *f, char *buf, size_t cap)
{
	pthread_mutex_lock(&f->mu);
	snprintf(buf, cap, "%s", f->last_query);
	pthread_mutex_unlock(&f->mu);
}

int kube_fakeapi_watchers(kube_fakeapi_t *f)
{
	int n;
	pthread_mutex_lock(&f->mu);
	n = f->watchers;
	pthread_mutex_unlock(&f->mu);
	return n;
}

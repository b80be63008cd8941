#include "server.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/clock.h"
#include "audit.h"
#include "base/log.h"
#include "kubeapi/kubeapi.h"
#include "openapi.h"
#include "proto.h"

#define BODY_MAX (3u << 20) /* kube-apiserver's request size limit */
#define MAX_SEGS 10

struct ks_server {
	struct MHD_Daemon *api;
	struct MHD_Daemon *admin;
	ks_server_config_t cfg;
	char server_addr[64];
	pthread_mutex_t hook_mu; /* guards podlogs/podmetrics and server_addr, set while serving */
	ks_podlogs_t *podlogs;
	ks_podmetrics_t *podmetrics;
	int port, admin_port;
};

typedef struct {
	base_buf_t body;
	bool too_big;
} req_t;

/* One watch stream: the reader callback pulls from the store. */
typedef struct {
	ks_server_t *srv;
	ks_watch_t *w;
	kubeapi_selector_t *lsel, *fsel;
	const ks_rtype_t *rt;
	char *pending;
	size_t plen, poff;
	int64_t deadline_ms;
	int64_t last_send_ms;
	bool table;
	bool include_object;
	bool done;
	int fd; /* the client's socket, to notice a hang-up on idle streams */
} watch_ctx_t;

/* The audit record of the request this thread serves (libmicrohttpd runs
 * a connection's handler on its own thread); NULL outside api_handler. */
static _Thread_local ks_audit_rec_t *tl_audit;

static void audit_code(int code)
{
	if (tl_audit)
		tl_audit->code = code;
}

static void audit_target(const char *verb, const char *group, const char *resource, const char *sub,
                         const char *ns, const char *name)
{
	ks_audit_rec_t *a = tl_audit;
	if (!a)
		return;
	snprintf(a->verb, sizeof(a->verb), "%s", verb);
	snprintf(a->group, sizeof(a->group), "%s", group ? group : "");
	snprintf(a->resource, sizeof(a->resource), "%s", resource ? resource : "");
	snprintf(a->subresource, sizeof(a->subresource), "%s", sub ? sub : "");
	snprintf(a->ns, sizeof(a->ns), "%s", ns ? ns : "");
	snprintf(a->name, sizeof(a->name), "%s", name ? name : "");
}

/* ---- responses ----------------------------------------------------------- */

static enum MHD_Result send_text(struct MHD_Connection *c, int code, const char *ctype, char *text,
                                 int retry_after)
{
	struct MHD_Response *r =
	        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	enum MHD_Result rc;
	if (!r) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", ctype);
	MHD_add_response_header(r, "Cache-Control", "no-cache, private");
	if (retry_after > 0) {
		char ra[16];
		snprintf(ra, sizeof(ra), "%d", retry_after);
		MHD_add_response_header(r, "Retry-After", ra);
	}
	audit_code(code);
	rc = MHD_queue_response(c, (unsigned)code, r);
	MHD_destroy_response(r);
	return rc;
}

/* Sends obj (consumed) as JSON. */
static enum MHD_Result send_json(struct MHD_Connection *c, int code, cJSON *obj)
{
	char *text = obj ? cJSON_PrintUnformatted(obj) : NULL;
	cJSON_Delete(obj);
	if (!text)
		return send_text(c, 500, "text/plain", strdup("out of memory\n"), 0);
	return send_text(c, code, "application/json", text, 0);
}

static cJSON *status_obj(int code, const char *reason, const char *msg)
{
	cJSON *s = cJSON_CreateObject();
	cJSON_AddStringToObject(s, "kind", "Status");
	cJSON_AddStringToObject(s, "apiVersion", "v1");
	cJSON_AddObjectToObject(s, "metadata");
	cJSON_AddStringToObject(s, "status", code < 300 ? "Success" : "Failure");
	cJSON_AddStringToObject(s, "message", msg);
	if (reason && *reason)
		cJSON_AddStringToObject(s, "reason", reason);
	cJSON_AddNumberToObject(s, "code", code);
	return s;
}

static enum MHD_Result send_status(struct MHD_Connection *c, int code, const char *reason,
                                   const char *msg, int retry_after)
{
	cJSON *s = status_obj(code, reason, msg);
	char *text = cJSON_PrintUnformatted(s);
	cJSON_Delete(s);
	if (!text)
		return MHD_NO;
	return send_text(c, code, "application/json", text, retry_after);
}

static enum MHD_Result send_err(struct MHD_Connection *c, const ks_err_t *e, const ks_rtype_t *rt,
                                const char *name)
{
	cJSON *s = status_obj(e->code, e->reason, e->message);
	if (rt) {
		cJSON *d = cJSON_AddObjectToObject(s, "details");
		if (name && *name)
			cJSON_AddStringToObject(d, "name", name);
		if (rt->group[0])
			cJSON_AddStringToObject(d, "group", rt->group);
		cJSON_AddStringToObject(d, "kind", rt->plural);
	}
	return send_json(c, e->code, s);
}

/* ---- request helpers ---------------------------------------------------- */

static const char *qarg(struct MHD_Connection *c, const char *key)
{
	return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key);
}

static const char *header(struct MHD_Connection *c, const char *key)
{
	return MHD_lookup_connection_value(c, MHD_HEADER_KIND, key);
}

static bool qbool(struct MHD_Connection *c, const char *key)
{
	const char *v = qarg(c, key);
	return v && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0);
}

/* Decodes %XX and '+' (Go's url.Values encodes spaces as '+'). */
static size_t unescape_cb(void *cls, struct MHD_Connection *c, char *s)
{
	char *r = s, *w = s;
	(void)cls;
	(void)c;
	while (*r) {
		if (*r == '+') {
			*w++ = ' ';
			r++;
		} else if (*r == '%' && isxdigit((unsigned char)r[1]) &&
		           isxdigit((unsigned char)r[2])) {
			char hex[3] = {r[1], r[2], 0};
			*w++ = (char)strtol(hex, NULL, 16);
			r += 3;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
	return (size_t)(w - s);
}

static bool wants_table(struct MHD_Connection *c)
{
	const char *a = header(c, "Accept");
	return a && strstr(a, "as=Table") != NULL;
}

/* dryRun=All and fieldValidation=Strict as write flags. */
static unsigned dry_flag(struct MHD_Connection *c)
{
	const char *d = qarg(c, "dryRun");
	const char *v = qarg(c, "fieldValidation");
	unsigned f = d && strcmp(d, "All") == 0 ? KS_W_DRYRUN : 0;
	return f | (v && strcmp(v, "Strict") == 0 ? KS_W_STRICT : 0);
}

static bool is_protobuf(const char *ctype)
{
	return ctype && strncmp(ctype, "application/vnd.kubernetes.protobuf", 35) == 0;
}

/* The body as JSON: JSON as is, protobuf (typed kubectl clients) decoded
 * for the kinds proto.c knows. */
static cJSON *parse_body(struct MHD_Connection *c, req_t *rq, const ks_rtype_t *rt, ks_err_t *e)
{
	cJSON *j;
	if (!rq->body.len) {
		ks_err_set(e, 400, "BadRequest", "the request body is empty");
		return NULL;
	}
	if (is_protobuf(header(c, "Content-Type")))
		return ks_proto_decode(rt, (const uint8_t *)rq->body.data, rq->body.len, e);
	j = cJSON_ParseWithLength(rq->body.data, rq->body.len);
	if (!j)
		ks_err_set(e, 400, "BadRequest", "the request body is not valid JSON");
	return j;
}

/* ---- list / get / watch ----------------------------------------------- */

static int parse_selectors(struct MHD_Connection *c, kubeapi_selector_t **l, kubeapi_selector_t **f,
                           ks_err_t *e)
{
	char err[256];
	*l = *f = NULL;
	if (kubeapi_selector_parse(qarg(c, "labelSelector"), l, err, sizeof(err)))
		return ks_err_set(e, 400, "BadRequest", "unable to parse labelSelector: %s", err);
	if (kubeapi_fieldsel_parse(qarg(c, "fieldSelector"), f, err, sizeof(err))) {
		kubeapi_selector_free(*l);
		*l = NULL;
		return ks_err_set(e, 400, "BadRequest", "unable to parse fieldSelector: %s", err);
	}
	return 0;
}

static enum MHD_Result do_list(ks_server_t *s, struct MHD_Connection *c, const ks_rtype_t *rt,
                               const char *ns)
{
	kubeapi_selector_t *l, *f;
	ks_err_t e;
	cJSON *items;
	uint64_t rv;
	char cont[600];
	long rest = 0, limit = 0;
	const char *lim = qarg(c, "limit");
	char rvs[32];

	if (lim) {
		char *end;
		errno = 0;
		limit = strtol(lim, &end, 10);
		if (errno || *end || limit < 0) {
			ks_err_set(&e, 400, "BadRequest", "invalid limit \"%s\"", lim);
			return send_err(c, &e, rt, NULL);
		}
	}
	if (parse_selectors(c, &l, &f, &e))
		return send_err(c, &e, rt, NULL);
	int rc = ks_store_list(s->cfg.store, rt, ns, l, f, limit, qarg(c, "continue"), &items, &rv,
	                       cont, sizeof(cont), &rest, &e);
	kubeapi_selector_free(l);
	kubeapi_selector_free(f);
	if (rc)
		return send_err(c, &e, rt, NULL);
	snprintf(rvs, sizeof(rvs), "%llu", (unsigned long long)rv);
	if (wants_table(c)) {
		const char *io = qarg(c, "includeObject");
		cJSON *t = ks_table(rt, items, rvs, cont, io && strcmp(io, "Object") == 0);
		cJSON_Delete(items);
		return send_json(c, 200, t);
	}
	cJSON *list = cJSON_CreateObject();
	char kind[96], av[96];
	snprintf(kind, sizeof(kind), "%sList", rt->kind);
	cJSON_AddStringToObject(list, "kind", kind);
	cJSON_AddStringToObject(list, "apiVersion", ks_rtype_api_version(rt, av, sizeof(av)));
	cJSON *meta = cJSON_AddObjectToObject(list, "metadata");
	cJSON_AddStringToObject(meta, "resourceVersion", rvs);
	if (cont[0]) {
		cJSON_AddStringToObject(meta, "continue", cont);
		cJSON_AddNumberToObject(meta, "remainingItemCount", (double)rest);
	}
	cJSON_AddItemToObject(list, "items", items);
	return send_json(c, 200, list);
}

static void watch_free(void *cls)
{
	watch_ctx_t *w = cls;
	ks_watch_close(w->w);
	kubeapi_selector_free(w->lsel);
	kubeapi_selector_free(w->fsel);
	free(w->pending);
	free(w);
}

/* Rewrites watch event lines so each object is a one-row Table. */
static char *tableize(watch_ctx_t *w, char *text, size_t *len)
{
	base_buf_t b;
	char *line = text;
	base_buf_init(&b, 64u << 20);
	while (line && *line) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		cJSON *ev = cJSON_Parse(line);
		cJSON *obj = cJSON_GetObjectItemCaseSensitive(ev, "object");
		const char *type =
		        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ev, "type"));
		if (ev && obj && type && strcmp(type, "ADDED") && strcmp(type, "MODIFIED") &&
		    strcmp(type, "DELETED")) {
			/* BOOKMARK and ERROR pass through. */
		} else if (ev && obj) {
			cJSON *items = cJSON_CreateArray();
			cJSON_AddItemToArray(items, cJSON_Duplicate(obj, 1));
			const char *rv = cJSON_GetStringValue(
			        kubeapi_get_path(obj, "metadata.resourceVersion"));
			cJSON *t = ks_table(w->rt, items, rv, NULL, w->include_object);
			cJSON_Delete(items);
			cJSON_ReplaceItemInObjectCaseSensitive(ev, "object", t);
		}
		char *s = ev ? cJSON_PrintUnformatted(ev) : NULL;
		if (s) {
			base_buf_appends(&b, s);
			base_buf_appends(&b, "\n");
			free(s);
		}
		cJSON_Delete(ev);
		line = nl ? nl + 1 : NULL;
	}
	free(text);
	return base_buf_take(&b, len);
}

/* True when the client closed its end: without this an idle watch whose
 * client went away would hold its thread until the next event. */
static bool peer_gone(int fd)
{
	struct pollfd p = {fd, POLLRDHUP, 0};
	if (fd < 0)
		return false;
	return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

static ssize_t watch_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	watch_ctx_t *w = cls;
	(void)pos;
	while (w->poff >= w->plen) {
		bool closed = false;
		size_t len;
		free(w->pending);
		w->pending = NULL;
		w->plen = w->poff = 0;
		if (w->done || peer_gone(w->fd))
			return MHD_CONTENT_READER_END_OF_STREAM;
		int64_t now = base_now_ms();
		if (w->deadline_ms && now >= w->deadline_ms)
			return MHD_CONTENT_READER_END_OF_STREAM;
		bool due = now - w->last_send_ms >= w->srv->cfg.bookmark_ms;
		char *text = ks_watch_next(w->w, 1000, due, &len, &closed);
		if (text && w->table)
			text = tableize(w, text, &len);
		if (closed)
			w->done = true;
		if (text && len) {
			w->pending = text;
			w->plen = len;
			w->last_send_ms = base_now_ms();
		} else {
			free(text);
		}
	}
	size_t n = w->plen - w->poff;
	if (n > max)
		n = max;
	memcpy(buf, w->pending + w->poff, n);
	w->poff += n;
	return (ssize_t)n;
}

static enum MHD_Result do_watch(ks_server_t *s, struct MHD_Connection *c, const ks_rtype_t *rt,
                                const char *ns, const char *name)
{
	ks_err_t e;
	watch_ctx_t *w = calloc(1, sizeof(*w));
	if (!w)
		return MHD_NO;
	w->srv = s;
	w->rt = rt;
	if (parse_selectors(c, &w->lsel, &w->fsel, &e)) {
		free(w);
		return send_err(c, &e, rt, NULL);
	}
	if (name) {
		/* GET .../NAME?watch=true watches one object. */
		char fs[400];
		kubeapi_selector_free(w->fsel);
		snprintf(fs, sizeof(fs), "metadata.name=%s", name);
		kubeapi_fieldsel_parse(fs, &w->fsel, NULL, 0);
	}
	if (ks_watch_open(s->cfg.store, rt, ns, w->lsel, w->fsel, qarg(c, "resourceVersion"),
	                  qbool(c, "allowWatchBookmarks"), &w->w, &e)) {
		watch_free(w);
		return send_err(c, &e, rt, NULL);
	}
	const char *ts = qarg(c, "timeoutSeconds");
	if (ts) {
		char *end;
		long v = strtol(ts, &end, 10);
		if (!*end && v > 0)
			w->deadline_ms = base_now_ms() + v * 1000;
	}
	w->table = wants_table(c);
	const char *io = qarg(c, "includeObject");
	w->include_object = io && strcmp(io, "Object") == 0;
	w->last_send_ms = base_now_ms();
	const union MHD_ConnectionInfo *ci =
	        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	w->fd = ci ? ci->connect_fd : -1;
	struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384,
	                                                           watch_reader, w, watch_free);
	if (!r) {
		watch_free(w);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "application/json");
	MHD_add_response_header(r, "Cache-Control", "no-cache, private");
	audit_code(200);
	enum MHD_Result rc = MHD_queue_response(c, 200, r);
	MHD_destroy_response(r);
	return rc;
}

static ks_podmetrics_t *get_podmetrics(ks_server_t *s);

/* ---- pods/log (issue 5) ----------------------------------------------------- */

static ssize_t log_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	(void)pos;
	ssize_t n = ks_logstream_read(cls, buf, max);
	return n > 0 ? n : MHD_CONTENT_READER_END_OF_STREAM;
}

static void log_free(void *cls)
{
	ks_logstream_close(cls);
}

static long qlong(struct MHD_Connection *c, const char *key, long dflt)
{
	const char *v = qarg(c, key);
	char *end;
	if (!v)
		return dflt;
	long n = strtol(v, &end, 10);
	return *end || n < 0 ? dflt : n;
}

static enum MHD_Result do_log(ks_server_t *s, struct MHD_Connection *c, const ks_rtype_t *rt,
                              const char *ns, const char *name)
{
	ks_err_t e;
	pthread_mutex_lock(&s->hook_mu);
	ks_podlogs_t *pl = s->podlogs;
	pthread_mutex_unlock(&s->hook_mu);
	if (!pl) {
		ks_err_set(&e, 400, "BadRequest", "pod \"%s\": kubesim runs no containers", name);
		return send_err(c, &e, rt, name);
	}
	ks_log_req_t req = {qarg(c, "container"), qlong(c, "tailLines", -1),
	                    qlong(c, "limitBytes", 0), qbool(c, "follow"), qbool(c, "previous")};
	ks_logstream_t *ls = ks_logstream_open(pl, ns, name, &req, &e);
	if (!ls)
		return send_err(c, &e, rt, name);
	struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384,
	                                                           log_reader, ls, log_free);
	if (!r) {
		ks_logstream_close(ls);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "text/plain");
	MHD_add_response_header(r, "Cache-Control", "no-cache, private");
	audit_code(200);
	enum MHD_Result rc = MHD_queue_response(c, 200, r);
	MHD_destroy_response(r);
	return rc;
}

/* metrics.k8s.io/v1beta1[/namespaces/NS]/pods[/NAME] */
static enum MHD_Result do_metrics(ks_server_t *s, struct MHD_Connection *c, char **seg, int nseg)
{
	ks_err_t e;
	const char *ns = NULL;
	if (nseg >= 2 && strcmp(seg[0], "namespaces") == 0) {
		ns = seg[1];
		seg += 2;
		nseg -= 2;
	}
	if (nseg < 1 || nseg > 2)
		return send_status(c, 404, "NotFound",
		                   "the server could not find the requested resource", 0);
	audit_target(nseg == 2 ? "get" : "list", "metrics.k8s.io", seg[0], NULL, ns,
	             nseg == 2 ? seg[1] : NULL);
	cJSON *o = ks_podmetrics_get(get_podmetrics(s), ns, seg[0], nseg == 2 ? seg[1] : NULL,
	                             qarg(c, "labelSelector"), &e);
	return o ? send_json(c, 200, o) : send_err(c, &e, NULL, NULL);
}

/* ---- patch ---------------------------------------------------------------- */

typedef enum { P_JSON, P_MERGE, P_STRATEGIC } ptype_t;

typedef struct {
	ptype_t type;
	const cJSON *patch;
	const ks_rtype_t *rt;
	bool scale;
} patch_ctx_t;

static int apply_patch(ptype_t type, cJSON **doc, const cJSON *patch, ks_err_t *e)
{
	char err[512] = "";
	int rc;
	switch (type) {
	case P_JSON:
		rc = kubeapi_json_patch(doc, patch, err, sizeof(err));
		if (rc == KUBEAPI_ETEST || rc == KUBEAPI_ENOPATH)
			return ks_err_set(e, 422, "Invalid", "%s", err);
		break;
	case P_MERGE:
		if (!cJSON_IsObject(patch))
			return ks_err_set(e, 400, "BadRequest",
			                  "a merge patch must be a JSON object");
		rc = kubeapi_merge_patch(doc, patch);
		break;
	default:
		rc = kubeapi_strategic_merge_patch(doc, patch, NULL, err, sizeof(err));
		break;
	}
	if (rc)
		return ks_err_set(e, rc == KUBEAPI_ENOMEM ? 500 : 400,
		                  rc == KUBEAPI_ENOMEM ? "InternalError" : "BadRequest", "%s",
		                  *err ? err : kubeapi_strerror(rc));
	return 0;
}

/* Writes spec.replicas from a Scale into the object; the Scale's
 * resourceVersion becomes the precondition. */
static int scale_into(cJSON *obj, const cJSON *scale, ks_err_t *e)
{
	const cJSON *r = kubeapi_get_path(scale, "spec.replicas");
	const char *rv = cJSON_GetStringValue(kubeapi_get_path(scale, "metadata.resourceVersion"));
	cJSON *spec = cJSON_GetObjectItemCaseSensitive(obj, "spec");
	if (!cJSON_IsNumber(r) || r->valuedouble < 0 || r->valuedouble > 1e6 ||
	    r->valuedouble != (double)(long)r->valuedouble)
		return ks_err_set(
		        e, 422, "Invalid",
		        "Scale.autoscaling \"\" is invalid: spec.replicas: Invalid value: "
		        "must be a non-negative integer");
	if (!spec)
		spec = cJSON_AddObjectToObject(obj, "spec");
	cJSON_DeleteItemFromObjectCaseSensitive(spec, "replicas");
	cJSON_AddNumberToObject(spec, "replicas", r->valuedouble);
	cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	if (rv && *rv && meta)
		cJSON_ReplaceItemInObjectCaseSensitive(meta, "resourceVersion",
		                                       cJSON_CreateString(rv));
	return 0;
}

static int patch_fn(cJSON **obj, void *ud, ks_err_t *e)
{
	patch_ctx_t *p = ud;
	if (!p->scale)
		return apply_patch(p->type, obj, p->patch, e);
	cJSON *scale = ks_scale_from(p->rt, *obj);
	int rc = apply_patch(p->type, &scale, p->patch, e);
	if (rc == 0)
		rc = scale_into(*obj, scale, e);
	cJSON_Delete(scale);
	return rc;
}

static int scale_put_fn(cJSON **obj, void *ud, ks_err_t *e)
{
	return scale_into(*obj, ud, e);
}

/* ---- the API router ------------------------------------------------------ */

typedef struct {
	const char *group, *version;
	char *seg[MAX_SEGS];
	int nseg;
} path_t;

static int split(char *p, char **seg, int max)
{
	int n = 0;
	char *save = NULL;
	for (char *t = strtok_r(p, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
		if (n == max)
			return -1;
		seg[n++] = t;
	}
	return n;
}

static enum MHD_Result do_resource(ks_server_t *s, struct MHD_Connection *c, const char *method,
                                   const char *group, const char *version, char **seg, int nseg,
                                   req_t *rq, const char *user)
{
	const ks_rtype_t *rt;
	const char *ns = NULL, *name = NULL, *sub = NULL;
	bool watch = false;
	ks_err_t e;
	cJSON *out = NULL;
	int rc;

	if (nseg > 0 && strcmp(seg[0], "watch") == 0) {
		watch = true;
		seg++;
		nseg--;
	}
	if (nseg >= 3 && strcmp(seg[0], "namespaces") == 0 &&
	    (rt = ks_rtype_find(group, version, seg[2])) && rt->namespaced) {
		ns = seg[1];
		seg += 2;
		nseg -= 2;
	}
	if (nseg < 1 || nseg > 3)
		return send_status(c, 404, "NotFound",
		                   "the server could not find the requested resource", 0);
	rt = ks_rtype_find(group, version, seg[0]);
	if (!rt)
		return send_status(c, 404, "NotFound",
		                   "the server could not find the requested resource", 0);
	name = nseg > 1 ? seg[1] : NULL;
	sub = nseg > 2 ? seg[2] : NULL;
	if (sub && !((strcmp(sub, "status") == 0 && (rt->flags & KS_RT_STATUS)) ||
	             (strcmp(sub, "scale") == 0 && (rt->flags & KS_RT_SCALE)) ||
	             (strcmp(sub, "log") == 0 && (rt->flags & KS_RT_LOG))))
		return send_status(c, 404, "NotFound",
		                   "the server could not find the requested resource", 0);
	if (!watch)
		watch = strcmp(method, "GET") == 0 && qbool(c, "watch");

	/* Verb for fault rules. */
	const char *verb = "get";
	if (strcmp(method, "GET") == 0)
		verb = watch ? "watch" : name ? "get" : "list";
	else if (strcmp(method, "POST") == 0)
		verb = "create";
	else if (strcmp(method, "PUT") == 0)
		verb = "update";
	else if (strcmp(method, "PATCH") == 0)
		verb = "patch";
	else if (strcmp(method, "DELETE") == 0)
		verb = name ? "delete" : "deletecollection";
	audit_target(verb, group, rt->plural, sub, ns, name);
	if (strcmp(verb, "deletecollection") == 0)
		verb = "delete"; /* fault rules know delete only */
	ks_fault_t f = ks_faults_check(s->cfg.faults, user, verb, rt->plural);
	if (f.latency_ms)
		base_sleep_ms(f.latency_ms);
	if (f.code) {
		static const struct {
			int code;
			const char *reason, *msg;
		} FM[] = {{409, "Conflict", "injected conflict: the object has been modified"},
		          {429, "TooManyRequests",
		           "injected: too many requests, please try again later"},
		          {500, "InternalError", "injected internal error"},
		          {503, "ServiceUnavailable",
		           "injected: the server is currently unable to handle the request"}};
		for (size_t i = 0; i < sizeof(FM) / sizeof(FM[0]); i++) {
			if (FM[i].code == f.code)
				return send_status(c, f.code, FM[i].reason, FM[i].msg,
				                   f.retry_after);
		}
	}
	if (rt->namespaced && name == NULL && ns == NULL && strcmp(method, "POST") == 0)
		return send_status(
		        c, 405, "MethodNotAllowed",
		        "the server does not allow this method on the requested resource", 0);

	if (strcmp(method, "GET") == 0) {
		if (watch)
			return do_watch(s, c, rt, ns, name);
		if (!name)
			return do_list(s, c, rt, ns);
		if (sub && strcmp(sub, "log") == 0)
			return do_log(s, c, rt, ns, name);
		rc = ks_store_get(s->cfg.store, rt, ns, name, &out, &e);
		if (rc)
			return send_err(c, &e, rt, name);
		if (sub && strcmp(sub, "scale") == 0) {
			cJSON *sc = ks_scale_from(rt, out);
			cJSON_Delete(out);
			return send_json(c, 200, sc);
		}
		if (wants_table(c)) {
			cJSON *items = cJSON_CreateArray();
			cJSON_AddItemToArray(items, out);
			const char *io = qarg(c, "includeObject");
			cJSON *t = ks_table(rt, items, NULL, NULL, io && strcmp(io, "Object") == 0);
			cJSON_Delete(items);
			return send_json(c, 200, t);
		}
		return send_json(c, 200, out);
	}

	if (strcmp(method, "POST") == 0) {
		if (name)
			return send_status(
			        c, 405, "MethodNotAllowed",
			        "the server does not allow this method on the requested resource",
			        0);
		cJSON *body = parse_body(c, rq, rt, &e);
		if (!body)
			return send_err(c, &e, rt, NULL);
		rc = ks_store_create(s->cfg.store, rt, ns, body, dry_flag(c), &out, &e);
		cJSON_Delete(body);
		if (rc)
			return send_err(c, &e, rt, NULL);
		return send_json(c, 201, out);
	}

	if (strcmp(method, "PUT") == 0 || strcmp(method, "PATCH") == 0) {
		if (!name || (sub && strcmp(sub, "log") == 0))
			return send_status(
			        c, 405, "MethodNotAllowed",
			        "the server does not allow this method on the requested resource",
			        0);
		unsigned flags = dry_flag(c);
		bool scale = sub && strcmp(sub, "scale") == 0;
		flags |= sub && strcmp(sub, "status") == 0 ? KS_W_STATUS : KS_W_MAIN;
		if (scale)
			flags = (flags & ~(unsigned)KS_W_STATUS) | KS_W_MAIN;
		cJSON *body = parse_body(c, rq, rt, &e);
		if (!body)
			return send_err(c, &e, rt, name);
		if (strcmp(method, "PUT") == 0) {
			if (scale)
				rc = ks_store_mutate(s->cfg.store, rt, ns, name, scale_put_fn, body,
				                     flags, &out, &e);
			else
				rc = ks_store_update(s->cfg.store, rt, ns, name, body, flags, &out,
				                     &e);
		} else {
			const char *ct = header(c, "Content-Type");
			patch_ctx_t p = {P_MERGE, body, rt, scale};
			if (ct && strncmp(ct, "application/json-patch+json", 27) == 0) {
				p.type = P_JSON;
			} else if (ct && strncmp(ct, "application/merge-patch+json", 28) == 0) {
				p.type = P_MERGE;
			} else if (ct &&
			           strncmp(ct, "application/strategic-merge-patch+json", 38) == 0) {
				p.type = P_STRATEGIC;
			} else {
				cJSON_Delete(body);
				char msg[300];
				snprintf(msg, sizeof(msg),
				         "the body of the request was in an unknown format - "
				         "accepted media "
				         "types include: application/json-patch+json, "
				         "application/merge-patch+json, "
				         "application/strategic-merge-patch+json "
				         "(got %.100s)",
				         ct ? ct : "none");
				return send_status(c, 415, "UnsupportedMediaType", msg, 0);
			}
			rc = ks_store_mutate(s->cfg.store, rt, ns, name, patch_fn, &p, flags, &out,
			                     &e);
		}
		cJSON_Delete(body);
		if (rc)
			return send_err(c, &e, rt, name);
		if (scale) {
			cJSON *sc = ks_scale_from(rt, out);
			cJSON_Delete(out);
			out = sc;
		}
		return send_json(c, 200, out);
	}

	if (strcmp(method, "DELETE") == 0) {
		unsigned flags = dry_flag(c);
		const char *uid = NULL, *prv = NULL;
		cJSON *opts =
		        rq->body.len ? cJSON_ParseWithLength(rq->body.data, rq->body.len) : NULL;
		const char *pp = cJSON_GetStringValue(
		        cJSON_GetObjectItemCaseSensitive(opts, "propagationPolicy"));
		if (!pp)
			pp = qarg(c, "propagationPolicy");
		if (pp && strcmp(pp, "Orphan") == 0)
			flags |= KS_DEL_ORPHAN;
		const cJSON *gp = cJSON_GetObjectItemCaseSensitive(opts, "gracePeriodSeconds");
		const char *gq = qarg(c, "gracePeriodSeconds");
		if ((cJSON_IsNumber(gp) && gp->valuedouble == 0) || (gq && strcmp(gq, "0") == 0))
			flags |= KS_DEL_FORCE;
		const cJSON *dr = cJSON_GetObjectItemCaseSensitive(opts, "dryRun");
		if (cJSON_IsArray(dr) && cJSON_GetArraySize(dr) > 0)
			flags |= KS_W_DRYRUN;
		uid = cJSON_GetStringValue(kubeapi_get_path(opts, "preconditions.uid"));
		prv = cJSON_GetStringValue(kubeapi_get_path(opts, "preconditions.resourceVersion"));
		if (name && !sub) {
			rc = ks_store_delete(s->cfg.store, rt, ns, name, uid, prv, flags, &out, &e);
			cJSON_Delete(opts);
			if (rc)
				return send_err(c, &e, rt, name);
			return send_json(c, 200, out);
		}
		if (name) {
			cJSON_Delete(opts);
			return send_status(
			        c, 405, "MethodNotAllowed",
			        "the server does not allow this method on the requested resource",
			        0);
		}
		/* deletecollection */
		kubeapi_selector_t *l, *fs;
		cJSON *items;
		uint64_t rv;
		char cont[8];
		long rest;
		if (parse_selectors(c, &l, &fs, &e)) {
			cJSON_Delete(opts);
			return send_err(c, &e, rt, NULL);
		}
		rc = ks_store_list(s->cfg.store, rt, ns, l, fs, 0, NULL, &items, &rv, cont,
		                   sizeof(cont), &rest, &e);
		kubeapi_selector_free(l);
		kubeapi_selector_free(fs);
		if (rc) {
			cJSON_Delete(opts);
			return send_err(c, &e, rt, NULL);
		}
		cJSON *it;
		cJSON *deleted = cJSON_CreateArray();
		cJSON_ArrayForEach(it, items)
		{
			cJSON *d = NULL;
			const char *n = cJSON_GetStringValue(kubeapi_get_path(it, "metadata.name"));
			const char *ins =
			        cJSON_GetStringValue(kubeapi_get_path(it, "metadata.namespace"));
			if (n && ks_store_delete(s->cfg.store, rt, ins, n, NULL, NULL, flags, &d,
			                         &e) == 0)
				cJSON_AddItemToArray(deleted, d);
		}
		cJSON_Delete(items);
		cJSON_Delete(opts);
		cJSON *list = cJSON_CreateObject();
		char kind[96], av[96];
		snprintf(kind, sizeof(kind), "%sList", rt->kind);
		cJSON_AddStringToObject(list, "kind", kind);
		cJSON_AddStringToObject(list, "apiVersion",
		                        ks_rtype_api_version(rt, av, sizeof(av)));
		cJSON_AddObjectToObject(list, "metadata");
		cJSON_AddItemToObject(list, "items", deleted);
		return send_json(c, 200, list);
	}
	return send_status(c, 405, "MethodNotAllowed",
	                   "the server does not allow this method on the requested resource", 0);
}

/* SelfSubjectAccessReview: RBAC is not enforced, so every review is
 * allowed (kubectl auth can-i, controllers checking their rights). */
static enum MHD_Result access_review(struct MHD_Connection *c, req_t *rq, const char *user)
{
	cJSON *body = rq->body.len ? cJSON_ParseWithLength(rq->body.data, rq->body.len) : NULL;
	if (!cJSON_IsObject(body)) {
		/* kubectl sends protobuf here; the answer does not depend on the
		 * question, so answer in JSON without decoding it. */
		cJSON_Delete(body);
		body = cJSON_CreateObject();
		cJSON_AddStringToObject(body, "kind", "SelfSubjectAccessReview");
		cJSON_AddStringToObject(body, "apiVersion", "authorization.k8s.io/v1");
		cJSON_AddObjectToObject(body, "metadata");
		cJSON_AddObjectToObject(body, "spec");
	}
	cJSON_DeleteItemFromObjectCaseSensitive(body, "status");
	cJSON *st = cJSON_AddObjectToObject(body, "status");
	cJSON_AddBoolToObject(st, "allowed", true);
	char reason[400];
	snprintf(reason, sizeof(reason), "kubesim does not enforce RBAC (user %s)", user);
	cJSON_AddStringToObject(st, "reason", reason);
	return send_json(c, 201, body);
}

static enum MHD_Result route(ks_server_t *s, struct MHD_Connection *c, const char *url,
                             const char *method, req_t *rq)
{
	char path[2048];
	char *seg[MAX_SEGS + 2];
	int n;
	char user[320];

	if (ks_faults_outage(s->cfg.faults) && strcmp(url, "/healthz") != 0) {
		return send_status(c, 503, "ServiceUnavailable",
		                   "kubesim: injected outage, the server is unavailable", 1);
	}
	if (strcmp(url, "/healthz") == 0 || strcmp(url, "/livez") == 0 ||
	    strcmp(url, "/readyz") == 0)
		return send_text(c, 200, "text/plain", strdup("ok"), 0);
	if (strcmp(url, "/version") == 0) {
		cJSON *v = cJSON_CreateObject();
		cJSON_AddStringToObject(v, "major", "1");
		cJSON_AddStringToObject(v, "minor", "32");
		cJSON_AddStringToObject(v, "gitVersion", "v1.32.0-kubesim." MCP_VERSION);
		cJSON_AddStringToObject(v, "gitCommit", "kubesim");
		cJSON_AddStringToObject(v, "gitTreeState", "clean");
		cJSON_AddStringToObject(v, "buildDate", "2026-01-01T00:00:00Z");
		cJSON_AddStringToObject(v, "goVersion", "none");
		cJSON_AddStringToObject(v, "compiler", "cc");
		cJSON_AddStringToObject(v, "platform", "linux/amd64");
		return send_json(c, 200, v);
	}
	if (!ks_auth_check(s->cfg.auth, header(c, "Authorization"), user, sizeof(user)))
		return send_status(c, 401, "Unauthorized", "Unauthorized", 0);
	if (tl_audit)
		snprintf(tl_audit->user, sizeof(tl_audit->user), "%s", user);
	if (rq->too_big)
		return send_status(c, 413, "RequestEntityTooLarge", "the request body is too large",
		                   0);
	const char *ctype = header(c, "Content-Type");
	if (rq->body.len && ctype && strcmp(method, "PATCH") != 0 &&
	    strncmp(ctype, "application/json", 16) != 0 && !is_protobuf(ctype)) {
		char msg[256];
		snprintf(msg, sizeof(msg),
		         "the body of the request was in an unknown format - accepted media types "
		         "include: application/json (got %.100s)",
		         ctype);
		return send_status(c, 415, "UnsupportedMediaType", msg, 0);
	}

	if (strcmp(url, "/openapi/v3") == 0 || strcmp(url, "/openapi/v3/") == 0)
		return send_json(c, 200, ks_openapi_root());
	if (strncmp(url, "/openapi/v3/", 12) == 0) {
		cJSON *doc = ks_openapi_gv(url + 12);
		return doc ? send_json(c, 200, doc)
		           : send_status(c, 404, "NotFound",
		                         "the server could not find the requested resource", 0);
	}
	snprintf(path, sizeof(path), "%s", url);
	n = split(path, seg, MAX_SEGS + 2);
	if (n < 0)
		return send_status(c, 404, "NotFound",
		                   "the server could not find the requested resource", 0);
	if (n >= 1 && strcmp(seg[0], "api") == 0) {
		if (n == 1) {
			char addr[64];
			pthread_mutex_lock(&s->hook_mu);
			snprintf(addr, sizeof(addr), "%s", s->server_addr);
			pthread_mutex_unlock(&s->hook_mu);
			return send_json(c, 200, ks_discovery_api_versions(addr));
		}
		if (strcmp(seg[1], "v1") != 0)
			return send_status(c, 404, "NotFound",
			                   "the server could not find the requested resource", 0);
		if (n == 2)
			return send_json(c, 200, ks_discovery_resources("", "v1"));
		return do_resource(s, c, method, "", "v1", seg + 2, n - 2, rq, user);
	}
	if (n >= 1 && strcmp(seg[0], "apis") == 0) {
		if (n == 1) {
			cJSON *gl = ks_discovery_groups();
			if (get_podmetrics(s))
				cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(gl, "groups"),
				                     ks_podmetrics_group());
			return send_json(c, 200, gl);
		}
		if (get_podmetrics(s) && strcmp(seg[1], "metrics.k8s.io") == 0) {
			if (n == 2)
				return send_json(c, 200, ks_podmetrics_group());
			if (strcmp(seg[2], "v1beta1") != 0)
				return send_status(
				        c, 404, "NotFound",
				        "the server could not find the requested resource", 0);
			if (n == 3)
				return send_json(c, 200, ks_podmetrics_resources());
			return do_metrics(s, c, seg + 3, n - 3);
		}
		if (n == 2) {
			cJSON *g = ks_discovery_group(seg[1]);
			return g ? send_json(c, 200, g)
			         : send_status(c, 404, "NotFound",
			                       "the server could not find the requested resource",
			                       0);
		}
		if (n == 3) {
			cJSON *r = ks_discovery_resources(seg[1], seg[2]);
			return r ? send_json(c, 200, r)
			         : send_status(c, 404, "NotFound",
			                       "the server could not find the requested resource",
			                       0);
		}
		if (n == 4 && strcmp(seg[1], "authorization.k8s.io") == 0 &&
		    strcmp(seg[2], "v1") == 0 && strcmp(seg[3], "selfsubjectaccessreviews") == 0 &&
		    strcmp(method, "POST") == 0) {
			audit_target("create", seg[1], seg[3], NULL, NULL, NULL);
			return access_review(c, rq, user);
		}
		return do_resource(s, c, method, seg[1], seg[2], seg + 3, n - 3, rq, user);
	}
	return send_status(c, 404, "NotFound", "the server could not find the requested resource",
	                   0);
}

static enum MHD_Result api_handler(void *cls, struct MHD_Connection *c, const char *url,
                                   const char *method, const char *version, const char *upload,
                                   size_t *upload_size, void **con_cls)
{
	ks_server_t *s = cls;
	req_t *rq = *con_cls;
	(void)version;
	if (!rq) {
		rq = calloc(1, sizeof(*rq));
		if (!rq)
			return MHD_NO;
		base_buf_init(&rq->body, BODY_MAX);
		*con_cls = rq;
		return MHD_YES;
	}
	if (*upload_size) {
		if (!rq->too_big && base_buf_append(&rq->body, upload, *upload_size))
			rq->too_big = true;
		*upload_size = 0;
		return MHD_YES;
	}
	base_log(BASE_LOG_DEBUG, "request", "method", method, "url", url, (char *)NULL);
	if (!s->cfg.audit)
		return route(s, c, url, method, rq);
	ks_audit_rec_t rec;
	memset(&rec, 0, sizeof(rec));
	snprintf(rec.verb, sizeof(rec.verb), "%s", method); /* replaced for resource requests */
	tl_audit = &rec;
	enum MHD_Result r = route(s, c, url, method, rq);
	tl_audit = NULL;
	ks_audit_write(s->cfg.audit, &rec);
	return r;
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
	req_t *rq = *con_cls;
	(void)cls;
	(void)c;
	(void)toe;
	if (rq) {
		base_buf_free(&rq->body);
		free(rq);
		*con_cls = NULL;
	}
}

/* ---- admin endpoint ------------------------------------------------------ */

static enum MHD_Result admin_handler(void *cls, struct MHD_Connection *c, const char *url,
                                     const char *method, const char *version, const char *upload,
                                     size_t *upload_size, void **con_cls)
{
	ks_server_t *s = cls;
	req_t *rq = *con_cls;
	char err[256];
	(void)version;
	if (!rq) {
		rq = calloc(1, sizeof(*rq));
		if (!rq)
			return MHD_NO;
		base_buf_init(&rq->body, 1u << 20);
		*con_cls = rq;
		return MHD_YES;
	}
	if (*upload_size) {
		if (!rq->too_big && base_buf_append(&rq->body, upload, *upload_size))
			rq->too_big = true;
		*upload_size = 0;
		return MHD_YES;
	}
	if (strcmp(url, "/faults") == 0) {
		if (strcmp(method, "GET") == 0)
			return send_json(c, 200, ks_faults_json(s->cfg.faults));
		if (strcmp(method, "DELETE") == 0) {
			ks_faults_clear(s->cfg.faults);
			return send_json(c, 200, ks_faults_json(s->cfg.faults));
		}
		if (strcmp(method, "POST") == 0) {
			bool drop = false;
			if (rq->too_big ||
			    ks_faults_add_text(s->cfg.faults, rq->body.data ? rq->body.data : "",
			                       &drop, err, sizeof(err)))
				return send_status(c, 400, "BadRequest",
				                   rq->too_big ? "too large" : err, 0);
			if (drop)
				ks_store_drop_watches(s->cfg.store);
			base_log(BASE_LOG_INFO, "faults", "rules", rq->body.data, (char *)NULL);
			return send_json(c, 200, ks_faults_json(s->cfg.faults));
		}
	}
	if (strcmp(url, "/tokens") == 0 && strcmp(method, "POST") == 0) {
		cJSON *j = cJSON_ParseWithLength(rq->body.data ? rq->body.data : "", rq->body.len);
		const char *ns =
		        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "namespace"));
		const char *sa =
		        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "serviceAccount"));
		char tok[128];
		if (!ns || !sa || !*ns || !*sa) {
			cJSON_Delete(j);
			return send_status(
			        c, 400, "BadRequest",
			        "POST /tokens needs {\"namespace\":..,\"serviceAccount\":..}", 0);
		}
		int rc = ks_auth_mint(s->cfg.auth, ns, sa, tok, sizeof(tok), err, sizeof(err));
		cJSON_Delete(j);
		if (rc)
			return send_status(c, 500, "InternalError", err, 0);
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "token", tok);
		return send_json(c, 200, o);
	}
	if (strncmp(url, "/tokens/", 8) == 0 && strcmp(method, "DELETE") == 0) {
		if (!ks_auth_revoke(s->cfg.auth, url + 8))
			return send_status(c, 404, "NotFound", "no such token", 0);
		return send_status(c, 200, "", "revoked", 0);
	}
	if (strcmp(url, "/healthz") == 0)
		return send_text(c, 200, "text/plain", strdup("ok"), 0);
	return send_status(c, 404, "NotFound",
	                   "admin endpoints: /faults (GET, POST, DELETE), /tokens (POST), "
	                   "/tokens/TOKEN (DELETE)",
	                   0);
}

/* ---- lifecycle ----------------------------------------------------------- */

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	size_t n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		msg[--n] = '\0';
	base_log(BASE_LOG_DEBUG, "httpd", "msg", msg, (char *)NULL);
}

static int bound_port(struct MHD_Daemon *d)
{
	const union MHD_DaemonInfo *i = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	return i ? i->port : 0;
}

ks_server_t *ks_server_start(const ks_server_config_t *cfg, char *err, size_t errlen)
{
	ks_server_t *s = calloc(1, sizeof(*s));
	struct sockaddr_in sa, aa;
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->cfg = *cfg;
	pthread_mutex_init(&s->hook_mu, NULL);
	if (s->cfg.bookmark_ms <= 0)
		s->cfg.bookmark_ms = 10000;
	if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
		snprintf(err, errlen, "libmicrohttpd was built without TLS support");
		goto fail;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)cfg->port);
	if (inet_pton(AF_INET, cfg->listen_ip, &sa.sin_addr) != 1) {
		snprintf(err, errlen, "--listen: \"%s\" is not an IPv4 address", cfg->listen_ip);
		goto fail;
	}
	s->api = MHD_start_daemon(
	        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_TLS |
	                MHD_USE_POLL | MHD_USE_ERROR_LOG,
	        0, NULL, NULL, api_handler, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
	        MHD_OPTION_HTTPS_MEM_KEY, ks_auth_key_pem(cfg->auth), MHD_OPTION_HTTPS_MEM_CERT,
	        ks_auth_cert_pem(cfg->auth), MHD_OPTION_NOTIFY_COMPLETED, completed, s,
	        MHD_OPTION_UNESCAPE_CALLBACK, unescape_cb, NULL, MHD_OPTION_EXTERNAL_LOGGER,
	        mhd_log, NULL, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(256u << 10),
	        MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, MHD_OPTION_END);
	if (!s->api) {
		snprintf(err, errlen, "cannot serve HTTPS on %s:%d (address in use?)",
		         cfg->listen_ip, cfg->port);
		goto fail;
	}
	s->port = bound_port(s->api);
	pthread_mutex_lock(&s->hook_mu);
	snprintf(s->server_addr, sizeof(s->server_addr), "%s:%d", cfg->listen_ip, s->port);
	pthread_mutex_unlock(&s->hook_mu);
	if (cfg->admin_ip) {
		memset(&aa, 0, sizeof(aa));
		aa.sin_family = AF_INET;
		aa.sin_port = htons((uint16_t)cfg->admin_port);
		if (inet_pton(AF_INET, cfg->admin_ip, &aa.sin_addr) != 1 ||
		    (ntohl(aa.sin_addr.s_addr) >> 24) != 127) {
			snprintf(err, errlen,
			         "--admin: \"%s\" is not a loopback IPv4 address (127.0.0.0/8)",
			         cfg->admin_ip);
			goto fail;
		}
		s->admin = MHD_start_daemon(
		        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG, 0, NULL,
		        NULL, admin_handler, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&aa,
		        MHD_OPTION_NOTIFY_COMPLETED, completed, s, MHD_OPTION_EXTERNAL_LOGGER,
		        mhd_log, NULL, MHD_OPTION_END);
		if (!s->admin) {
			snprintf(err, errlen, "cannot serve the admin endpoint on %s:%d",
			         cfg->admin_ip, cfg->admin_port);
			goto fail;
		}
		s->admin_port = bound_port(s->admin);
	}
	return s;
fail:
	ks_server_stop(s);
	return NULL;
}

int ks_server_port(const ks_server_t *s)
{
	return s->port;
}
int ks_server_admin_port(const ks_server_t *s)
{
	return s->admin_port;
}

void ks_server_set_podlogs(ks_server_t *s, ks_podlogs_t *pl)
{
	pthread_mutex_lock(&s->hook_mu);
	s->podlogs = pl;
	pthread_mutex_unlock(&s->hook_mu);
}

void ks_server_set_podmetrics(ks_server_t *s, ks_podmetrics_t *m)
{
	pthread_mutex_lock(&s->hook_mu);
	s->podmetrics = m;
	pthread_mutex_unlock(&s->hook_mu);
}

static ks_podmetrics_t *get_podmetrics(ks_server_t *s)
{
	pthread_mutex_lock(&s->hook_mu);
	ks_podmetrics_t *m = s->podmetrics;
	pthread_mutex_unlock(&s->hook_mu);
	return m;
}

void ks_server_stop(ks_server_t *s)
{
	if (!s)
		return;
	/* Watch readers wake within a second and end their streams. */
	ks_store_shutdown(s->cfg.store);
	if (s->admin)
		MHD_stop_daemon(s->admin);
	if (s->api)
		MHD_stop_daemon(s->api);
	pthread_mutex_destroy(&s->hook_mu);
	free(s);
}

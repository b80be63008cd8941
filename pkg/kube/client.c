#include "kube/client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/log.h"
#include "kubeapi/kubeapi.h"

#ifndef MCP_VERSION
#define MCP_VERSION "dev"
#endif

struct kube_client {
	kube_loop_t *loop;
	kube_client_opts_t o;
	char ua[160];
	char *server, *ca_file, *ca_pem, *cert_file, *key_file, *cert_pem, *key_pem;
	size_t ca_pem_len, cert_pem_len, key_pem_len;
	bool insecure;
	char *token;
	char *token_file;
	char *basic; /* "user:password" base64, or NULL */
	char *namespace;
	kube_ratelimit_t rl;
	uint64_t rnd;
	kube_timer_t *token_timer;
	struct kube_call *calls;
	bool events_core; /* events.k8s.io missing: use core/v1 */
};

struct kube_call {
	kube_client_t *c;
	kube_cb cb;
	void *arg;
	const char *method;
	char *url;
	char *path; /* for messages */
	char *body;
	size_t body_len;
	const char *content_type;
	bool idempotent;
	int64_t timeout_ms;
	int attempts;
	int retries;
	bool auth_retried;
	kube_timer_t *timer;
	kube_http_t *http;
	/* watch */
	bool watch;
	kube_watch_event_cb ev;
	kube_wdec_t *dec;
	bool streaming;
	int in_dispatch;
	bool cancelled;
	bool completing; /* inside its callback: cancel is a no-op */
	int stream_err;
	kube_status_t stream_status;
	char stream_msg[256];
	/* events.k8s.io -> core/v1 fallback */
	char *fb_url, *fb_path, *fb_body;
	struct kube_call *prev, *next;
};

void kube_client_opts_default(kube_client_opts_t *o)
{
	memset(o, 0, sizeof(*o));
	o->qps = 20;
	o->burst = 30;
	o->timeout_ms = 30000;
	o->max_body = 64u << 20;
	o->max_event = 8u << 20;
	kube_backoff_default(&o->backoff);
	o->token_reload_ms = 60000;
	o->user_agent = NULL;
}

static char *dupn(const char *s, size_t n)
{
	char *d;
	if (s == NULL)
		return NULL;
	d = malloc(n + 1);
	if (d == NULL)
		return NULL;
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

static char *dups(const char *s)
{
	return s ? dupn(s, strlen(s)) : NULL;
}

static char *b64enc(const char *in, size_t n)
{
	static const char tab[] =
	        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *o = malloc((n + 2) / 3 * 4 + 1);
	size_t j = 0;
	if (o == NULL)
		return NULL;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)(unsigned char)in[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)(unsigned char)in[i + 1] << 8;
		if (i + 2 < n)
			v |= (unsigned char)in[i + 2];
		o[j++] = tab[(v >> 18) & 63];
		o[j++] = tab[(v >> 12) & 63];
		o[j++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		o[j++] = i + 2 < n ? tab[v & 63] : '=';
	}
	o[j] = '\0';
	return o;
}

static int64_t token_tick(kube_loop_t *loop, void *arg)
{
	kube_client_t *c = arg;
	(void)loop;
	kube_client_reload_token(c);
	return c->o.token_reload_ms;
}

int kube_client_reload_token(kube_client_t *c)
{
	char err[256];
	char *tok = NULL;
	int rc;

	if (c->token_file == NULL)
		return 0;
	rc = kube_config_read_token(c->token_file, &tok, err, sizeof(err));
	if (rc != 0) {
		/* Keep the old token: the kubelet may be mid-swap. */
		base_log(BASE_LOG_WARN, "kube_token_reload", "error", err, (char *)NULL);
		return rc;
	}
	free(c->token);
	c->token = tok;
	return 0;
}

kube_client_t *kube_client_new(kube_loop_t *loop, const kube_config_t *cfg,
                               const kube_client_opts_t *o, char *err, size_t errlen)
{
	kube_client_t *c;

	if (loop == NULL || cfg == NULL || cfg->server == NULL) {
		snprintf(err, errlen,
		         "kube client: loop and a configuration with a server are needed");
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		goto nomem;
	c->loop = loop;
	if (o)
		c->o = *o;
	else
		kube_client_opts_default(&c->o);
	snprintf(c->ua, sizeof(c->ua), "%s",
	         c->o.user_agent ? c->o.user_agent : "mcp-autoscaler/" MCP_VERSION);
	c->o.user_agent = NULL;
	c->server = dups(cfg->server);
	c->ca_file = dups(cfg->ca_file);
	c->ca_pem = dupn(cfg->ca_pem, cfg->ca_pem_len);
	c->ca_pem_len = cfg->ca_pem_len;
	c->cert_file = dups(cfg->cert_file);
	c->key_file = dups(cfg->key_file);
	c->cert_pem = dupn(cfg->cert_pem, cfg->cert_pem_len);
	c->cert_pem_len = cfg->cert_pem_len;
	c->key_pem = dupn(cfg->key_pem, cfg->key_pem_len);
	c->key_pem_len = cfg->key_pem_len;
	c->insecure = cfg->insecure;
	c->token = dups(cfg->token);
	c->token_file = dups(cfg->token_file);
	c->namespace = dups(cfg->namespace ? cfg->namespace : "default");
	if (c->server == NULL || c->namespace == NULL || (cfg->ca_file && !c->ca_file) ||
	    (cfg->ca_pem && !c->ca_pem) || (cfg->cert_file && !c->cert_file) ||
	    (cfg->key_file && !c->key_file) || (cfg->cert_pem && !c->cert_pem) ||
	    (cfg->key_pem && !c->key_pem) || (cfg->token && !c->token) ||
	    (cfg->token_file && !c->token_file))
		goto nomem;
	if (cfg->username && cfg->password) {
		char up[512];
		int n = snprintf(up, sizeof(up), "%s:%s", cfg->username, cfg->password);
		if (n < 0 || n >= (int)sizeof(up)) {
			snprintf(err, errlen, "kube client: username/password too long");
			kube_client_free(c);
			return NULL;
		}
		c->basic = b64enc(up, (size_t)n);
		if (c->basic == NULL)
			goto nomem;
	}
	if (c->token_file) {
		int rc = kube_client_reload_token(c);
		if (rc != 0 && c->token == NULL) {
			snprintf(err, errlen, "kube client: cannot read token file %s",
			         c->token_file);
			kube_client_free(c);
			return NULL;
		}
		if (c->o.token_reload_ms > 0) {
			c->token_timer =
			        kube_loop_timer_add(loop, c->o.token_reload_ms, token_tick, c);
			if (c->token_timer == NULL)
				goto nomem;
		}
	}
	kube_ratelimit_init(&c->rl, c->o.qps, c->o.burst, base_now_ms());
	c->rnd = (uint64_t)base_now_ns() ^ ((uint64_t)getpid() << 32) ^ (uintptr_t)c;
	if (c->rnd == 0)
		c->rnd = 88172645463325252ULL;
	return c;
nomem:
	snprintf(err, errlen, "out of memory");
	kube_client_free(c);
	return NULL;
}

static void call_free(struct kube_call *call)
{
	free(call->url);
	free(call->path);
	free(call->body);
	free(call->fb_url);
	free(call->fb_path);
	free(call->fb_body);
	kube_wdec_free(call->dec);
	free(call);
}

static void call_unlink(struct kube_call *call)
{
	kube_client_t *c = call->c;
	if (call->prev)
		call->prev->next = call->next;
	else if (c->calls == call)
		c->calls = call->next;
	if (call->next)
		call->next->prev = call->prev;
	call->prev = call->next = NULL;
}

void kube_call_cancel(kube_call_t *call)
{
	if (call == NULL || call->cancelled || call->completing)
		return;
	call->cancelled = true;
	kube_loop_timer_cancel(call->c->loop, call->timer);
	call->timer = NULL;
	kube_http_cancel(call->http);
	call->http = NULL;
	call_unlink(call);
	if (call->in_dispatch == 0)
		call_free(call);
	/* else: freed by the watch data path once the event handler returns */
}

void kube_client_free(kube_client_t *c)
{
	if (c == NULL)
		return;
	while (c->calls)
		kube_call_cancel(c->calls);
	if (c->token_timer)
		kube_loop_timer_cancel(c->loop, c->token_timer);
	free(c->server);
	free(c->ca_file);
	free(c->ca_pem);
	free(c->cert_file);
	free(c->key_file);
	free(c->cert_pem);
	free(c->key_pem);
	free(c->token);
	free(c->token_file);
	free(c->basic);
	free(c->namespace);
	free(c);
}

kube_loop_t *kube_client_loop(kube_client_t *c)
{
	return c->loop;
}
const char *kube_client_namespace(const kube_client_t *c)
{
	return c->namespace;
}

static double rnd01(kube_client_t *c)
{
	c->rnd ^= c->rnd >> 12;
	c->rnd ^= c->rnd << 25;
	c->rnd ^= c->rnd >> 27;
	return (double)((c->rnd * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

/* ---- paths -------------------------------------------------------------- */

static bool path_safe(const char *s)
{
	if (s == NULL || *s == '\0' || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return false;
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch <= 0x20 || ch >= 0x7f || ch == '/' || ch == '?' || ch == '#' || ch == '%')
			return false;
	}
	return true;
}

int kube_build_path(const kube_req_t *r, char *buf, size_t cap)
{
	const kube_resource_t *res = r->res;
	int n;
	size_t used;

	if (res == NULL || res->resource == NULL || res->version == NULL)
		return KUBE_EINVAL;
	if (res->group && res->group[0])
		n = snprintf(buf, cap, "/apis/%s/%s", res->group, res->version);
	else
		n = snprintf(buf, cap, "/api/%s", res->version);
	if (n < 0 || (size_t)n >= cap)
		return KUBE_EINVAL;
	used = (size_t)n;
	if (res->namespaced && r->ns && r->ns[0]) {
		if (!path_safe(r->ns))
			return KUBE_EINVAL;
		n = snprintf(buf + used, cap - used, "/namespaces/%s", r->ns);
		if (n < 0 || (size_t)n >= cap - used)
			return KUBE_EINVAL;
		used += (size_t)n;
	} else if (res->namespaced && r->verb != KUBE_LIST) {
		return KUBE_EINVAL; /* a namespaced object needs its namespace */
	}
	n = snprintf(buf + used, cap - used, "/%s", res->resource);
	if (n < 0 || (size_t)n >= cap - used)
		return KUBE_EINVAL;
	used += (size_t)n;
	bool needs_name = r->verb != KUBE_LIST && r->verb != KUBE_CREATE;
	if (needs_name && !path_safe(r->name))
		return KUBE_EINVAL;
	if (needs_name) {
		n = snprintf(buf + used, cap - used, "/%s", r->name);
		if (n < 0 || (size_t)n >= cap - used)
			return KUBE_EINVAL;
		used += (size_t)n;
		if (r->subresource) {
			if (!path_safe(r->subresource))
				return KUBE_EINVAL;
			n = snprintf(buf + used, cap - used, "/%s", r->subresource);
			if (n < 0 || (size_t)n >= cap - used)
				return KUBE_EINVAL;
		}
	}
	return 0;
}

static int q_add(base_buf_t *b, const char *key, const char *val)
{
	static const char hex[] = "0123456789ABCDEF";
	int rc = base_buf_printf(b, "%c%s=", strchr(b->data ? b->data : "", '?') ? '&' : '?', key);
	for (const char *p = val; rc == 0 && *p; p++) {
		unsigned char ch = (unsigned char)*p;
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
			rc = base_buf_append(b, p, 1);
		} else {
			char e[3] = {'%', hex[ch >> 4], hex[ch & 15]};
			rc = base_buf_append(b, e, 3);
		}
	}
	return rc;
}

/* ---- the request state machine ------------------------------------------ */

static void send_attempt(struct kube_call *call);

static void complete(struct kube_call *call, kube_result_t *res)
{
	call_unlink(call);
	res->attempts = call->attempts;
	call->completing = true;
	call->cb(res, call->arg);
	kube_result_clear(res);
	call_free(call);
}

static int64_t timer_fire(kube_loop_t *loop, void *arg)
{
	struct kube_call *call = arg;
	(void)loop;
	call->timer = NULL;
	send_attempt(call);
	return -1;
}

static int start_http(struct kube_call *call);

/* Rate limit, then send after delay_ms (a retry's backoff). */
static void schedule(struct kube_call *call, int64_t delay_ms)
{
	kube_client_t *c = call->c;
	int64_t now = base_now_ms();
	int64_t d = delay_ms + kube_ratelimit_reserve(&c->rl, now + delay_ms);

	call->timer = kube_loop_timer_add(c->loop, d, timer_fire, call);
	if (call->timer == NULL) {
		kube_result_t res;
		memset(&res, 0, sizeof(res));
		res.err = KUBE_ENOMEM;
		snprintf(res.errmsg, sizeof(res.errmsg), "%s %s: out of memory", call->method,
		         call->path);
		complete(call, &res);
	}
}

/* First attempt: an error here goes back to kube_do's caller, never to the
 * callback. */
static int start_first(struct kube_call *call)
{
	kube_client_t *c = call->c;
	int64_t d = kube_ratelimit_reserve(&c->rl, base_now_ms());
	int rc;

	if (d > 0) {
		call->timer = kube_loop_timer_add(c->loop, d, timer_fire, call);
		rc = call->timer ? 0 : KUBE_ENOMEM;
	} else {
		rc = start_http(call);
	}
	if (rc != 0) {
		call_unlink(call);
		call_free(call);
	}
	return rc;
}

static int emit_event(kube_event_type_t t, cJSON *obj, void *arg)
{
	struct kube_call *call = arg;
	if (call->cancelled)
		return 1;
	if (t == KUBE_EV_ERROR) {
		char *s = cJSON_PrintUnformatted(obj);
		kube_status_decode(s, s ? strlen(s) : 0, 500, &call->stream_status);
		free(s);
		call->stream_err = KUBE_EAPI;
		return 1;
	}
	call->ev(t, obj, call->arg);
	return call->cancelled ? 1 : 0;
}

static int on_watch_data(const char *p, size_t n, void *arg)
{
	struct kube_call *call = arg;
	int rc;

	call->in_dispatch++;
	rc = kube_wdec_feed(call->dec, p, n, emit_event, call, call->stream_msg,
	                    sizeof(call->stream_msg));
	call->in_dispatch--;
	if (call->cancelled) {
		if (call->in_dispatch == 0)
			call_free(call);
		return 1;
	}
	if (rc != 0 && call->stream_err == 0)
		call->stream_err = rc < 0 ? rc : KUBE_EDECODE;
	return rc != 0;
}

static void on_watch_headers(long status, void *arg)
{
	struct kube_call *call = arg;
	if (status >= 200 && status < 300) {
		call->streaming = true;
		kube_wdec_reset(call->dec);
	}
}

/* A 404 for a missing API group/resource, as opposed to a missing namespace:
 * the API server answers the former with a plain "404 page not found" or a
 * Status saying it "could not find the requested resource". */
static bool api_missing(const kube_http_result_t *r)
{
	kube_status_t st;
	if (kube_status_decode(r->body, r->body_len, 404, &st) != 0)
		return true;
	return strstr(st.message, "could not find the requested resource") != NULL;
}

static void http_done(const kube_http_result_t *r, void *arg)
{
	struct kube_call *call = arg;
	kube_client_t *c = call->c;
	kube_result_t res;

	call->http = NULL;
	call->attempts++;
	memset(&res, 0, sizeof(res));
	res.http_status = r->status;

	if (call->watch && call->streaming) {
		/* The stream ran: report how it ended, never retry here. */
		if (call->stream_err == KUBE_EAPI) {
			res.err = KUBE_EAPI;
			res.status = call->stream_status;
			snprintf(res.errmsg, sizeof(res.errmsg), "watch %.200s: %d %s: %.200s",
			         call->path, res.status.code, res.status.reason,
			         res.status.message);
		} else if (call->stream_err != 0) {
			res.err = call->stream_err;
			snprintf(res.errmsg, sizeof(res.errmsg), "watch %s: %s", call->path,
			         call->stream_msg);
		} else if (r->err != 0) {
			res.err = r->err;
			snprintf(res.errmsg, sizeof(res.errmsg), "watch %s: stream dropped: %s",
			         call->path, r->errmsg);
		}
		complete(call, &res);
		return;
	}

	if (r->err == 0 && r->status == 401 && c->token_file && !call->auth_retried) {
		/* A rotated token: re-read now rather than at the next tick. */
		call->auth_retried = true;
		kube_client_reload_token(c);
		schedule(call, 0);
		return;
	}
	if (r->err == 0 && r->status == 404 && call->fb_url && api_missing(r)) {
		c->events_core = true;
		free(call->url);
		free(call->path);
		free(call->body);
		call->url = call->fb_url;
		call->path = call->fb_path;
		call->body = call->fb_body;
		call->body_len = strlen(call->body);
		call->fb_url = call->fb_path = call->fb_body = NULL;
		schedule(call, 0);
		return;
	}
	bool ok = r->err == 0 && r->status >= 200 && r->status < 300;
	if (!ok && kube_retry_allowed(&c->o.backoff, call->retries, call->idempotent, r->err,
	                              r->status, r->retry_after_ms >= 0)) {
		call->retries++;
		int64_t d =
		        kube_retry_delay(&c->o.backoff, call->retries, r->retry_after_ms, rnd01(c));
		char ds[32], st[16];
		snprintf(st, sizeof(st), "%ld", r->status);
		base_log(BASE_LOG_DEBUG, "kube_retry", "method", call->method, "path", call->path,
		         "status", st, "error", r->err ? r->errmsg : "", "delay",
		         base_format_duration_ms(d, ds, sizeof(ds)), (char *)NULL);
		schedule(call, d);
		return;
	}
	if (r->err != 0) {
		res.err = r->err;
		snprintf(res.errmsg, sizeof(res.errmsg), "%s %s: %s", call->method, call->path,
		         r->errmsg);
	} else if (!ok) {
		res.err = KUBE_EAPI;
		kube_status_decode(r->body, r->body_len, (int)r->status, &res.status);
		snprintf(res.errmsg, sizeof(res.errmsg), "%s %.200s: %ld %s: %.200s", call->method,
		         call->path, r->status, res.status.reason, res.status.message);
	} else if (r->body_len > 0) {
		res.obj = cJSON_ParseWithLength(r->body, r->body_len);
		if (res.obj == NULL) {
			res.err = KUBE_EDECODE;
			snprintf(res.errmsg, sizeof(res.errmsg), "%s %s: response is not JSON",
			         call->method, call->path);
		}
	}
	complete(call, &res);
}

static void send_attempt(struct kube_call *call)
{
	int rc = start_http(call);
	if (rc != 0) {
		kube_result_t res;
		memset(&res, 0, sizeof(res));
		res.err = rc;
		snprintf(res.errmsg, sizeof(res.errmsg), "%s %s: cannot start request: %s",
		         call->method, call->path, kube_strerror(rc));
		complete(call, &res);
	}
}

static int start_http(struct kube_call *call)
{
	kube_client_t *c = call->c;
	char *auth = NULL;
	size_t auth_len = 0;
	char ctype[96];
	char ua[200];
	const char *hdrs[6];
	int nh = 0;
	kube_http_opts_t o;
	int rc;

	hdrs[nh++] = "Accept: application/json";
	snprintf(ua, sizeof(ua), "User-Agent: %s", c->ua);
	hdrs[nh++] = ua;
	if (c->token || c->basic) {
		const char *kind = c->token ? "Bearer" : "Basic";
		const char *cred = c->token ? c->token : c->basic;
		auth_len = strlen(cred) + 32;
		auth = malloc(auth_len);
		if (auth == NULL)
			return KUBE_ENOMEM;
		snprintf(auth, auth_len, "Authorization: %s %s", kind, cred);
		hdrs[nh++] = auth;
	}
	if (call->content_type) {
		snprintf(ctype, sizeof(ctype), "Content-Type: %s", call->content_type);
		hdrs[nh++] = ctype;
	}
	hdrs[nh] = NULL;
	memset(&o, 0, sizeof(o));
	o.url = call->url;
	o.method = call->method;
	o.headers = hdrs;
	o.body = call->body;
	o.body_len = call->body_len;
	o.timeout_ms = call->watch ? 0 : call->timeout_ms > 0 ? call->timeout_ms : c->o.timeout_ms;
	o.max_body = c->o.max_body;
	o.ca_file = c->ca_file;
	o.ca_pem = c->ca_pem;
	o.ca_pem_len = c->ca_pem_len;
	o.insecure = c->insecure;
	o.cert_file = c->cert_file;
	o.key_file = c->key_file;
	o.cert_pem = c->cert_pem;
	o.cert_pem_len = c->cert_pem_len;
	o.key_pem = c->key_pem;
	o.key_pem_len = c->key_pem_len;
	if (call->watch) {
		o.on_data = on_watch_data;
		o.on_headers = on_watch_headers;
		call->streaming = false;
		call->stream_err = 0;
	}
	rc = kube_http_start(c->loop, &o, http_done, call, &call->http);
	/* The header list was copied; do not leave the credential lying around. */
	if (auth) {
		explicit_bzero(auth, auth_len);
		free(auth);
	}
	return rc;
}

static const char *patch_ctype(kube_patch_type_t t)
{
	switch (t) {
	case KUBE_PATCH_JSON:
		return "application/json-patch+json";
	case KUBE_PATCH_STRATEGIC:
		return "application/strategic-merge-patch+json";
	case KUBE_PATCH_MERGE:
	default:
		return "application/merge-patch+json";
	}
}

/* Builds URL and path strings for r (with query). */
static int build_url(kube_client_t *c, const kube_req_t *r, bool watch, char **url, char **path)
{
	char p[2048];
	base_buf_t b;
	int rc = kube_build_path(r, p, sizeof(p));
	const kube_list_opts_t *l = r->list;

	if (rc != 0)
		return rc;
	base_buf_init(&b, 64 * 1024);
	rc = base_buf_appends(&b, p);
	if (rc == 0 && l && l->label_selector && l->label_selector[0])
		rc = q_add(&b, "labelSelector", l->label_selector);
	if (rc == 0 && l && l->field_selector && l->field_selector[0])
		rc = q_add(&b, "fieldSelector", l->field_selector);
	if (rc == 0 && l && l->resource_version && l->resource_version[0])
		rc = q_add(&b, "resourceVersion", l->resource_version);
	if (rc == 0 && l && !watch && l->limit > 0) {
		char n[32];
		snprintf(n, sizeof(n), "%ld", l->limit);
		rc = q_add(&b, "limit", n);
	}
	if (rc == 0 && l && !watch && l->continue_token && l->continue_token[0])
		rc = q_add(&b, "continue", l->continue_token);
	if (rc == 0 && watch) {
		char n[32];
		long t = l && l->timeout_s > 0 ? l->timeout_s : 300 + (long)(rnd01(c) * 300);
		snprintf(n, sizeof(n), "%ld", t);
		rc = q_add(&b, "watch", "1");
		if (rc == 0 && l && l->allow_bookmarks)
			rc = q_add(&b, "allowWatchBookmarks", "true");
		if (rc == 0)
			rc = q_add(&b, "timeoutSeconds", n);
	}
	if (rc == 0 && r->dry_run)
		rc = q_add(&b, "dryRun", "All");
	if (rc != 0) {
		base_buf_free(&b);
		return rc == BASE_ENOMEM ? KUBE_ENOMEM : KUBE_EINVAL;
	}
	*path = base_buf_take(&b, NULL);
	base_buf_init(&b, 128 * 1024);
	rc = base_buf_printf(&b, "%s%s", c->server, *path);
	if (rc != 0) {
		free(*path);
		*path = NULL;
		base_buf_free(&b);
		return KUBE_ENOMEM;
	}
	*url = base_buf_take(&b, NULL);
	return 0;
}

static int validate(const kube_req_t *r)
{
	char err[128];
	if (r->list) {
		if (kubeapi_selectors_validate(r->list->label_selector, r->list->field_selector,
		                               err, sizeof(err)) != 0)
			return KUBE_EINVAL;
	}
	switch (r->verb) {
	case KUBE_CREATE:
	case KUBE_UPDATE:
	case KUBE_PATCH:
		return r->body ? 0 : KUBE_EINVAL;
	default:
		return 0;
	}
}

static struct kube_call *call_new(kube_client_t *c, const kube_req_t *r, bool watch, kube_cb cb,
                                  void *arg, int *rc)
{
	struct kube_call *call;

	*rc = validate(r);
	if (*rc != 0)
		return NULL;
	call = calloc(1, sizeof(*call));
	if (call == NULL) {
		*rc = KUBE_ENOMEM;
		return NULL;
	}
	call->c = c;
	call->cb = cb;
	call->arg = arg;
	call->watch = watch;
	call->timeout_ms = r->timeout_ms;
	*rc = build_url(c, r, watch, &call->url, &call->path);
	if (*rc != 0) {
		free(call);
		return NULL;
	}
	switch (r->verb) {
	case KUBE_GET:
	case KUBE_LIST:
		call->method = "GET";
		call->idempotent = true;
		break;
	case KUBE_CREATE:
		call->method = "POST";
		call->content_type = "application/json";
		break;
	case KUBE_UPDATE:
		call->method = "PUT";
		call->content_type = "application/json";
		call->idempotent = true;
		break;
	case KUBE_PATCH:
		call->method = "PATCH";
		call->content_type = patch_ctype(r->patch_type);
		call->idempotent = r->patch_type != KUBE_PATCH_JSON;
		break;
	case KUBE_DELETE:
		call->method = "DELETE";
		call->idempotent = true;
		break;
	}
	if (r->verb == KUBE_DELETE && r->precondition_rv) {
		cJSON *o = cJSON_CreateObject();
		cJSON *pre = cJSON_AddObjectToObject(o, "preconditions");
		cJSON_AddStringToObject(o, "kind", "DeleteOptions");
		cJSON_AddStringToObject(o, "apiVersion", "v1");
		if (pre == NULL ||
		    cJSON_AddStringToObject(pre, "resourceVersion", r->precondition_rv) == NULL) {
			cJSON_Delete(o);
			call_free(call);
			*rc = KUBE_ENOMEM;
			return NULL;
		}
		call->body = cJSON_PrintUnformatted(o);
		cJSON_Delete(o);
		call->content_type = "application/json";
	} else if (r->body) {
		call->body = dups(r->body);
	}
	if ((r->body || r->precondition_rv) && r->verb != KUBE_GET && r->verb != KUBE_LIST &&
	    call->body == NULL && (r->verb != KUBE_DELETE || r->precondition_rv)) {
		call_free(call);
		*rc = KUBE_ENOMEM;
		return NULL;
	}
	call->body_len = call->body ? strlen(call->body) : 0;
	if (watch) {
		call->dec = kube_wdec_new(c->o.max_event);
		if (call->dec == NULL) {
			call_free(call);
			*rc = KUBE_ENOMEM;
			return NULL;
		}
	}
	call->next = c->calls;
	if (c->calls)
		c->calls->prev = call;
	c->calls = call;
	return call;
}

int kube_do(kube_client_t *c, const kube_req_t *r, kube_cb cb, void *arg, kube_call_t **out)
{
	int rc;
	struct kube_call *call;

	if (out)
		*out = NULL;
	if (c == NULL || r == NULL || cb == NULL)
		return KUBE_EINVAL;
	call = call_new(c, r, false, cb, arg, &rc);
	if (call == NULL)
		return rc;
	rc = start_first(call);
	if (rc == 0 && out)
		*out = call;
	return rc;
}

int kube_watch(kube_client_t *c, const kube_resource_t *res, const char *ns,
               const kube_list_opts_t *o, kube_watch_event_cb ev, kube_cb end, void *arg,
               kube_call_t **out)
{
	kube_req_t r;
	kube_list_opts_t none;
	struct kube_call *call;
	int rc;

	if (out)
		*out = NULL;
	if (c == NULL || res == NULL || ev == NULL || end == NULL)
		return KUBE_EINVAL;
	memset(&none, 0, sizeof(none));
	memset(&r, 0, sizeof(r));
	r.verb = KUBE_LIST;
	r.res = res;
	r.ns = ns;
	r.list = o ? o : &none;
	call = call_new(c, &r, true, end, arg, &rc);
	if (call == NULL)
		return rc;
	call->ev = ev;
	rc = start_first(call);
	if (rc == 0 && out)
		*out = call;
	return rc;
}

struct sync_state {
	bool done;
	kube_result_t *res;
};

static void sync_cb(kube_result_t *res, void *arg)
{
	struct sync_state *s = arg;
	*s->res = *res;
	res->obj = NULL; /* ownership moves to the caller's copy */
	s->done = true;
}

int kube_do_sync(kube_client_t *c, const kube_req_t *r, kube_result_t *res)
{
	struct sync_state s;
	int rc;

	memset(res, 0, sizeof(*res));
	s.done = false;
	s.res = res;
	rc = kube_do(c, r, sync_cb, &s, NULL);
	if (rc != 0) {
		res->err = rc;
		snprintf(res->errmsg, sizeof(res->errmsg), "request not sent: %s",
		         kube_strerror(rc));
		return rc;
	}
	while (!s.done)
		kube_loop_run_once(c->loop, 1000);
	return res->err;
}

/* ---- convenience forms -------------------------------------------------- */

int kube_get(kube_client_t *c, const kube_resource_t *res, const char *ns, const char *name,
             kube_cb cb, void *arg, kube_call_t **out)
{
	kube_req_t r = {.verb = KUBE_GET, .res = res, .ns = ns, .name = name};
	return kube_do(c, &r, cb, arg, out);
}

int kube_list(kube_client_t *c, const kube_resource_t *res, const char *ns,
              const kube_list_opts_t *o, kube_cb cb, void *arg, kube_call_t **out)
{
	kube_req_t r = {.verb = KUBE_LIST, .res = res, .ns = ns, .list = o};
	return kube_do(c, &r, cb, arg, out);
}

int kube_create(kube_client_t *c, const kube_resource_t *res, const char *ns, const char *body,
                kube_cb cb, void *arg, kube_call_t **out)
{
	kube_req_t r = {.verb = KUBE_CREATE, .res = res, .ns = ns, .body = body};
	return kube_do(c, &r, cb, arg, out);
}

int kube_update(kube_client_t *c, const kube_resource_t *res, const char *ns, const char *name,
                const char *body, kube_cb cb, void *arg, kube_call_t **out)
{
	kube_req_t r = {.verb = KUBE_UPDATE, .res = res, .ns = ns, .name = name, .body = body};
	return kube_do(c, &r, cb, arg, out);
}

int kube_patch(kube_client_t *c, const kube_resource_t *res, const char *ns, const char *name,
               kube_patch_type_t type, const char *patch, kube_cb cb, void *arg, kube_call_t **out)
{
	kube_req_t r = {.verb = KUBE_PATCH,
	                .res = res,
	                .ns = ns,
	                .name = name,
	                .body = patch,
	                .patch_type = type};
	return kube_do(c, &r, cb, arg, out);
}

int kube_delete(kube_client_t *c, const kube_resource_t *res, const char *ns, const char *name,
                const char *precondition_rv, kube_cb cb, void *arg, kube_call_t **out)
{
	kube_req_t r = {.verb = KUBE_DELETE,
	                .res = res,
	                .ns = ns,
	                .name = name,
	                .precondition_rv = precondition_rv};
	return kube_do(c, &r, cb, arg, out);
}

int kube_patch_annotation(kube_client_t *c, const kube_resource_t *res, const char *ns,
                          const char *name, const char *key, const char *value, kube_cb cb,
                          void *arg, kube_call_t **out)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *m = o ? cJSON_AddObjectToObject(o, "metadata") : NULL;
	cJSON *a = m ? cJSON_AddObjectToObject(m, "annotations") : NULL;
	char *s;
	int rc;

	if (key == NULL || key[0] == '\0') {
		cJSON_Delete(o);
		return KUBE_EINVAL;
	}
	if (a == NULL || (value ? cJSON_AddStringToObject(a, key, value)
	                        : cJSON_AddNullToObject(a, key)) == NULL) {
		cJSON_Delete(o);
		return KUBE_ENOMEM;
	}
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (s == NULL)
		return KUBE_ENOMEM;
	rc = kube_patch(c, res, ns, name, KUBE_PATCH_MERGE, s, cb, arg, out);
	free(s);
	return rc;
}

/* Used by objects.c: a create with an alternative on 404. */
int kube__create_with_fallback(kube_client_t *c, const kube_resource_t *res, const char *ns,
                               const char *body, const kube_resource_t *fb_res, const char *fb_body,
                               kube_cb cb, void *arg, kube_call_t **out);
bool kube__events_core(const kube_client_t *c);

bool kube__events_core(const kube_client_t *c)
{
	return c->events_core;
}

int kube__create_with_fallback(kube_client_t *c, const kube_resource_t *res, const char *ns,
                               const char *body, const kube_resource_t *fb_res, const char *fb_body,
                               kube_cb cb, void *arg, kube_call_t **out)
{
	kube_req_t r = {.verb = KUBE_CREATE, .res = res, .ns = ns, .body = body};
	kube_req_t fr = {.verb = KUBE_CREATE, .res = fb_res, .ns = ns, .body = fb_body};
	struct kube_call *call;
	int rc;

	if (out)
		*out = NULL;
	call = call_new(c, &r, false, cb, arg, &rc);
	if (call == NULL)
		return rc;
	rc = build_url(c, &fr, false, &call->fb_url, &call->fb_path);
	if (rc == 0) {
		call->fb_body = dups(fb_body);
		if (call->fb_body == NULL)
			rc = KUBE_ENOMEM;
	}
	if (rc != 0) {
		call_unlink(call);
		call_free(call);
		return rc;
	}
	rc = start_first(call);
	if (rc == 0 && out)
		*out = call;
	return rc;
}

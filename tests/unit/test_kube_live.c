/* cmocka group: pkg/kube end to end against an API server.
 *
 * Two backends run the same scenarios:
 *  - kubesim, when MCP_KUBE_LIVE_KUBECONFIG (its kubeconfig) and
 *    MCP_KUBE_LIVE_ADMIN (ADDR:PORT of its admin endpoint) are set; this is
 *    how tests/integration/42_kube_client_kubesim.sh runs it;
 *  - otherwise the in-process tests/lib/kube_fakeapi over HTTPS (make unit).
 * Faults (429 + Retry-After, 503, dropped watches) and tokens are driven
 * through the backend: kubesim's admin endpoint or the fake's functions.
 * Scenarios: CRUD + paging + 409, 429 Retry-After honoured, 5xx backoff
 * (GET retried, POST not), watch + informer recovery after an injected drop,
 * token rotation through a token file, a wrong CA rejected, Events, /scale
 * and Leases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "kube/client.h"
#include "kube/config.h"
#include "kube/informer.h"
#include "kube/objects.h"
#include "../lib/kube_fakeapi.h"

typedef struct {
	bool live;
	kube_fakeapi_t *f;
	char admin[128];
	kube_config_t *cfg; /* live: loaded from the kubeconfig */
	kube_config_t fcfg; /* fake: built here */
	kube_loop_t *loop;
	char ns[64];
	char dir[64];
	unsigned minted;
} live_t;

static live_t L;

static const kube_config_t *cfg(void)
{
	return L.live ? L.cfg : &L.fcfg;
}

static int admin(const char *method, const char *path, const char *body, char *out, size_t cap)
{
	char url[256], err[256];
	long status = 0;
	char *resp = NULL;
	size_t len;
	const char *hdrs[] = {"Content-Type: application/json", NULL};
	snprintf(url, sizeof(url), "http://%s%s", L.admin, path);
	kube_http_opts_t o = {.url = url,
	                      .method = method,
	                      .body = body,
	                      .body_len = body ? strlen(body) : 0,
	                      .headers = hdrs,
	                      .timeout_ms = 10000};
	int rc = kube_http_get_sync(L.loop, &o, &status, &resp, &len, err, sizeof(err));
	if (out && resp)
		snprintf(out, cap, "%s", resp);
	free(resp);
	if (rc != 0 || status != 200)
		fail_msg("admin %s %s: rc %d status %ld %s", method, path, rc, status, err);
	return 0;
}

/* verb: get|list|watch|create|update|patch|delete */
static void be_fault(const char *verb, const char *resource, int code, int retry_after, int count)
{
	if (L.live) {
		char body[256];
		int n = snprintf(body, sizeof(body),
		                 "{\"verb\":\"%s\",\"resource\":\"%s\",\"code\":%d,\"count\":%d",
		                 verb, resource, code, count);
		if (retry_after > 0)
			n += snprintf(body + n, sizeof(body) - (size_t)n, ",\"retryAfter\":%d",
			              retry_after);
		snprintf(body + n, sizeof(body) - (size_t)n, "}");
		admin("POST", "/faults", body, NULL, 0);
		return;
	}
	const char *m = strcmp(verb, "create") == 0   ? "POST"
	                : strcmp(verb, "update") == 0 ? "PUT"
	                : strcmp(verb, "patch") == 0  ? "PATCH"
	                : strcmp(verb, "delete") == 0 ? "DELETE"
	                                              : "GET";
	char sub[96];
	bool named = strcmp(verb, "list") != 0 && strcmp(verb, "watch") != 0 &&
	             strcmp(verb, "create") != 0;
	snprintf(sub, sizeof(sub), "/%s/%s%s", L.ns, resource, named ? "/" : "");
	kube_fakeapi_fault(L.f, m, sub, code, retry_after, count);
}

static void be_clear(void)
{
	if (L.live)
		admin("DELETE", "/faults", NULL, NULL, 0);
	else
		kube_fakeapi_clear_faults(L.f);
}

static void be_drop_watches(void)
{
	if (L.live)
		admin("POST", "/faults", "{\"dropWatches\":true}", NULL, 0);
	else
		kube_fakeapi_drop_watches(L.f);
}

static void create_cm(kube_client_t *c, const char *name, const char *app);

/* Makes the server forget the history a watch would resume from: kubesim
 * runs with --history 16, so 20 writes push old revisions out; the fake
 * compacts its log. */
static void be_expire_history(kube_client_t *c)
{
	if (!L.live) {
		kube_fakeapi_compact(L.f);
		return;
	}
	for (int i = 0; i < 20; i++) {
		char n[32];
		snprintf(n, sizeof(n), "noise-%u-%d", L.minted++, i);
		create_cm(c, n, "noise");
	}
}

static void be_mint(char *tok, size_t cap)
{
	if (L.live) {
		char out[512], body[160];
		snprintf(body, sizeof(body), "{\"namespace\":\"%s\",\"serviceAccount\":\"rotor\"}",
		         L.ns);
		admin("POST", "/tokens", body, out, sizeof(out));
		cJSON *j = cJSON_Parse(out);
		const cJSON *t = cJSON_GetObjectItem(j, "token");
		assert_true(cJSON_IsString(t));
		snprintf(tok, cap, "%s", t->valuestring);
		cJSON_Delete(j);
		return;
	}
	snprintf(tok, cap, "fake-token-%u-%d", ++L.minted, (int)getpid());
	kube_fakeapi_set_token(L.f, tok); /* the fake knows one token at a time */
}

static void be_revoke(const char *tok)
{
	char path[320];
	if (!L.live)
		return;
	snprintf(path, sizeof(path), "/tokens/%s", tok);
	admin("DELETE", path, NULL, NULL, 0);
}

static void be_token_off(void)
{
	if (!L.live)
		kube_fakeapi_set_token(L.f, NULL);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* ---- async helpers ---- */

typedef struct {
	bool done;
	kube_result_t res;
} waiter_t;

static void waiter_cb(kube_result_t *res, void *arg)
{
	waiter_t *w = arg;
	w->res = *res;
	res->obj = NULL;
	w->done = true;
}

#define WAIT_FOR(cond)                                                                             \
	do {                                                                                       \
		int64_t dl_ = base_now_ms() + 20000;                                               \
		while (!(cond) && base_now_ms() < dl_)                                             \
			kube_loop_run_once(L.loop, 50);                                            \
		if (!(cond))                                                                       \
			fail_msg("timed out waiting for %s", #cond);                               \
	} while (0)

static void quick(kube_client_opts_t *o)
{
	o->backoff.base_ms = 50;
	o->backoff.max_ms = 400;
}

static kube_client_t *client(const kube_config_t *c, void (*tweak)(kube_client_opts_t *))
{
	char err[256];
	kube_client_opts_t o;
	kube_client_opts_default(&o);
	quick(&o);
	if (tweak)
		tweak(&o);
	kube_client_t *k = kube_client_new(L.loop, c, &o, err, sizeof(err));
	if (k == NULL)
		fail_msg("client: %s", err);
	return k;
}

static const char *cm(const char *name, const char *app, const char *v)
{
	static char buf[512];
	snprintf(buf, sizeof(buf),
	         "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"%s\","
	         "\"labels\":{\"app\":\"%s\"}},\"data\":{\"v\":\"%s\"}}",
	         name, app, v);
	return buf;
}

static void create_cm(kube_client_t *c, const char *name, const char *app)
{
	kube_result_t r;
	kube_req_t q = {.verb = KUBE_CREATE,
	                .res = &KUBE_RES_CONFIGMAPS,
	                .ns = L.ns,
	                .body = cm(name, app, "0")};
	if (kube_do_sync(c, &q, &r) != 0)
		fail_msg("create %s: %s", name, r.errmsg);
	kube_result_clear(&r);
}

/* ---- setup ---- */

static int setup(void **state)
{
	char err[256];
	const char *kc = getenv("MCP_KUBE_LIVE_KUBECONFIG");
	const char *ad = getenv("MCP_KUBE_LIVE_ADMIN");
	(void)state;
	base_log_set_level(BASE_LOG_ERROR);
	L.loop = kube_loop_new(err, sizeof(err));
	snprintf(L.dir, sizeof(L.dir), "/tmp/test-kube-live-XXXXXX");
	if (mkdtemp(L.dir) == NULL)
		return -1;
	snprintf(L.ns, sizeof(L.ns), "kube-live-%d", (int)getpid());
	if (kc && kc[0] && ad && ad[0]) {
		L.live = true;
		snprintf(L.admin, sizeof(L.admin), "%s", ad);
		if (kube_config_load(kc, NULL, &L.cfg, err, sizeof(err)) != 0) {
			fprintf(stderr, "kubeconfig: %s\n", err);
			return -1;
		}
		fprintf(stderr, "# backend: kubesim at %s\n", L.cfg->server);
	} else {
		L.f = kube_fakeapi_start(true, err, sizeof(err));
		if (L.f == NULL) {
			fprintf(stderr, "fake API: %s\n", err);
			return -1;
		}
		L.fcfg.server = (char *)kube_fakeapi_url(L.f);
		L.fcfg.ca_file = (char *)kube_fakeapi_ca_file(L.f);
		L.fcfg.namespace = "default";
		fprintf(stderr, "# backend: in-process fake API at %s\n", L.fcfg.server);
	}
	/* the test namespace */
	kube_client_t *c = client(cfg(), NULL);
	kube_result_t r;
	char body[160];
	snprintf(body, sizeof(body),
	         "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"%s\"}}",
	         L.ns);
	kube_req_t q = {.verb = KUBE_CREATE, .res = &KUBE_RES_NAMESPACES, .body = body};
	int rc = kube_do_sync(c, &q, &r);
	kube_result_clear(&r);
	kube_client_free(c);
	if (rc != 0) {
		fprintf(stderr, "create namespace: %s\n", r.errmsg);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];
	(void)state;
	if (L.live) {
		be_clear();
		kube_client_t *c = client(cfg(), NULL);
		kube_result_t r;
		kube_req_t q = {.verb = KUBE_DELETE, .res = &KUBE_RES_NAMESPACES, .name = L.ns};
		kube_do_sync(c, &q, &r);
		kube_result_clear(&r);
		kube_client_free(c);
	}
	kube_config_free(L.cfg);
	kube_loop_free(L.loop);
	kube_fakeapi_stop(L.f);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", L.dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", L.dir);
	return 0;
}

/* ---- scenarios ---- */

static void test_crud_paging_conflict(void **state)
{
	kube_result_t r;
	(void)state;
	kube_client_t *c = client(cfg(), NULL);
	for (int i = 0; i < 7; i++) {
		char n[16];
		snprintf(n, sizeof(n), "pg-%d", i);
		create_cm(c, n, i == 5 ? "other" : "pager");
	}
	int total = 0, pages = 0;
	char cont[1024] = "";
	do {
		kube_list_opts_t lo = {
		        .label_selector = "app=pager", .limit = 2, .continue_token = cont};
		kube_req_t q = {
		        .verb = KUBE_LIST, .res = &KUBE_RES_CONFIGMAPS, .ns = L.ns, .list = &lo};
		if (kube_do_sync(c, &q, &r) != 0)
			fail_msg("list: %s", r.errmsg);
		total += cJSON_GetArraySize(cJSON_GetObjectItem(r.obj, "items"));
		pages++;
		const cJSON *ct =
		        cJSON_GetObjectItem(cJSON_GetObjectItem(r.obj, "metadata"), "continue");
		snprintf(cont, sizeof(cont), "%s", cJSON_IsString(ct) ? ct->valuestring : "");
		kube_result_clear(&r);
	} while (cont[0] && pages < 20);
	assert_int_equal(total, 6);
	assert_int_equal(pages, 3);
	/* get, update, stale update -> 409 with the API's Status */
	kube_req_t q = {.verb = KUBE_GET, .res = &KUBE_RES_CONFIGMAPS, .ns = L.ns, .name = "pg-0"};
	assert_int_equal(kube_do_sync(c, &q, &r), 0);
	cJSON *obj = kube_result_take_obj(&r);
	cJSON_ReplaceItemInObject(cJSON_GetObjectItem(obj, "data"), "v", cJSON_CreateString("1"));
	char *body = cJSON_PrintUnformatted(obj);
	cJSON_Delete(obj);
	q = (kube_req_t){.verb = KUBE_UPDATE,
	                 .res = &KUBE_RES_CONFIGMAPS,
	                 .ns = L.ns,
	                 .name = "pg-0",
	                 .body = body};
	if (kube_do_sync(c, &q, &r) != 0)
		fail_msg("update: %s", r.errmsg);
	kube_result_clear(&r);
	assert_int_equal(kube_do_sync(c, &q, &r), KUBE_EAPI);
	assert_int_equal(r.status.code, 409);
	assert_string_equal(r.status.reason, "Conflict");
	assert_true(strlen(r.status.message) > 0);
	assert_int_equal(r.attempts, 1);
	free(body);
	/* merge patch, then delete; a second delete is 404 NotFound */
	q = (kube_req_t){.verb = KUBE_PATCH,
	                 .res = &KUBE_RES_CONFIGMAPS,
	                 .ns = L.ns,
	                 .name = "pg-0",
	                 .body = "{\"data\":{\"w\":\"x\"}}"};
	assert_int_equal(kube_do_sync(c, &q, &r), 0);
	assert_string_equal(
	        cJSON_GetObjectItem(cJSON_GetObjectItem(r.obj, "data"), "v")->valuestring, "1");
	kube_result_clear(&r);
	q = (kube_req_t){
	        .verb = KUBE_DELETE, .res = &KUBE_RES_CONFIGMAPS, .ns = L.ns, .name = "pg-0"};
	assert_int_equal(kube_do_sync(c, &q, &r), 0);
	kube_result_clear(&r);
	assert_int_equal(kube_do_sync(c, &q, &r), KUBE_EAPI);
	assert_int_equal(r.status.code, 404);
	kube_client_free(c);
}

static void test_retry_after_429(void **state)
{
	kube_result_t r;
	(void)state;
	kube_client_t *c = client(cfg(), NULL);
	create_cm(c, "ra", "x");
	be_fault("get", "configmaps", 429, 1, 2);
	kube_req_t q = {.verb = KUBE_GET, .res = &KUBE_RES_CONFIGMAPS, .ns = L.ns, .name = "ra"};
	int64_t t0 = base_now_ms();
	if (kube_do_sync(c, &q, &r) != 0)
		fail_msg("get after 429s: %s", r.errmsg);
	/* two 1 s waits, as the server asked (backoff alone would be ~0.1 s) */
	assert_true(base_now_ms() - t0 >= 1900);
	assert_int_equal(r.attempts, 3);
	kube_result_clear(&r);
	be_clear();
	kube_client_free(c);
}

static void test_5xx_backoff(void **state)
{
	kube_result_t r;
	(void)state;
	kube_client_t *c = client(cfg(), NULL);
	create_cm(c, "bo", "x");
	be_fault("get", "configmaps", 503, -1, 2);
	kube_req_t q = {.verb = KUBE_GET, .res = &KUBE_RES_CONFIGMAPS, .ns = L.ns, .name = "bo"};
	if (kube_do_sync(c, &q, &r) != 0)
		fail_msg("get after 503s: %s", r.errmsg);
	assert_int_equal(r.attempts, 3);
	kube_result_clear(&r);
	be_clear();
	/* a create is not replayed on a bare 503 */
	be_fault("create", "configmaps", 503, -1, 1);
	q = (kube_req_t){.verb = KUBE_CREATE,
	                 .res = &KUBE_RES_CONFIGMAPS,
	                 .ns = L.ns,
	                 .body = cm("bo2", "x", "0")};
	assert_int_equal(kube_do_sync(c, &q, &r), KUBE_EAPI);
	assert_int_equal(r.status.code, 503);
	assert_int_equal(r.attempts, 1);
	be_clear();
	/* persistent 500s: retries run out, the error reaches the caller */
	be_fault("get", "configmaps", 500, -1, 50);
	q = (kube_req_t){.verb = KUBE_GET, .res = &KUBE_RES_CONFIGMAPS, .ns = L.ns, .name = "bo"};
	assert_int_equal(kube_do_sync(c, &q, &r), KUBE_EAPI);
	assert_int_equal(r.status.code, 500);
	assert_int_equal(r.attempts, 6);
	be_clear();
	kube_client_free(c);
}

typedef struct {
	int adds, updates, deletes;
} counts_t;

static void h_add(const cJSON *o, void *a)
{
	(void)o;
	((counts_t *)a)->adds++;
}
static void h_upd(const cJSON *o, const cJSON *n, void *a)
{
	if (o != n)
		((counts_t *)a)->updates++;
}
static void h_del(const cJSON *o, void *a)
{
	(void)o;
	((counts_t *)a)->deletes++;
}

static void test_watch_drop_recovers(void **state)
{
	char err[256];
	counts_t k = {0, 0, 0};
	kube_informer_stats_t st;
	kube_informer_handlers_t h = {h_add, h_upd, h_del, NULL};
	(void)state;
	kube_client_t *c = client(cfg(), NULL);
	create_cm(c, "w-0", "watched");
	create_cm(c, "w-1", "watched");
	kube_informer_opts_t o = {
	        .res = &KUBE_RES_CONFIGMAPS, .ns = L.ns, .label_selector = "app=watched"};
	kube_informer_t *inf = kube_informer_new(c, &o, &h, &k, err, sizeof(err));
	assert_non_null(inf);
	assert_int_equal(kube_informer_start(inf), 0);
	WAIT_FOR(kube_informer_synced(inf));
	assert_int_equal(k.adds, 2);
	/* live events */
	create_cm(c, "w-2", "watched");
	WAIT_FOR(k.adds == 3);
	kube_informer_stats(inf, &st);
	unsigned watches = st.watches, lists = st.lists;
	/* drop every stream, change things, and expect the informer to catch up */
	be_drop_watches();
	kube_result_t r;
	kube_req_t q = {
	        .verb = KUBE_DELETE, .res = &KUBE_RES_CONFIGMAPS, .ns = L.ns, .name = "w-0"};
	assert_int_equal(kube_do_sync(c, &q, &r), 0);
	kube_result_clear(&r);
	create_cm(c, "w-3", "watched");
	q = (kube_req_t){.verb = KUBE_PATCH,
	                 .res = &KUBE_RES_CONFIGMAPS,
	                 .ns = L.ns,
	                 .name = "w-1",
	                 .body = "{\"data\":{\"v\":\"after-drop\"}}"};
	assert_int_equal(kube_do_sync(c, &q, &r), 0);
	kube_result_clear(&r);
	WAIT_FOR(k.deletes == 1 && k.adds == 4 && k.updates >= 1);
	kube_informer_stats(inf, &st);
	assert_true(st.watches > watches);
	fprintf(stderr, "# after drop: lists %u->%u watches %u->%u errors %u\n", lists, st.lists,
	        watches, st.watches, st.errors);
	assert_int_equal(kube_informer_count(inf), 3);
	const cJSON *w1 = kube_informer_get(inf, L.ns, "w-1");
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(w1, "data"), "v")->valuestring,
	                    "after-drop");
	/* the watch cannot come back for a while (503, Retry-After 3 s) and the
	 * history it would resume from is gone meanwhile: 410, then a relist */
	kube_informer_stats(inf, &st);
	unsigned r410 = st.relists_410;
	lists = st.lists;
	be_fault("watch", "configmaps", 503, 3, 1);
	be_drop_watches();
	be_expire_history(c);
	create_cm(c, "w-5", "watched");
	WAIT_FOR(kube_informer_get(inf, L.ns, "w-5") != NULL);
	kube_informer_stats(inf, &st);
	fprintf(stderr, "# after expiry: lists %u->%u relists_410 %u->%u\n", lists, st.lists, r410,
	        st.relists_410);
	assert_true(st.lists > lists);
	if (L.live)
		assert_true(st.relists_410 > r410);
	be_clear();
	/* an injected failure of the relist list itself is retried */
	be_fault("list", "configmaps", 500, -1, 1);
	be_drop_watches();
	create_cm(c, "w-4", "watched");
	WAIT_FOR(k.adds == 6);
	be_clear();
	kube_informer_free(inf);
	kube_client_free(c);
}

static void test_token_rotation(void **state)
{
	kube_result_t r;
	char tok_a[256], tok_b[256], path[128];
	(void)state;
	kube_client_t *admin_c = client(cfg(), NULL);
	create_cm(admin_c, "tok", "x");
	kube_client_free(admin_c);
	be_mint(tok_a, sizeof(tok_a));
	snprintf(path, sizeof(path), "%s/token", L.dir);
	write_file(path, tok_a);
	kube_config_t tc = *cfg();
	tc.token = NULL;
	tc.username = NULL;
	tc.password = NULL;
	tc.cert_file = tc.key_file = NULL;
	tc.cert_pem = tc.key_pem = NULL;
	tc.token_file = path;
	kube_client_t *c = client(&tc, NULL);
	kube_req_t q = {.verb = KUBE_GET, .res = &KUBE_RES_CONFIGMAPS, .ns = L.ns, .name = "tok"};
	if (kube_do_sync(c, &q, &r) != 0)
		fail_msg("get with token A: %s", r.errmsg);
	assert_int_equal(r.attempts, 1);
	kube_result_clear(&r);
	/* rotate: A revoked, B written to the file; the next request gets 401,
	 * re-reads the file and succeeds */
	be_revoke(tok_a);
	be_mint(tok_b, sizeof(tok_b));
	write_file(path, tok_b);
	if (kube_do_sync(c, &q, &r) != 0)
		fail_msg("get after rotation: %s", r.errmsg);
	assert_int_equal(r.attempts, 2);
	kube_result_clear(&r);
	/* revoked and nothing new: 401 reaches the caller */
	be_revoke(tok_b);
	if (!L.live)
		kube_fakeapi_set_token(L.f, "nobody-has-this");
	assert_int_equal(kube_do_sync(c, &q, &r), KUBE_EAPI);
	assert_int_equal(r.status.code, 401);
	be_token_off();
	kube_client_free(c);
}

static void test_bad_ca_rejected(void **state)
{
	kube_result_t r;
	char ca[128], cmd[512];
	(void)state;
	snprintf(ca, sizeof(ca), "%s/other-ca.crt", L.dir);
	snprintf(
	        cmd, sizeof(cmd),
	        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
	        "-keyout '%s/other-ca.key' -out '%s' -days 1 -subj /CN=not-your-ca >/dev/null 2>&1",
	        L.dir, ca);
	assert_int_equal(system(cmd), 0);
	kube_config_t bc = *cfg();
	bc.ca_pem = NULL;
	bc.ca_pem_len = 0;
	bc.ca_file = ca;
	bc.insecure = false;
	kube_client_t *c = client(&bc, NULL);
	kube_req_t q = {.verb = KUBE_LIST, .res = &KUBE_RES_CONFIGMAPS, .ns = L.ns};
	assert_int_equal(kube_do_sync(c, &q, &r), KUBE_ETLS);
	assert_int_equal(r.attempts, 1);
	fprintf(stderr, "# bad CA: %s\n", r.errmsg);
	kube_client_free(c);
}

static void test_events_scale_lease(void **state)
{
	char err[128];
	waiter_t w;
	(void)state;
	kube_client_t *c = client(cfg(), NULL);
	kube_event_t ev = {.ns = L.ns,
	                   .kind = "ConfigMap",
	                   .api_version = "v1",
	                   .name = "policy",
	                   .type = "Normal",
	                   .reason = "SuccessfulRescale",
	                   .note = "New size: 2; reason: test"};
	memset(&w, 0, sizeof(w));
	assert_int_equal(kube_event_create(c, &ev, waiter_cb, &w, NULL), 0);
	WAIT_FOR(w.done);
	if (w.res.err != 0)
		fail_msg("event: %s", w.res.errmsg);
	kube_result_clear(&w.res);

	char dep[1024];
	snprintf(dep, sizeof(dep),
	         "{\"apiVersion\":\"apps/"
	         "v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"idle\"},"
	         "\"spec\":{\"replicas\":0,\"selector\":{\"matchLabels\":{\"app\":\"idle\"}},"
	         "\"template\":{\"metadata\":{\"labels\":{\"app\":\"idle\"}},\"spec\":{"
	         "\"containers\":"
	         "[{\"name\":\"c\",\"image\":\"example.invalid/none:1\",\"command\":[\"/bin/"
	         "true\"]}]}}}}");
	kube_result_t r;
	kube_req_t q = {.verb = KUBE_CREATE, .res = &KUBE_RES_DEPLOYMENTS, .ns = L.ns, .body = dep};
	if (kube_do_sync(c, &q, &r) != 0)
		fail_msg("create deployment: %s", r.errmsg);
	kube_result_clear(&r);
	kube_scale_t sc;
	memset(&w, 0, sizeof(w));
	assert_int_equal(kube_scale_get(c, L.ns, "idle", waiter_cb, &w, NULL), 0);
	WAIT_FOR(w.done);
	if (w.res.err != 0)
		fail_msg("get scale: %s", w.res.errmsg);
	assert_int_equal(kube_scale_decode(w.res.obj, &sc, err, sizeof(err)), 0);
	assert_true(sc.has_spec_replicas); /* replicas: 0 is present, not dropped */
	assert_int_equal(sc.spec_replicas, 0);
	kube_result_clear(&w.res);
	memset(&w, 0, sizeof(w));
	assert_int_equal(kube_scale_patch(c, L.ns, "idle", 0, waiter_cb, &w, NULL), 0);
	WAIT_FOR(w.done);
	if (w.res.err != 0)
		fail_msg("patch scale: %s", w.res.errmsg);
	kube_result_clear(&w.res);

	kube_lease_t l;
	memset(&l, 0, sizeof(l));
	snprintf(l.name, sizeof(l.name), "leader");
	snprintf(l.ns, sizeof(l.ns), "%s", L.ns);
	l.has_holder = true;
	snprintf(l.holder, sizeof(l.holder), "me");
	l.has_duration = true;
	l.duration_s = 15;
	l.has_renew_time = true;
	kube_microtime(base_wall_ms(), l.renew_time, sizeof(l.renew_time));
	memset(&w, 0, sizeof(w));
	assert_int_equal(kube_lease_create(c, &l, waiter_cb, &w, NULL), 0);
	WAIT_FOR(w.done);
	if (w.res.err != 0)
		fail_msg("create lease: %s", w.res.errmsg);
	kube_lease_t got;
	assert_int_equal(kube_lease_decode(w.res.obj, &got, err, sizeof(err)), 0);
	kube_result_clear(&w.res);
	/* a real change (a no-op update keeps the resourceVersion, as in Kubernetes) */
	snprintf(got.holder, sizeof(got.holder), "you");
	got.has_transitions = true;
	got.transitions = 1;
	memset(&w, 0, sizeof(w));
	assert_int_equal(kube_lease_update(c, &got, waiter_cb, &w, NULL), 0);
	WAIT_FOR(w.done);
	assert_int_equal(w.res.err, 0);
	kube_result_clear(&w.res);
	memset(&w, 0, sizeof(w));
	assert_int_equal(kube_lease_update(c, &got, waiter_cb, &w, NULL), 0); /* stale now */
	WAIT_FOR(w.done);
	assert_int_equal(w.res.err, KUBE_EAPI);
	assert_int_equal(w.res.status.code, 409);
	kube_result_clear(&w.res);
	kube_client_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_crud_paging_conflict),
	        cmocka_unit_test(test_retry_after_429),
	        cmocka_unit_test(test_5xx_backoff),
	        cmocka_unit_test(test_watch_drop_recovers),
	        cmocka_unit_test(test_token_rotation),
	        cmocka_unit_test(test_bad_ca_rejected),
	        cmocka_unit_test(test_events_scale_lease),
	};
	return cmocka_run_group_tests_name("kube_live", tests, setup, teardown);
}

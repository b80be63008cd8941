/* cmocka group: pkg/kube. Pure parts (config, selectors, Status, backoff,
 * rate limiter, watch decoder, store, paths, typed objects) and the client
 * against tests/lib/kube_fakeapi over HTTPS (CRUD, paging, 409, 429 with
 * Retry-After, 5xx backoff, token rotation, bad CA, watch + informer with
 * relists, Events fallback, /scale, Leases, body cap). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "kube/client.h"
#include "kube/config.h"
#include "kube/informer.h"
#include "kube/kube.h"
#include "kube/loop.h"
#include "kube/objects.h"
#include "kube/retry.h"
#include "kubeapi/kubeapi.h"
#include "kube/store.h"
#include "kube/watch.h"
#include "../lib/kube_fakeapi.h"

/* ---- helpers ---- */

static char tmpdir[64];

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static const char *tmp_path(const char *name)
{
	static char buf[4][256];
	static int i;
	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", tmpdir, name);
	return buf[i];
}

static int group_tmp_setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test-kube-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

/* ---- kubeconfig fixtures ---- */

#define KC_HEAD                                                                                    \
	"apiVersion: v1\nkind: Config\ncurrent-context: main\n"                                    \
	"clusters:\n- name: c1\n  cluster:\n    server: https://127.4.0.1:6443/\n"                 \
	"    certificate-authority: ca.crt\n"                                                      \
	"- name: c2\n  cluster:\n    server: https://10.0.0.2\n"                                   \
	"    insecure-skip-tls-verify: true\n"                                                     \
	"- name: c3\n  cluster:\n    server: https://10.0.0.3\n"                                   \
	"    certificate-authority-data: aGVsbG8=\n    insecure-skip-tls-verify: true\n"           \
	"contexts:\n- name: main\n  context:\n    cluster: c1\n    user: u\n    namespace: mcp\n"  \
	"- name: other\n  context:\n    cluster: c2\n    user: u\n"                                \
	"- name: both\n  context:\n    cluster: c3\n    user: u\n"

static const struct {
	const char *name;
	const char *users; /* "users:" section */
	const char *context;
	int rc;
	const char *expect; /* substring of err on failure, or a field check key */
} kc_cases[] = {
        {"token", "users:\n- name: u\n  user:\n    token: abc123\n", NULL, 0, "token"},
        {"tokenFile", "users:\n- name: u\n  user:\n    tokenFile: tok\n", NULL, 0, "tokenFile"},
        {"cert files",
         "users:\n- name: u\n  user:\n    client-certificate: c.crt\n    client-key: /abs/c.key\n",
         NULL, 0, "certfiles"},
        {"cert data",
         "users:\n- name: u\n  user:\n    client-certificate-data: Y2VydA==\n    client-key-data: "
         "a2V5\n",
         NULL, 0, "certdata"},
        {"named context", "users:\n- name: u\n  user:\n    token: t\n", "other", 0, "other"},
        {"basic", "users:\n- name: u\n  user:\n    username: admin\n    password: pw\n", NULL, 0,
         "basic"},
        {"exec refused", "users:\n- name: u\n  user:\n    exec:\n      command: aws\n", NULL,
         KUBE_ECONFIG, "not supported"},
        {"auth-provider refused",
         "users:\n- name: u\n  user:\n    auth-provider:\n      name: gcp\n", NULL, KUBE_ECONFIG,
         "not supported"},
        {"missing context", "users:\n- name: u\n  user:\n    token: t\n", "nope", KUBE_ECONFIG,
         "context \"nope\" not found"},
        {"missing user", "users:\n- name: x\n  user:\n    token: t\n", NULL, KUBE_ECONFIG,
         "user \"u\""},
        {"bad base64",
         "users:\n- name: u\n  user:\n    client-certificate-data: '@@@'\n    client-key-data: "
         "a2V5\n",
         NULL, KUBE_ECONFIG, "not valid base64"},
        {"ca and insecure", "users:\n- name: u\n  user:\n    token: t\n", "both", KUBE_ECONFIG,
         "together are not allowed"},
        {"cert without key", "users:\n- name: u\n  user:\n    client-certificate: c.crt\n", NULL,
         KUBE_ECONFIG, "needs its key"},
};

static void test_kubeconfig_fixtures(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(kc_cases) / sizeof(kc_cases[0]); i++) {
		char yaml[2048];
		char err[256] = "";
		kube_config_t *c = NULL;
		snprintf(yaml, sizeof(yaml), "%s%s", KC_HEAD, kc_cases[i].users);
		int rc = kube_config_parse(yaml, strlen(yaml), "/etc/kc", kc_cases[i].context, &c,
		                           err, sizeof(err));
		if (rc != kc_cases[i].rc)
			fail_msg("case %s: rc %d want %d (%s)", kc_cases[i].name, rc,
			         kc_cases[i].rc, err);
		if (rc != 0) {
			assert_null(c);
			if (strstr(err, kc_cases[i].expect) == NULL)
				fail_msg("case %s: err \"%s\" lacks \"%s\"", kc_cases[i].name, err,
				         kc_cases[i].expect);
			continue;
		}
		const char *e = kc_cases[i].expect;
		if (strcmp(e, "other") == 0) {
			assert_string_equal(c->server, "https://10.0.0.2");
			assert_true(c->insecure);
			assert_null(c->ca_pem);
			assert_null(c->ca_file);
			assert_string_equal(c->namespace, "default");
			assert_string_equal(c->context, "other");
		} else {
			/* main context: trailing slash dropped, relative CA resolved */
			assert_string_equal(c->server, "https://127.4.0.1:6443");
			assert_string_equal(c->ca_file, "/etc/kc/ca.crt");
			assert_false(c->insecure);
			assert_string_equal(c->namespace, "mcp");
		}
		if (strcmp(e, "token") == 0)
			assert_string_equal(c->token, "abc123");
		if (strcmp(e, "tokenFile") == 0) {
			assert_string_equal(c->token_file, "/etc/kc/tok");
			assert_null(c->token);
		}
		if (strcmp(e, "certfiles") == 0) {
			assert_string_equal(c->cert_file, "/etc/kc/c.crt");
			assert_string_equal(c->key_file, "/abs/c.key");
		}
		if (strcmp(e, "certdata") == 0) {
			assert_int_equal(c->cert_pem_len, 4);
			assert_memory_equal(c->cert_pem, "cert", 4);
			assert_int_equal(c->key_pem_len, 3);
		}
		if (strcmp(e, "basic") == 0) {
			assert_string_equal(c->username, "admin");
			assert_string_equal(c->password, "pw");
		}
		kube_config_free(c);
	}
}

static void test_kubeconfig_garbage(void **state)
{
	static const char *bad[] = {
	        "",
	        "- a\n- b\n",
	        "key: [unclosed\n",
	        "current-context: x\n",
	        "current-context: x\ncontexts: 5\n",
	        "{{{{",
	        "current-context: m\ncontexts:\n- name: m\n  context:\n    cluster: c\n"
	        "clusters:\n- name: c\n  cluster:\n    server: ftp://x\n",
	        "current-context: &a m\ncontexts: &b [*b]\n",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char err[256] = "";
		kube_config_t *c = NULL;
		int rc =
		        kube_config_parse(bad[i], strlen(bad[i]), NULL, NULL, &c, err, sizeof(err));
		assert_int_not_equal(rc, 0);
		assert_null(c);
		assert_true(strlen(err) > 0);
	}
}

static void test_kubeconfig_merge(void **state)
{
	char err[256];
	char paths[1024];
	kube_config_t *c = NULL;
	(void)state;
	mkdir(tmp_path("a"), 0700);
	mkdir(tmp_path("b"), 0700);
	write_file(
	        tmp_path("a/config"),
	        "current-context: ctx\n"
	        "contexts:\n- name: ctx\n  context: {cluster: shared, user: me, namespace: first}\n"
	        "clusters:\n- name: shared\n  cluster: {server: 'https://first:1', "
	        "certificate-authority: ca.pem}\n");
	write_file(tmp_path("b/config"),
	           "current-context: ignored\n"
	           "contexts:\n- name: ctx\n  context: {cluster: shared, user: me, namespace: "
	           "second}\n"
	           "clusters:\n- name: shared\n  cluster: {server: 'https://second:2'}\n"
	           "users:\n- name: me\n  user: {tokenFile: tok}\n");
	snprintf(paths, sizeof(paths), "%s:%s:%s", tmp_path("a/config"), tmp_path("missing"),
	         tmp_path("b/config"));
	assert_int_equal(kube_config_from_kubeconfig(paths, NULL, &c, err, sizeof(err)), 0);
	assert_string_equal(c->server, "https://first:1");
	assert_string_equal(c->namespace, "first");
	assert_string_equal(c->ca_file, tmp_path("a/ca.pem"));
	/* the user only exists in b: its relative path resolves against b */
	assert_string_equal(c->token_file, tmp_path("b/tok"));
	kube_config_free(c);

	/* precedence: --kubeconfig beats KUBECONFIG */
	setenv("KUBECONFIG", paths, 1);
	assert_int_equal(kube_config_load(tmp_path("b/config"), "ctx", &c, err, sizeof(err)), 0);
	assert_string_equal(c->server, "https://second:2");
	kube_config_free(c);
	assert_int_equal(kube_config_load(NULL, NULL, &c, err, sizeof(err)), 0);
	assert_string_equal(c->server, "https://first:1");
	kube_config_free(c);
	assert_int_not_equal(kube_config_load(tmp_path("nothere"), NULL, &c, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "nothere"));
	unsetenv("KUBECONFIG");
}

static void test_in_cluster(void **state)
{
	char err[256];
	kube_config_t *c = NULL;
	(void)state;
	mkdir(tmp_path("sa"), 0700);
	write_file(tmp_path("sa/token"), "  tok-1\n");
	write_file(tmp_path("sa/ca.crt"), "PEM");
	write_file(tmp_path("sa/namespace"), "prod\n");
	unsetenv("KUBECONFIG");
	setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	setenv("KUBERNETES_SA_DIR", tmp_path("sa"), 1);
	assert_int_equal(kube_config_load(NULL, NULL, &c, err, sizeof(err)), 0);
	assert_string_equal(c->server, "https://[fd00::1]:443");
	assert_string_equal(c->token, "tok-1");
	assert_string_equal(c->token_file, tmp_path("sa/token"));
	assert_string_equal(c->ca_file, tmp_path("sa/ca.crt"));
	assert_string_equal(c->namespace, "prod");
	assert_string_equal(c->context, "in-cluster");
	kube_config_free(c);
	unlink(tmp_path("sa/token"));
	assert_int_equal(kube_config_in_cluster(&c, err, sizeof(err)), KUBE_EIO);
	assert_non_null(strstr(err, "token"));
	unsetenv("KUBERNETES_SERVICE_HOST");
	assert_int_equal(kube_config_in_cluster(&c, err, sizeof(err)), KUBE_ECONFIG);
	unsetenv("KUBERNETES_SERVICE_PORT");
	unsetenv("KUBERNETES_SA_DIR");
}

static void test_base64(void **state)
{
	char *o;
	size_t n;
	(void)state;
	assert_int_equal(kube_base64_decode("aGVs\nbG8=", 9, &o, &n), 0);
	assert_int_equal(n, 5);
	assert_string_equal(o, "hello");
	free(o);
	assert_int_equal(kube_base64_decode("a", 1, &o, &n), KUBE_EINVAL);
	assert_int_equal(kube_base64_decode("YQ==YQ", 6, &o, &n), KUBE_EINVAL);
	assert_int_equal(kube_base64_decode("a$b=", 4, &o, &n), KUBE_EINVAL);
}

/* ---- selectors ---- */

static const struct {
	const char *sel;
	bool valid;
	const char *labels; /* JSON */
	bool match;
} sel_cases[] = {
        {"", true, "{}", true},
        {"app=web", true, "{\"app\":\"web\"}", true},
        {"app==web", true, "{\"app\":\"db\"}", false},
        {"app!=web", true, "{}", true},
        {"app!=web", true, "{\"app\":\"web\"}", false},
        {"env in (prod, staging),tier", true, "{\"env\":\"prod\",\"tier\":\"x\"}", true},
        {"env in (prod,staging),tier", true, "{\"env\":\"prod\"}", false},
        {"env notin (dev)", true, "{\"env\":\"dev\"}", false},
        {"env notin (dev)", true, "{}", true},
        {"!canary", true, "{\"canary\":\"1\"}", false},
        {"mcp-autoscaler.io/policy=true", true, "{\"mcp-autoscaler.io/policy\":\"true\"}", true},
        {"a=", true, "{\"a\":\"\"}", true},
        {"=x", false, NULL, false},
        {"app=we b", false, NULL, false},
        {"app in (a", false, NULL, false},
        {"app of (a)", false, NULL, false},
        {"-bad=1", false, NULL, false},
        {"app=-x", false, NULL, false},
        {"UPPER/x=1", false, NULL, false},
        {"a=1,", false, NULL, false},
};

static void test_selectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(sel_cases) / sizeof(sel_cases[0]); i++) {
		kubeapi_selector_t *s = NULL;
		char err[128] = "";
		int rc = kubeapi_selector_parse(sel_cases[i].sel, &s, err, sizeof(err));
		if ((rc == 0) != sel_cases[i].valid)
			fail_msg("selector \"%s\": rc %d (%s)", sel_cases[i].sel, rc, err);
		if (rc != 0) {
			assert_true(strlen(err) > 0);
			continue;
		}
		cJSON *l = cJSON_Parse(sel_cases[i].labels);
		if (kubeapi_selector_matches(s, l) != sel_cases[i].match)
			fail_msg("selector \"%s\" on %s", sel_cases[i].sel, sel_cases[i].labels);
		cJSON_Delete(l);
		kubeapi_selector_free(s);
	}
	char err[128];
	assert_int_equal(kubeapi_selectors_validate(NULL, "metadata.name=x,status.phase!=Running",
	                                            err, sizeof(err)),
	                 0);
	assert_int_equal(kubeapi_selectors_validate(NULL, "metadata.name", err, sizeof(err)),
	                 KUBEAPI_EINVAL);
	assert_int_equal(kubeapi_selectors_validate(NULL, "=x", err, sizeof(err)), KUBEAPI_EINVAL);
	assert_int_equal(kubeapi_selectors_validate("app in (a", NULL, err, sizeof(err)),
	                 KUBEAPI_EINVAL);
}

/* ---- Status ---- */

static void test_status_decode(void **state)
{
	kube_status_t st;
	const char *b =
	        "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\","
	        "\"message\":\"configmaps \\\"x\\\" already exists\",\"reason\":\"AlreadyExists\","
	        "\"code\":409}";
	(void)state;
	assert_int_equal(kube_status_decode(b, strlen(b), 500, &st), 0);
	assert_int_equal(st.code, 409);
	assert_string_equal(st.reason, "AlreadyExists");
	assert_string_equal(st.message, "configmaps \"x\" already exists");
	assert_int_equal(kube_status_decode("<html>\x01oops", 11, 502, &st), -1);
	assert_int_equal(st.code, 502);
	assert_string_equal(st.message, "<html> oops");
	assert_int_equal(kube_status_decode("", 0, 503, &st), -1);
	assert_int_equal(st.code, 503);
	assert_string_equal(st.reason, "");
}

/* ---- backoff and rate limiter ---- */

static void test_backoff(void **state)
{
	kube_backoff_t b;
	(void)state;
	kube_backoff_default(&b);
	b.base_ms = 100;
	b.max_ms = 1000;
	/* equal jitter: [d/2, d) */
	assert_int_equal(kube_retry_delay(&b, 1, -1, 0.0), 50);
	assert_true(kube_retry_delay(&b, 1, -1, 0.999) < 100);
	assert_int_equal(kube_retry_delay(&b, 2, -1, 0.0), 100);
	assert_int_equal(kube_retry_delay(&b, 3, -1, 0.5), 300);
	assert_int_equal(kube_retry_delay(&b, 30, -1, 0.0), 500); /* capped at 1000 */
	for (int r = 1; r < 100; r++) {
		int64_t d = kube_retry_delay(&b, r, -1, 0.7);
		assert_true(d >= 50 && d <= 1000);
	}
	/* Retry-After wins, capped */
	assert_int_equal(kube_retry_delay(&b, 1, 3000, 0.1), 3000);
	assert_int_equal(kube_retry_delay(&b, 1, 600000, 0.1), b.max_retry_after_ms);
}

static const struct {
	bool idem;
	int err;
	long status;
	bool ra;
	bool retry;
} retry_cases[] = {
        {false, 0, 429, false, true},
        {true, 0, 429, true, true},
        {false, 0, 503, true, true},
        {false, 0, 503, false, false},
        {true, 0, 503, false, true},
        {true, 0, 500, false, true},
        {true, 0, 501, false, false},
        {false, 0, 409, false, false},
        {true, 0, 409, false, false},
        {true, 0, 404, false, false},
        {true, KUBE_ETRANSPORT, 0, false, true},
        {false, KUBE_ETRANSPORT, 0, false, false},
        {true, KUBE_ETIMEOUT, 0, false, true},
        {true, KUBE_ETLS, 0, false, false},
        {true, KUBE_ETOOBIG, 200, false, false},
};

static void test_retry_policy(void **state)
{
	kube_backoff_t b;
	(void)state;
	kube_backoff_default(&b);
	for (size_t i = 0; i < sizeof(retry_cases) / sizeof(retry_cases[0]); i++) {
		bool got = kube_retry_allowed(&b, 0, retry_cases[i].idem, retry_cases[i].err,
		                              retry_cases[i].status, retry_cases[i].ra);
		if (got != retry_cases[i].retry)
			fail_msg("case %zu: status %ld err %d idem %d", i, retry_cases[i].status,
			         retry_cases[i].err, retry_cases[i].idem);
	}
	assert_false(kube_retry_allowed(&b, b.max_retries, true, 0, 429, true));
}

static void test_ratelimit(void **state)
{
	kube_ratelimit_t rl;
	(void)state;
	kube_ratelimit_init(&rl, 10, 3, 1000);
	/* burst of 3 goes at once */
	assert_int_equal(kube_ratelimit_reserve(&rl, 1000), 0);
	assert_int_equal(kube_ratelimit_reserve(&rl, 1000), 0);
	assert_int_equal(kube_ratelimit_reserve(&rl, 1000), 0);
	/* then 100 ms apart, queued in order */
	assert_int_equal(kube_ratelimit_reserve(&rl, 1000), 100);
	assert_int_equal(kube_ratelimit_reserve(&rl, 1000), 200);
	/* time passes: tokens come back but never above burst */
	assert_int_equal(kube_ratelimit_reserve(&rl, 1300), 0);
	assert_int_equal(kube_ratelimit_reserve(&rl, 10000), 0);
	assert_int_equal(kube_ratelimit_reserve(&rl, 10000), 0);
	assert_int_equal(kube_ratelimit_reserve(&rl, 10000), 0);
	assert_int_equal(kube_ratelimit_reserve(&rl, 10000), 100);
	kube_ratelimit_init(&rl, 0, 1, 0);
	for (int i = 0; i < 100; i++)
		assert_int_equal(kube_ratelimit_reserve(&rl, 0), 0);
}

/* ---- watch decoder ---- */

struct collected {
	int n;
	char names[64][64];
	kube_event_type_t types[64];
};

static int collect(kube_event_type_t t, cJSON *obj, void *arg)
{
	struct collected *c = arg;
	const char *n = kube_obj_name(obj);
	if (c->n < 64) {
		snprintf(c->names[c->n], sizeof(c->names[0]), "%s", n ? n : "");
		c->types[c->n] = t;
	}
	c->n++;
	return 0;
}

static const char watch_stream[] =
        "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a{b\"},\"data\":{\"k\":\"}}\\\"{"
        "\"}}}\n"
        "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"c\\\\\"},\"l\":[1,{\"x\":[]}]}"
        "}\r\n"
        "  {\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"9\"}}}"
        "{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"name\":\"\xc3\xa9t\xc3\xa9\"}}}\n"
        "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410}}\n";

static void check_collected(const struct collected *c)
{
	assert_int_equal(c->n, 5);
	assert_string_equal(c->names[0], "a{b");
	assert_int_equal(c->types[0], KUBE_EV_ADDED);
	assert_string_equal(c->names[1], "c\\");
	assert_int_equal(c->types[1], KUBE_EV_MODIFIED);
	assert_int_equal(c->types[2], KUBE_EV_BOOKMARK);
	assert_string_equal(c->names[3], "\xc3\xa9t\xc3\xa9");
	assert_int_equal(c->types[3], KUBE_EV_DELETED);
	assert_int_equal(c->types[4], KUBE_EV_ERROR);
}

static void test_watch_decoder_splits(void **state)
{
	size_t len = strlen(watch_stream);
	char err[128];
	(void)state;
	kube_wdec_t *d = kube_wdec_new(0);
	assert_non_null(d);
	/* every split into two and three pieces */
	for (size_t i = 0; i <= len; i++) {
		for (size_t j = i; j <= len; j += 7) {
			struct collected c = {0};
			kube_wdec_reset(d);
			assert_int_equal(
			        kube_wdec_feed(d, watch_stream, i, collect, &c, err, sizeof(err)),
			        0);
			assert_int_equal(kube_wdec_feed(d, watch_stream + i, j - i, collect, &c,
			                                err, sizeof(err)),
			                 0);
			assert_int_equal(kube_wdec_feed(d, watch_stream + j, len - j, collect, &c,
			                                err, sizeof(err)),
			                 0);
			check_collected(&c);
			assert_false(kube_wdec_pending(d));
		}
	}
	/* byte by byte */
	struct collected c = {0};
	kube_wdec_reset(d);
	for (size_t i = 0; i < len; i++)
		assert_int_equal(
		        kube_wdec_feed(d, watch_stream + i, 1, collect, &c, err, sizeof(err)), 0);
	check_collected(&c);
	kube_wdec_free(d);
}

static void test_watch_decoder_errors(void **state)
{
	char err[128];
	struct collected c = {0};
	kube_wdec_t *d = kube_wdec_new(64);
	(void)state;
	const char *big = "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":"
	                  "\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}}}";
	assert_int_equal(kube_wdec_feed(d, big, strlen(big), collect, &c, err, sizeof(err)),
	                 KUBE_ETOOBIG);
	assert_non_null(strstr(err, "too large"));
	kube_wdec_reset(d);
	assert_int_equal(kube_wdec_feed(d, "garbage", 7, collect, &c, err, sizeof(err)),
	                 KUBE_EDECODE);
	kube_wdec_reset(d);
	assert_int_equal(kube_wdec_feed(d, "{\"type\":\"NOPE\",\"object\":{}}", 27, collect, &c,
	                                err, sizeof(err)),
	                 KUBE_EDECODE);
	kube_wdec_reset(d);
	assert_int_equal(kube_wdec_feed(d, "{\"type\":\"ADDED\",\"object\":[]}", 28, collect, &c,
	                                err, sizeof(err)),
	                 KUBE_EDECODE);
	kube_wdec_reset(d);
	assert_int_equal(kube_wdec_feed(d, "{\"a\":tru}", 9, collect, &c, err, sizeof(err)),
	                 KUBE_EDECODE);
	assert_int_equal(c.n, 0);
	kube_wdec_free(d);
	kube_wdec_free(NULL);
}

/* ---- store ---- */

static cJSON *mkobj(const char *ns, const char *name, const char *rv)
{
	char buf[256];
	if (ns)
		snprintf(buf, sizeof(buf),
		         "{\"metadata\":{\"namespace\":\"%s\",\"name\":\"%s\",\"resourceVersion\":"
		         "\"%s\"}}",
		         ns, name, rv);
	else
		snprintf(buf, sizeof(buf),
		         "{\"metadata\":{\"name\":\"%s\",\"resourceVersion\":\"%s\"}}", name, rv);
	return cJSON_Parse(buf);
}

static void count_cb(const cJSON *o, void *arg)
{
	(void)o;
	(*(int *)arg)++;
}

static void test_store(void **state)
{
	kube_store_t *s = kube_store_new();
	cJSON *old = NULL;
	(void)state;
	assert_int_equal(kube_store_put(s, mkobj("a", "x", "1"), &old), 0);
	assert_null(old);
	assert_int_equal(kube_store_put(s, mkobj("b", "x", "2"), &old), 0);
	assert_int_equal(kube_store_put(s, mkobj(NULL, "x", "3"), &old), 0);
	assert_int_equal(kube_store_count(s), 3);
	assert_int_equal(kube_store_put(s, mkobj("a", "x", "4"), &old), 0);
	assert_non_null(old);
	assert_string_equal(kube_obj_rv(old), "1");
	cJSON_Delete(old);
	assert_string_equal(kube_obj_rv(kube_store_get(s, "a", "x")), "4");
	assert_string_equal(kube_obj_rv(kube_store_get(s, "", "x")), "3");
	assert_string_equal(kube_obj_rv(kube_store_get(s, NULL, "x")), "3");
	assert_null(kube_store_get(s, "c", "x"));
	assert_int_equal(kube_store_put(s, cJSON_Parse("{\"metadata\":{}}"), NULL), KUBE_EINVAL);
	cJSON *r = kube_store_remove(s, "b", "x");
	assert_non_null(r);
	cJSON_Delete(r);
	assert_null(kube_store_remove(s, "b", "x"));
	for (int i = 0; i < 2000; i++) {
		char n[16];
		snprintf(n, sizeof(n), "p%d", i);
		assert_int_equal(kube_store_put(s, mkobj("big", n, "1"), NULL), 0);
	}
	assert_int_equal(kube_store_count(s), 2002);
	assert_non_null(kube_store_get(s, "big", "p1234"));
	int n = 0;
	kube_store_foreach(s, count_cb, &n);
	assert_int_equal(n, 2002);
	kube_store_free(s);
	kube_store_free(NULL);
}

/* ---- paths and typed objects ---- */

static void test_paths(void **state)
{
	char p[256];
	(void)state;
	kube_req_t r = {.verb = KUBE_GET, .res = &KUBE_RES_CONFIGMAPS, .ns = "mcp", .name = "pol"};
	assert_int_equal(kube_build_path(&r, p, sizeof(p)), 0);
	assert_string_equal(p, "/api/v1/namespaces/mcp/configmaps/pol");
	r = (kube_req_t){.verb = KUBE_PATCH,
	                 .res = &KUBE_RES_DEPLOYMENTS,
	                 .ns = "mcp",
	                 .name = "w",
	                 .subresource = "scale"};
	assert_int_equal(kube_build_path(&r, p, sizeof(p)), 0);
	assert_string_equal(p, "/apis/apps/v1/namespaces/mcp/deployments/w/scale");
	r = (kube_req_t){.verb = KUBE_LIST, .res = &KUBE_RES_PODS};
	assert_int_equal(kube_build_path(&r, p, sizeof(p)), 0);
	assert_string_equal(p, "/api/v1/pods");
	r = (kube_req_t){.verb = KUBE_CREATE, .res = &KUBE_RES_LEASES, .ns = "kube-system"};
	assert_int_equal(kube_build_path(&r, p, sizeof(p)), 0);
	assert_string_equal(p, "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases");
	r = (kube_req_t){.verb = KUBE_GET, .res = &KUBE_RES_NAMESPACES, .name = "mcp"};
	assert_int_equal(kube_build_path(&r, p, sizeof(p)), 0);
	assert_string_equal(p, "/api/v1/namespaces/mcp");
	r = (kube_req_t){.verb = KUBE_GET, .res = &KUBE_RES_PODS, .name = "x"};
	assert_int_equal(kube_build_path(&r, p, sizeof(p)), KUBE_EINVAL); /* no namespace */
	r = (kube_req_t){.verb = KUBE_GET, .res = &KUBE_RES_PODS, .ns = "a", .name = "../x"};
	assert_int_equal(kube_build_path(&r, p, sizeof(p)), KUBE_EINVAL);
	r = (kube_req_t){.verb = KUBE_DELETE, .res = &KUBE_RES_PODS, .ns = "a"};
	assert_int_equal(kube_build_path(&r, p, sizeof(p)), KUBE_EINVAL); /* no name */
}

static void test_objects(void **state)
{
	char err[128];
	kube_scale_t s;
	kube_lease_t l, l2;
	(void)state;
	cJSON *o =
	        cJSON_Parse("{\"metadata\":{\"resourceVersion\":\"7\"},\"spec\":{\"replicas\":0},"
	                    "\"status\":{\"selector\":\"app=w\"}}");
	assert_int_equal(kube_scale_decode(o, &s, err, sizeof(err)), 0);
	assert_true(s.has_spec_replicas);
	assert_int_equal(s.spec_replicas, 0);
	assert_false(s.has_status_replicas);
	assert_string_equal(s.selector, "app=w");
	assert_string_equal(s.resource_version, "7");
	cJSON_Delete(o);
	o = cJSON_Parse("{\"spec\":{\"replicas\":1.5}}");
	assert_int_equal(kube_scale_decode(o, &s, err, sizeof(err)), KUBE_EDECODE);
	assert_non_null(strstr(err, "spec.replicas"));
	cJSON_Delete(o);

	memset(&l, 0, sizeof(l));
	snprintf(l.name, sizeof(l.name), "mcp-autoscaler");
	snprintf(l.ns, sizeof(l.ns), "mcp");
	l.has_holder = true;
	snprintf(l.holder, sizeof(l.holder), "pod-a");
	l.has_duration = true;
	l.duration_s = 15;
	l.has_transitions = true;
	l.transitions = 0;
	l.has_renew_time = true;
	kube_microtime(1764864000123LL, l.renew_time, sizeof(l.renew_time));
	assert_string_equal(l.renew_time, "2025-12-04T16:00:00.123000Z");
	char *js = kube_lease_encode(&l);
	o = cJSON_Parse(js);
	free(js);
	assert_int_equal(kube_lease_decode(o, &l2, err, sizeof(err)), 0);
	cJSON_Delete(o);
	assert_true(l2.has_transitions);
	assert_int_equal(l2.transitions, 0);
	assert_false(l2.has_acquire_time);
	assert_string_equal(l2.holder, "pod-a");
	int64_t ms;
	assert_int_equal(kube_parse_time(l2.renew_time, &ms), 0);
	assert_int_equal(ms, 1764864000123LL);
	assert_int_equal(kube_parse_time("2025-12-04T16:00:00Z", &ms), 0);
	assert_int_equal(ms, 1764864000000LL);
	assert_int_equal(kube_parse_time("2025-12-04T16:00:00+01:00", &ms), -1);

	kube_event_t ev = {.ns = "mcp",
	                   .kind = "Deployment",
	                   .api_version = "apps/v1",
	                   .name = "worker",
	                   .type = "Normal",
	                   .reason = "SuccessfulRescale",
	                   .note = "New size: 6; reason: p99"};
	char *v1 = kube_event_body_v1(&ev, 1764864000000LL);
	char *core = kube_event_body_core(&ev, 1764864000000LL);
	assert_non_null(strstr(v1, "\"regarding\":{\"kind\":\"Deployment\""));
	assert_non_null(strstr(v1, "\"note\":\"New size: 6; reason: p99\""));
	assert_non_null(strstr(core, "\"involvedObject\":{\"kind\":\"Deployment\""));
	assert_non_null(strstr(core, "\"message\":\"New size: 6; reason: p99\""));
	assert_non_null(strstr(core, "\"count\":1"));
	free(v1);
	free(core);
	ev.type = "Info";
	assert_null(kube_event_body_v1(&ev, 0));
}

/* ---- loop ---- */

static int64_t tick(kube_loop_t *loop, void *arg)
{
	int *n = arg;
	(void)loop;
	(*n)++;
	return *n < 3 ? 1 : -1;
}

static void on_pipe(kube_loop_t *loop, int fd, uint32_t ev, void *arg)
{
	char b[8];
	(void)loop;
	(void)ev;
	if (read(fd, b, sizeof(b)) > 0)
		(*(int *)arg)++;
}

static void test_loop_timers_fds(void **state)
{
	char err[128];
	int n = 0, m = 0, p = 0;
	int fds[2];
	(void)state;
	kube_loop_t *loop = kube_loop_new(err, sizeof(err));
	assert_non_null(loop);
	kube_loop_timer_add(loop, 0, tick, &n);
	kube_timer_t *t = kube_loop_timer_add(loop, 10, tick, &m);
	kube_loop_timer_cancel(loop, t);
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(kube_loop_fd_add(loop, fds[0], EPOLLIN, on_pipe, &p), 0);
	assert_int_equal(write(fds[1], "x", 1), 1);
	int64_t deadline = base_now_ms() + 5000;
	while ((n < 3 || p < 1) && base_now_ms() < deadline)
		kube_loop_run_once(loop, 100);
	assert_int_equal(n, 3);
	assert_int_equal(m, 0);
	assert_int_equal(p, 1);
	kube_loop_fd_del(loop, fds[0]);
	close(fds[0]);
	close(fds[1]);
	kube_loop_free(loop);
	kube_loop_free(NULL);
}

/* ---- against the fake API server ---- */

typedef struct {
	kube_fakeapi_t *f;
	kube_loop_t *loop;
	kube_config_t cfg;
} env_t;

static env_t *E;

static int fake_setup(void **state)
{
	char err[256];
	(void)state;
	E = calloc(1, sizeof(*E));
	E->f = kube_fakeapi_start(true, err, sizeof(err));
	if (E->f == NULL) {
		fprintf(stderr, "fake API server: %s\n", err);
		return -1;
	}
	E->loop = kube_loop_new(err, sizeof(err));
	E->cfg.server = (char *)kube_fakeapi_url(E->f);
	E->cfg.ca_file = (char *)kube_fakeapi_ca_file(E->f);
	E->cfg.namespace = "mcp";
	return 0;
}

static int fake_teardown(void **state)
{
	(void)state;
	kube_loop_free(E->loop);
	kube_fakeapi_stop(E->f);
	free(E);
	return 0;
}

static kube_client_t *client_with(const kube_config_t *cfg, void (*tweak)(kube_client_opts_t *))
{
	char err[256];
	kube_client_opts_t o;
	kube_client_opts_default(&o);
	o.qps = 0;
	o.backoff.base_ms = 20;
	o.backoff.max_ms = 200;
	if (tweak)
		tweak(&o);
	kube_client_t *c = kube_client_new(E->loop, cfg, &o, err, sizeof(err));
	if (c == NULL)
		fail_msg("client: %s", err);
	return c;
}

#define WAIT_FOR(cond)                                                                             \
	do {                                                                                       \
		int64_t dl_ = base_now_ms() + 10000;                                               \
		while (!(cond) && base_now_ms() < dl_)                                             \
			kube_loop_run_once(E->loop, 50);                                           \
		if (!(cond))                                                                       \
			fail_msg("timed out waiting for %s", #cond);                               \
	} while (0)

typedef struct {
	bool done;
	kube_result_t res;
	int events;
} waiter_t;

static void waiter_cb(kube_result_t *res, void *arg)
{
	waiter_t *w = arg;
	w->res = *res;
	res->obj = NULL;
	w->done = true;
}

static void waiter_ev(kube_event_type_t t, const cJSON *obj, void *arg)
{
	(void)t;
	(void)obj;
	((waiter_t *)arg)->events++;
}

static const char *cm_json(const char *name, const char *label, const char *data)
{
	static char buf[512];
	snprintf(buf, sizeof(buf),
	         "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"%s\","
	         "\"labels\":{\"app\":\"%s\"}},\"data\":{\"v\":\"%s\"}}",
	         name, label, data);
	return buf;
}

static void test_crud_paging(void **state)
{
	kube_result_t r;
	char ct[128];
	(void)state;
	kube_client_t *c = client_with(&E->cfg, NULL);
	kube_req_t req = {.verb = KUBE_CREATE,
	                  .res = &KUBE_RES_CONFIGMAPS,
	                  .ns = "crud",
	                  .body = cm_json("one", "x", "1")};
	assert_int_equal(kube_do_sync(c, &req, &r), 0);
	assert_int_equal(r.http_status, 201);
	char rv1[32];
	snprintf(rv1, sizeof(rv1), "%s", kube_obj_rv(r.obj));
	kube_result_clear(&r);
	/* create again: 409 AlreadyExists reaches the caller, no retry */
	assert_int_equal(kube_do_sync(c, &req, &r), KUBE_EAPI);
	assert_int_equal(r.status.code, 409);
	assert_string_equal(r.status.reason, "AlreadyExists");
	assert_int_equal(r.attempts, 1);
	assert_non_null(strstr(r.errmsg, "already exists"));
	kube_result_clear(&r);
	/* get */
	req = (kube_req_t){
	        .verb = KUBE_GET, .res = &KUBE_RES_CONFIGMAPS, .ns = "crud", .name = "one"};
	assert_int_equal(kube_do_sync(c, &req, &r), 0);
	cJSON *obj = kube_result_take_obj(&r);
	/* update with the current rv works; with the old rv: 409 Conflict */
	cJSON *data = cJSON_GetObjectItem(obj, "data");
	cJSON_ReplaceItemInObject(data, "v", cJSON_CreateString("2"));
	char *body = cJSON_PrintUnformatted(obj);
	req = (kube_req_t){.verb = KUBE_UPDATE,
	                   .res = &KUBE_RES_CONFIGMAPS,
	                   .ns = "crud",
	                   .name = "one",
	                   .body = body};
	assert_int_equal(kube_do_sync(c, &req, &r), 0);
	assert_string_not_equal(kube_obj_rv(r.obj), rv1);
	kube_result_clear(&r);
	assert_int_equal(kube_do_sync(c, &req, &r), KUBE_EAPI);
	assert_int_equal(r.status.code, 409);
	assert_string_equal(r.status.reason, "Conflict");
	assert_int_equal(r.attempts, 1);
	kube_result_clear(&r);
	free(body);
	cJSON_Delete(obj);
	/* merge patch + annotation patch, with the right content types */
	req = (kube_req_t){.verb = KUBE_PATCH,
	                   .res = &KUBE_RES_CONFIGMAPS,
	                   .ns = "crud",
	                   .name = "one",
	                   .body = "{\"data\":{\"w\":\"3\"}}"};
	assert_int_equal(kube_do_sync(c, &req, &r), 0);
	kube_fakeapi_last_ctype(E->f, ct, sizeof(ct));
	assert_string_equal(ct, "application/merge-patch+json");
	assert_string_equal(
	        cJSON_GetObjectItem(cJSON_GetObjectItem(r.obj, "data"), "v")->valuestring, "2");
	assert_string_equal(
	        cJSON_GetObjectItem(cJSON_GetObjectItem(r.obj, "data"), "w")->valuestring, "3");
	kube_result_clear(&r);
	req.patch_type = KUBE_PATCH_JSON;
	req.body = "[{\"op\":\"remove\",\"path\":\"/data/w\"}]";
	assert_int_equal(kube_do_sync(c, &req, &r), KUBE_EAPI);
	kube_fakeapi_last_ctype(E->f, ct, sizeof(ct));
	assert_string_equal(ct, "application/json-patch+json");
	assert_int_equal(r.status.code, 415); /* the fake refuses it; the header is what we test */
	kube_result_clear(&r);
	/* paging: 7 objects, 3 per page, label selector excludes one */
	for (int i = 0; i < 7; i++) {
		char n[16];
		snprintf(n, sizeof(n), "p%d", i);
		req = (kube_req_t){.verb = KUBE_CREATE,
		                   .res = &KUBE_RES_CONFIGMAPS,
		                   .ns = "page",
		                   .body = cm_json(n, i == 3 ? "other" : "pg", "v")};
		assert_int_equal(kube_do_sync(c, &req, &r), 0);
		kube_result_clear(&r);
	}
	int total = 0, pages = 0;
	char cont[256] = "";
	do {
		kube_list_opts_t lo = {
		        .label_selector = "app in (pg)", .limit = 3, .continue_token = cont};
		req = (kube_req_t){
		        .verb = KUBE_LIST, .res = &KUBE_RES_CONFIGMAPS, .ns = "page", .list = &lo};
		assert_int_equal(kube_do_sync(c, &req, &r), 0);
		total += cJSON_GetArraySize(cJSON_GetObjectItem(r.obj, "items"));
		pages++;
		cJSON *ct2 =
		        cJSON_GetObjectItem(cJSON_GetObjectItem(r.obj, "metadata"), "continue");
		snprintf(cont, sizeof(cont), "%s", cJSON_IsString(ct2) ? ct2->valuestring : "");
		kube_result_clear(&r);
	} while (cont[0] && pages < 10);
	assert_int_equal(total, 6);
	assert_int_equal(pages, 2);
	kube_fakeapi_last_query(E->f, ct, sizeof(ct));
	assert_non_null(strstr(ct, "labelSelector=app in (pg)"));
	/* a malformed selector never leaves the process */
	kube_list_opts_t bad = {.label_selector = "app in (x"};
	req = (kube_req_t){
	        .verb = KUBE_LIST, .res = &KUBE_RES_CONFIGMAPS, .ns = "page", .list = &bad};
	unsigned before = kube_fakeapi_count(E->f, NULL, NULL);
	assert_int_equal(kube_do_sync(c, &req, &r), KUBE_EINVAL);
	assert_int_equal(kube_fakeapi_count(E->f, NULL, NULL), before);
	/* delete with a stale precondition: 409; with the right one: gone */
	req = (kube_req_t){.verb = KUBE_DELETE,
	                   .res = &KUBE_RES_CONFIGMAPS,
	                   .ns = "crud",
	                   .name = "one",
	                   .precondition_rv = "1"};
	assert_int_equal(kube_do_sync(c, &req, &r), KUBE_EAPI);
	assert_int_equal(r.status.code, 409);
	kube_result_clear(&r);
	req.precondition_rv = NULL;
	assert_int_equal(kube_do_sync(c, &req, &r), 0);
	kube_result_clear(&r);
	req = (kube_req_t){
	        .verb = KUBE_GET, .res = &KUBE_RES_CONFIGMAPS, .ns = "crud", .name = "one"};
	assert_int_equal(kube_do_sync(c, &req, &r), KUBE_EAPI);
	assert_int_equal(r.status.code, 404);
	assert_string_equal(r.status.reason, "NotFound");
	kube_result_clear(&r);
	kube_client_free(c);
}

static void test_retry_after_and_backoff(void **state)
{
	kube_result_t r;
	(void)state;
	kube_client_t *c = client_with(&E->cfg, NULL);
	kube_fakeapi_put(E->f, "/api/v1/namespaces/retry/configmaps", cm_json("r", "x", "1"));
	/* 429 with Retry-After: 1 s, twice: the client waits as told */
	kube_fakeapi_fault(E->f, "GET", "/retry/configmaps/r", 429, 1, 2);
	kube_req_t req = {
	        .verb = KUBE_GET, .res = &KUBE_RES_CONFIGMAPS, .ns = "retry", .name = "r"};
	assert_int_equal(kube_do_sync(c, &req, &r), 0);
	assert_int_equal(r.attempts, 3);
	kube_result_clear(&r);
	int64_t t0 = kube_fakeapi_time(E->f, "GET", "/retry/configmaps/r", 0);
	int64_t t1 = kube_fakeapi_time(E->f, "GET", "/retry/configmaps/r", 1);
	int64_t t2 = kube_fakeapi_time(E->f, "GET", "/retry/configmaps/r", 2);
	assert_true(t1 - t0 >= 950);
	assert_true(t2 - t1 >= 950);
	/* 503 without Retry-After: GET retried with backoff... */
	kube_fakeapi_fault(E->f, "GET", "/retry/configmaps/r", 503, -1, 2);
	assert_int_equal(kube_do_sync(c, &req, &r), 0);
	assert_int_equal(r.attempts, 3);
	kube_result_clear(&r);
	/* ...POST is not replayed on a bare 503 */
	kube_fakeapi_fault(E->f, "POST", "/retry/configmaps", 503, -1, 1);
	req = (kube_req_t){.verb = KUBE_CREATE,
	                   .res = &KUBE_RES_CONFIGMAPS,
	                   .ns = "retry",
	                   .body = cm_json("p", "x", "1")};
	assert_int_equal(kube_do_sync(c, &req, &r), KUBE_EAPI);
	assert_int_equal(r.status.code, 503);
	assert_int_equal(r.attempts, 1);
	kube_result_clear(&r);
	/* ...but is on 429 (the server did nothing) */
	kube_fakeapi_fault(E->f, "POST", "/retry/configmaps", 429, 0, 1);
	assert_int_equal(kube_do_sync(c, &req, &r), 0);
	assert_int_equal(r.attempts, 2);
	kube_result_clear(&r);
	/* retries run out: the last Status reaches the caller */
	kube_fakeapi_fault(E->f, "GET", "/retry/configmaps/r", 500, -1, 6);
	req = (kube_req_t){
	        .verb = KUBE_GET, .res = &KUBE_RES_CONFIGMAPS, .ns = "retry", .name = "r"};
	assert_int_equal(kube_do_sync(c, &req, &r), KUBE_EAPI);
	assert_int_equal(r.status.code, 500);
	assert_int_equal(r.attempts, 6);
	kube_result_clear(&r);
	kube_client_free(c);
}

static void test_tls_and_tokens(void **state)
{
	kube_result_t r;
	kube_config_t cfg = E->cfg;
	(void)state;
	kube_fakeapi_put(E->f, "/api/v1/namespaces/tls/configmaps", cm_json("t", "x", "1"));
	kube_req_t req = {.verb = KUBE_GET, .res = &KUBE_RES_CONFIGMAPS, .ns = "tls", .name = "t"};
	/* an unrelated CA is rejected, and not retried */
	cfg.ca_file = (char *)kube_fakeapi_bad_ca_file(E->f);
	kube_client_t *c = client_with(&cfg, NULL);
	assert_int_equal(kube_do_sync(c, &req, &r), KUBE_ETLS);
	assert_int_equal(r.attempts, 1);
	kube_client_free(c);
	/* CA given as data works too */
	FILE *fp = fopen(kube_fakeapi_ca_file(E->f), "r");
	char pem[8192];
	size_t n = fread(pem, 1, sizeof(pem), fp);
	fclose(fp);
	cfg.ca_file = NULL;
	cfg.ca_pem = pem;
	cfg.ca_pem_len = n;
	/* rotating token file: the server switches tokens; a 401 makes the client re-read */
	char tokpath[300];
	snprintf(tokpath, sizeof(tokpath), "%s/token", kube_fakeapi_dir(E->f));
	write_file(tokpath, "old-token\n");
	cfg.token_file = tokpath;
	kube_fakeapi_set_token(E->f, "old-token");
	c = client_with(&cfg, NULL);
	assert_int_equal(kube_do_sync(c, &req, &r), 0);
	kube_result_clear(&r);
	write_file(tokpath, "new-token\n");
	kube_fakeapi_set_token(E->f, "new-token");
	unsigned before = kube_fakeapi_count(E->f, "GET", "/tls/configmaps/t");
	assert_int_equal(kube_do_sync(c, &req, &r), 0);
	assert_int_equal(r.attempts, 2);
	assert_int_equal(kube_fakeapi_count(E->f, "GET", "/tls/configmaps/t") - before, 2);
	kube_result_clear(&r);
	/* a wrong token that stays wrong: 401 to the caller after one re-read */
	kube_fakeapi_set_token(E->f, "someone-else");
	assert_int_equal(kube_do_sync(c, &req, &r), KUBE_EAPI);
	assert_int_equal(r.status.code, 401);
	kube_result_clear(&r);
	kube_fakeapi_set_token(E->f, NULL);
	kube_client_free(c);
	/* client certificates, as files and as PEM data: they load and the
	 * handshake goes through (the fake does not ask for a client certificate,
	 * so their verification by a server is not covered here) */
	cfg = E->cfg;
	char crt[300], key[300];
	snprintf(crt, sizeof(crt), "%s/srv.crt", kube_fakeapi_dir(E->f));
	snprintf(key, sizeof(key), "%s/srv.key", kube_fakeapi_dir(E->f));
	cfg.cert_file = crt;
	cfg.key_file = key;
	c = client_with(&cfg, NULL);
	assert_int_equal(kube_do_sync(c, &req, &r), 0);
	kube_result_clear(&r);
	kube_client_free(c);
	char cpem[4096], kpem[4096];
	fp = fopen(crt, "r");
	size_t cn = fread(cpem, 1, sizeof(cpem), fp);
	fclose(fp);
	fp = fopen(key, "r");
	size_t kn = fread(kpem, 1, sizeof(kpem), fp);
	fclose(fp);
	cfg.cert_file = cfg.key_file = NULL;
	cfg.cert_pem = cpem;
	cfg.cert_pem_len = cn;
	cfg.key_pem = kpem;
	cfg.key_pem_len = kn;
	c = client_with(&cfg, NULL);
	assert_int_equal(kube_do_sync(c, &req, &r), 0);
	kube_result_clear(&r);
	kube_client_free(c);
	/* insecure-skip-tls-verify */
	cfg = E->cfg;
	cfg.ca_file = NULL;
	cfg.insecure = true;
	c = client_with(&cfg, NULL);
	assert_int_equal(kube_do_sync(c, &req, &r), 0);
	kube_result_clear(&r);
	kube_client_free(c);
}

static void small_body(kube_client_opts_t *o)
{
	o->max_body = 512;
}

static void test_body_cap_and_scrape(void **state)
{
	kube_result_t r;
	char err[256];
	(void)state;
	for (int i = 0; i < 20; i++) {
		char n[16];
		snprintf(n, sizeof(n), "c%d", i);
		kube_fakeapi_put(E->f, "/api/v1/namespaces/cap/configmaps", cm_json(n, "x", "1"));
	}
	kube_client_t *c = client_with(&E->cfg, small_body);
	kube_req_t req = {.verb = KUBE_LIST, .res = &KUBE_RES_CONFIGMAPS, .ns = "cap"};
	assert_int_equal(kube_do_sync(c, &req, &r), KUBE_ETOOBIG);
	assert_non_null(strstr(r.errmsg, "too large"));
	assert_int_equal(r.attempts, 1);
	kube_client_free(c);
	/* a plain HTTP GET on the same loop (as the controller's scrapes) */
	char url[256];
	long status;
	char *body = NULL;
	size_t len;
	snprintf(url, sizeof(url), "%s/api/v1/namespaces/cap/configmaps/c1",
	         kube_fakeapi_url(E->f));
	kube_http_opts_t ho = {.url = url,
	                       .ca_file = kube_fakeapi_ca_file(E->f),
	                       .timeout_ms = 5000,
	                       .max_body = 4096};
	assert_int_equal(kube_http_get_sync(E->loop, &ho, &status, &body, &len, err, sizeof(err)),
	                 0);
	assert_int_equal(status, 200);
	assert_non_null(strstr(body, "\"c1\""));
	free(body);
	ho.max_body = 10;
	assert_int_equal(kube_http_get_sync(E->loop, &ho, &status, &body, &len, err, sizeof(err)),
	                 KUBE_ETOOBIG);
	free(body);
	/* connection refused is a transport error */
	ho.url = "http://127.4.255.254:1/metrics";
	ho.max_body = 0;
	assert_int_equal(kube_http_get_sync(E->loop, &ho, &status, &body, &len, err, sizeof(err)),
	                 KUBE_ETRANSPORT);
	free(body);
}

static void short_timeout(kube_client_opts_t *o)
{
	o->timeout_ms = 300;
	o->backoff.max_retries = 1;
}

static void limited(kube_client_opts_t *o)
{
	o->qps = 10;
	o->burst = 1;
}

static void test_timeout_and_ratelimit(void **state)
{
	kube_result_t r;
	(void)state;
	kube_fakeapi_put(E->f, "/api/v1/namespaces/slow/configmaps", cm_json("s", "x", "1"));
	kube_client_t *c = client_with(&E->cfg, short_timeout);
	kube_req_t req = {.verb = KUBE_GET, .res = &KUBE_RES_CONFIGMAPS, .ns = "slow", .name = "s"};
	/* both attempts hang past the timeout */
	kube_fakeapi_delay(E->f, "GET", "/slow/configmaps/s", 1500, 2);
	assert_int_equal(kube_do_sync(c, &req, &r), KUBE_ETIMEOUT);
	assert_int_equal(r.attempts, 2);
	assert_non_null(strstr(r.errmsg, "/slow/configmaps/s"));
	/* a per-request timeout overrides the client's */
	kube_client_free(c);
	c = client_with(&E->cfg, NULL); /* 30 s default */
	req.timeout_ms = 300;
	kube_fakeapi_delay(E->f, "GET", "/slow/configmaps/s", 1500, 6);
	int64_t t1 = base_now_ms();
	assert_int_equal(kube_do_sync(c, &req, &r), KUBE_ETIMEOUT);
	assert_true(base_now_ms() - t1 < 15000);
	kube_fakeapi_clear_faults(E->f);
	req.timeout_ms = 0;
	kube_client_free(c);
	c = client_with(&E->cfg, short_timeout);
	/* one slow answer, then a quick one: the retry saves it */
	kube_fakeapi_delay(E->f, "GET", "/slow/configmaps/s", 1500, 1);
	assert_int_equal(kube_do_sync(c, &req, &r), 0);
	assert_int_equal(r.attempts, 2);
	kube_result_clear(&r);
	kube_client_free(c);
	/* 10 qps, burst 1: five requests need at least 400 ms */
	c = client_with(&E->cfg, limited);
	int64_t t0 = base_now_ms();
	waiter_t w[5];
	memset(w, 0, sizeof(w));
	for (int i = 0; i < 5; i++)
		assert_int_equal(kube_do(c, &req, waiter_cb, &w[i], NULL), 0);
	for (int i = 0; i < 5; i++) {
		WAIT_FOR(w[i].done);
		assert_int_equal(w[i].res.err, 0);
		kube_result_clear(&w[i].res);
	}
	assert_true(base_now_ms() - t0 >= 390);
	kube_client_free(c);
}

/* ---- informer ---- */

typedef struct {
	int adds, updates, deletes, syncs, resyncs;
	char last_deleted[64];
	kube_informer_t *inf;
	bool free_on_delete;
} counts_t;

static void h_add(const cJSON *o, void *arg)
{
	(void)o;
	((counts_t *)arg)->adds++;
}
static void h_update(const cJSON *a, const cJSON *b, void *arg)
{
	counts_t *c = arg;
	if (a == b)
		c->resyncs++;
	else
		c->updates++;
}
static void h_delete(const cJSON *o, void *arg)
{
	counts_t *c = arg;
	c->deletes++;
	snprintf(c->last_deleted, sizeof(c->last_deleted), "%s", kube_obj_name(o));
	if (c->free_on_delete) {
		kube_informer_free(c->inf);
		c->inf = NULL;
	}
}
static void h_synced(void *arg)
{
	((counts_t *)arg)->syncs++;
}

static const kube_informer_handlers_t handlers = {h_add, h_update, h_delete, h_synced};

static void test_informer_watch_relist(void **state)
{
	char err[256];
	counts_t k = {0};
	kube_informer_stats_t st;
	const char *coll = "/api/v1/namespaces/inf/configmaps";
	(void)state;
	for (int i = 0; i < 5; i++) {
		char n[16];
		snprintf(n, sizeof(n), "m%d", i);
		kube_fakeapi_put(E->f, coll, cm_json(n, i == 4 ? "no" : "yes", "0"));
	}
	kube_client_t *c = client_with(&E->cfg, NULL);
	kube_informer_opts_t o = {.res = &KUBE_RES_CONFIGMAPS,
	                          .ns = "inf",
	                          .label_selector = "app=yes",
	                          .page_size = 2,
	                          .resync_ms = 300};
	kube_informer_t *inf = kube_informer_new(c, &o, &handlers, &k, err, sizeof(err));
	assert_non_null(inf);
	assert_int_equal(kube_informer_start(inf), 0);
	assert_int_equal(kube_informer_start(inf), KUBE_ESTATE);
	WAIT_FOR(kube_informer_synced(inf));
	assert_int_equal(k.adds, 4);
	assert_int_equal(kube_informer_count(inf), 4);
	assert_non_null(kube_informer_get(inf, "inf", "m0"));
	assert_null(kube_informer_get(inf, "inf", "m4"));
	WAIT_FOR(kube_fakeapi_watchers(E->f) >= 1);
	/* events arrive split into 7-byte chunks */
	kube_fakeapi_set_watch_chunk(E->f, 7);
	kube_fakeapi_put(E->f, coll, cm_json("m0", "yes", "changed"));
	kube_fakeapi_put(E->f, coll, cm_json("m9", "yes", "new"));
	kube_fakeapi_delete(E->f, coll, "m1");
	kube_fakeapi_put(E->f, coll, cm_json("m8", "no", "ignored"));
	WAIT_FOR(k.deletes == 1 && k.adds == 5 && k.updates == 1);
	assert_string_equal(k.last_deleted, "m1");
	const cJSON *m0 = kube_informer_get(inf, "inf", "m0");
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(m0, "data"), "v")->valuestring,
	                    "changed");
	kube_fakeapi_set_watch_chunk(E->f, 0);
	/* resync replays updates with old == new */
	WAIT_FOR(k.resyncs >= 4);
	/* a dropped stream: changes made meanwhile are found by the relist */
	kube_informer_stats(inf, &st);
	unsigned lists = st.lists;
	kube_fakeapi_fault(E->f, "GET", "/inf/configmaps", 503, -1,
	                   1); /* the relist stumbles once */
	kube_fakeapi_drop_watches(E->f);
	kube_fakeapi_delete(E->f, coll, "m2");
	kube_fakeapi_put(E->f, coll, cm_json("m3", "yes", "during-drop"));
	WAIT_FOR(k.deletes == 2);
	WAIT_FOR(k.updates >= 2);
	kube_informer_stats(inf, &st);
	assert_true(st.lists >= lists + 1);
	assert_true(st.errors >= 1);
	assert_int_equal(kube_informer_count(inf), 3); /* m0 m3 m9 */
	/* 410: compaction expires the open watch (ERROR 410 in the stream); the
	 * informer relists and sees the delete made after it */
	WAIT_FOR(kube_fakeapi_watchers(E->f) >= 1);
	kube_informer_stats(inf, &st);
	unsigned r410 = st.relists_410;
	kube_fakeapi_put(E->f, coll, cm_json("m7", "yes", "before-compact"));
	WAIT_FOR(kube_informer_get(inf, "inf", "m7") != NULL);
	kube_fakeapi_compact(E->f);
	kube_fakeapi_delete(E->f, coll, "m7");
	WAIT_FOR(k.deletes == 3);
	kube_informer_stats(inf, &st);
	assert_true(st.relists_410 > r410);
	assert_true(k.syncs >= 3);
	/* freeing from inside a handler is safe */
	k.inf = inf;
	k.free_on_delete = true;
	kube_fakeapi_delete(E->f, coll, "m9");
	WAIT_FOR(k.inf == NULL);
	kube_client_free(c);
}

struct self_cancel {
	kube_call_t *call;
	int calls;
};

static void self_cancel_cb(kube_result_t *res, void *arg)
{
	struct self_cancel *s = arg;
	(void)res;
	s->calls++;
	kube_call_cancel(s->call); /* too late: a no-op, not a double free */
}

static void test_cancel_in_callback(void **state)
{
	struct self_cancel s = {NULL, 0};
	(void)state;
	kube_client_t *c = client_with(&E->cfg, NULL);
	assert_int_equal(
	        kube_get(c, &KUBE_RES_CONFIGMAPS, "none", "x", self_cancel_cb, &s, &s.call), 0);
	WAIT_FOR(s.calls == 1);
	for (int i = 0; i < 3; i++)
		kube_loop_run_once(E->loop, 10);
	assert_int_equal(s.calls, 1);
	kube_client_free(c);
}

static void test_watch_410(void **state)
{
	waiter_t w = {0};
	const char *coll = "/api/v1/namespaces/gone/configmaps";
	char rv0[32];
	(void)state;
	snprintf(rv0, sizeof(rv0), "%llu", (unsigned long long)kube_fakeapi_rv(E->f));
	kube_fakeapi_put(E->f, coll, cm_json("a", "x", "1"));
	kube_fakeapi_put(E->f, coll, cm_json("b", "x", "1"));
	kube_client_t *c = client_with(&E->cfg, NULL);
	/* a watch from rv0 replays what happened since */
	kube_list_opts_t lo = {.resource_version = rv0, .timeout_s = 1};
	assert_int_equal(
	        kube_watch(c, &KUBE_RES_CONFIGMAPS, "gone", &lo, waiter_ev, waiter_cb, &w, NULL),
	        0);
	WAIT_FOR(w.done);
	assert_int_equal(w.res.err, 0); /* server timeout: a clean end */
	assert_int_equal(w.events, 2);
	/* after compaction the same watch gets ERROR 410 in the stream */
	kube_fakeapi_compact(E->f);
	memset(&w, 0, sizeof(w));
	assert_int_equal(
	        kube_watch(c, &KUBE_RES_CONFIGMAPS, "gone", &lo, waiter_ev, waiter_cb, &w, NULL),
	        0);
	WAIT_FOR(w.done);
	assert_int_equal(w.res.err, KUBE_EAPI);
	assert_int_equal(w.res.status.code, 410);
	assert_string_equal(w.res.status.reason, "Expired");
	assert_int_equal(w.events, 0);
	/* cancelling a watch: no callback afterwards */
	memset(&w, 0, sizeof(w));
	kube_call_t *call = NULL;
	lo.resource_version = NULL;
	lo.timeout_s = 60;
	assert_int_equal(
	        kube_watch(c, &KUBE_RES_CONFIGMAPS, "gone", &lo, waiter_ev, waiter_cb, &w, &call),
	        0);
	WAIT_FOR(kube_fakeapi_watchers(E->f) >= 1);
	kube_call_cancel(call);
	for (int i = 0; i < 5; i++)
		kube_loop_run_once(E->loop, 20);
	assert_false(w.done);
	kube_client_free(c);
}

static void run_wait(kube_client_t *c, waiter_t *w)
{
	(void)c;
	WAIT_FOR(w->done);
}

static void test_events_scale_lease(void **state)
{
	char err[128];
	waiter_t w;
	(void)state;
	kube_client_t *c = client_with(&E->cfg, NULL);
	kube_event_t ev = {.ns = "mcp",
	                   .kind = "ConfigMap",
	                   .api_version = "v1",
	                   .name = "pol",
	                   .type = "Warning",
	                   .reason = "InvalidPolicy",
	                   .note = "maxReplicas: required"};
	/* events.k8s.io present: used */
	unsigned v1 = kube_fakeapi_count(E->f, "POST", "/apis/events.k8s.io/");
	unsigned core = kube_fakeapi_count(E->f, "POST", "/api/v1/namespaces/mcp/events");
	memset(&w, 0, sizeof(w));
	assert_int_equal(kube_event_create(c, &ev, waiter_cb, &w, NULL), 0);
	run_wait(c, &w);
	assert_int_equal(w.res.err, 0);
	assert_string_equal(cJSON_GetObjectItem(w.res.obj, "note")->valuestring,
	                    "maxReplicas: required");
	kube_result_clear(&w.res);
	assert_int_equal(kube_fakeapi_count(E->f, "POST", "/apis/events.k8s.io/"), v1 + 1);
	kube_client_free(c);
	/* group missing: one 404, then core/v1 for good */
	kube_fakeapi_set_events_v1(E->f, false);
	c = client_with(&E->cfg, NULL);
	for (int i = 0; i < 2; i++) {
		memset(&w, 0, sizeof(w));
		assert_int_equal(kube_event_create(c, &ev, waiter_cb, &w, NULL), 0);
		run_wait(c, &w);
		assert_int_equal(w.res.err, 0);
		assert_string_equal(cJSON_GetObjectItem(w.res.obj, "message")->valuestring,
		                    "maxReplicas: required");
		kube_result_clear(&w.res);
	}
	assert_int_equal(kube_fakeapi_count(E->f, "POST", "/apis/events.k8s.io/"), v1 + 2);
	assert_int_equal(kube_fakeapi_count(E->f, "POST", "/api/v1/namespaces/mcp/events"),
	                 core + 2);
	kube_fakeapi_set_events_v1(E->f, true);
	/* a bad event is refused before sending */
	ev.type = "Loud";
	assert_int_equal(kube_event_create(c, &ev, waiter_cb, &w, NULL), KUBE_EINVAL);

	/* /scale keeps replicas: 0 */
	kube_fakeapi_put(E->f, "/apis/apps/v1/namespaces/mcp/deployments",
	                 "{\"metadata\":{\"name\":\"worker\"},\"spec\":{\"replicas\":0}}");
	kube_scale_t sc;
	memset(&w, 0, sizeof(w));
	assert_int_equal(kube_scale_get(c, "mcp", "worker", waiter_cb, &w, NULL), 0);
	run_wait(c, &w);
	assert_int_equal(w.res.err, 0);
	assert_int_equal(kube_scale_decode(w.res.obj, &sc, err, sizeof(err)), 0);
	assert_true(sc.has_spec_replicas);
	assert_int_equal(sc.spec_replicas, 0);
	kube_result_clear(&w.res);
	memset(&w, 0, sizeof(w));
	assert_int_equal(kube_scale_patch(c, "mcp", "worker", 5, waiter_cb, &w, NULL), 0);
	run_wait(c, &w);
	assert_int_equal(kube_scale_decode(w.res.obj, &sc, err, sizeof(err)), 0);
	assert_int_equal(sc.spec_replicas, 5);
	kube_result_clear(&w.res);
	assert_int_equal(kube_scale_patch(c, "mcp", "worker", -1, waiter_cb, &w, NULL),
	                 KUBE_EINVAL);
	/* annotation patch */
	memset(&w, 0, sizeof(w));
	assert_int_equal(kube_patch_annotation(c, &KUBE_RES_DEPLOYMENTS, "mcp", "worker",
	                                       "mcp-autoscaler.io/status", "{\"a\":1}", waiter_cb,
	                                       &w, NULL),
	                 0);
	run_wait(c, &w);
	assert_int_equal(w.res.err, 0);
	const cJSON *ann =
	        cJSON_GetObjectItem(cJSON_GetObjectItem(w.res.obj, "metadata"), "annotations");
	assert_string_equal(cJSON_GetObjectItem(ann, "mcp-autoscaler.io/status")->valuestring,
	                    "{\"a\":1}");
	assert_int_equal(
	        cJSON_GetObjectItem(cJSON_GetObjectItem(w.res.obj, "spec"), "replicas")->valueint,
	        5);
	kube_result_clear(&w.res);

	/* Leases: create, update with rv, stale update gets 409 */
	kube_lease_t l;
	memset(&l, 0, sizeof(l));
	snprintf(l.name, sizeof(l.name), "mcp-autoscaler");
	snprintf(l.ns, sizeof(l.ns), "mcp");
	l.has_holder = true;
	snprintf(l.holder, sizeof(l.holder), "a");
	l.has_duration = true;
	l.duration_s = 15;
	assert_int_equal(kube_lease_update(c, &l, waiter_cb, &w, NULL), KUBE_EINVAL); /* no rv */
	memset(&w, 0, sizeof(w));
	assert_int_equal(kube_lease_create(c, &l, waiter_cb, &w, NULL), 0);
	run_wait(c, &w);
	assert_int_equal(w.res.err, 0);
	kube_lease_t got;
	assert_int_equal(kube_lease_decode(w.res.obj, &got, err, sizeof(err)), 0);
	kube_result_clear(&w.res);
	assert_true(got.has_duration);
	assert_int_equal(got.duration_s, 15);
	char stale[64];
	snprintf(stale, sizeof(stale), "%s", got.resource_version);
	snprintf(got.holder, sizeof(got.holder), "b");
	memset(&w, 0, sizeof(w));
	assert_int_equal(kube_lease_update(c, &got, waiter_cb, &w, NULL), 0);
	run_wait(c, &w);
	assert_int_equal(w.res.err, 0);
	kube_result_clear(&w.res);
	memset(&w, 0, sizeof(w));
	assert_int_equal(kube_lease_update(c, &got, waiter_cb, &w, NULL),
	                 0); /* same, now stale rv */
	run_wait(c, &w);
	assert_int_equal(w.res.err, KUBE_EAPI);
	assert_int_equal(w.res.status.code, 409);
	kube_result_clear(&w.res);
	memset(&w, 0, sizeof(w));
	assert_int_equal(kube_lease_get(c, "mcp", "mcp-autoscaler", waiter_cb, &w, NULL), 0);
	run_wait(c, &w);
	assert_int_equal(kube_lease_decode(w.res.obj, &got, err, sizeof(err)), 0);
	assert_string_equal(got.holder, "b");
	assert_string_not_equal(got.resource_version, stale);
	kube_result_clear(&w.res);
	/* cancel before the answer: the callback never runs */
	memset(&w, 0, sizeof(w));
	kube_call_t *call = NULL;
	assert_int_equal(kube_lease_get(c, "mcp", "mcp-autoscaler", waiter_cb, &w, &call), 0);
	kube_call_cancel(call);
	for (int i = 0; i < 5; i++)
		kube_loop_run_once(E->loop, 20);
	assert_false(w.done);
	/* free with calls in flight: no callbacks, no leaks */
	assert_int_equal(kube_lease_get(c, "mcp", "mcp-autoscaler", waiter_cb, &w, NULL), 0);
	kube_client_free(c);
	for (int i = 0; i < 5; i++)
		kube_loop_run_once(E->loop, 20);
	assert_false(w.done);
}

int main(void)
{
	const struct CMUnitTest pure[] = {
	        cmocka_unit_test(test_kubeconfig_fixtures),
	        cmocka_unit_test(test_kubeconfig_garbage),
	        cmocka_unit_test(test_kubeconfig_merge),
	        cmocka_unit_test(test_in_cluster),
	        cmocka_unit_test(test_base64),
	        cmocka_unit_test(test_selectors),
	        cmocka_unit_test(test_status_decode),
	        cmocka_unit_test(test_backoff),
	        cmocka_unit_test(test_retry_policy),
	        cmocka_unit_test(test_ratelimit),
	        cmocka_unit_test(test_watch_decoder_splits),
	        cmocka_unit_test(test_watch_decoder_errors),
	        cmocka_unit_test(test_store),
	        cmocka_unit_test(test_paths),
	        cmocka_unit_test(test_objects),
	        cmocka_unit_test(test_loop_timers_fds),
	};
	const struct CMUnitTest fake[] = {
	        cmocka_unit_test(test_crud_paging),
	        cmocka_unit_test(test_retry_after_and_backoff),
	        cmocka_unit_test(test_tls_and_tokens),
	        cmocka_unit_test(test_body_cap_and_scrape),
	        cmocka_unit_test(test_timeout_and_ratelimit),
	        cmocka_unit_test(test_informer_watch_relist),
	        cmocka_unit_test(test_watch_410),
	        cmocka_unit_test(test_cancel_in_callback),
	        cmocka_unit_test(test_events_scale_lease),
	};
	int rc;
	base_log_set_level(BASE_LOG_ERROR);
	if (group_tmp_setup() != 0)
		return 1;
	rc = cmocka_run_group_tests_name("kube", pure, NULL, NULL);
	rc |= cmocka_run_group_tests_name("kube_fakeapi", fake, fake_setup, fake_teardown);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
	return rc;
}

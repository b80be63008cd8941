/* cmocka group: controller internals (apply planning, status annotation,
 * pod parsing and scrape aggregation, concurrent scrapes, Lease decisions,
 * the decision log line, the controller's own metrics). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../../controller/apply.h"
#include "../../controller/cpu.h"
#include "../../controller/ctlmetrics.h"
#include "../../controller/leader.h"
#include "../../controller/scrape.h"
#include "base/log.h"
#include "httpd/httpd.h"
#include "kube/loop.h"

static autoscale_policy_t policy(int32_t min, int32_t max, int32_t pmin, int32_t pmax)
{
	autoscale_policy_t p;
	memset(&p, 0, sizeof(p));
	p.min_replicas = min;
	p.max_replicas = max;
	p.pool_min_size = pmin;
	p.pool_max_size = pmax;
	return p;
}

typedef struct {
	const char *name;
	int32_t cur_rep, cur_pool;
	bool pool_exists;
	int32_t want_rep, want_pool;
	bool paused;
	int nwrites;
	ctl_write_t w0, w1;
	int32_t rep, pool;
	bool create;
	const char *kind;
} plan_case_t;

static void test_plan_table(void **state)
{
	(void)state;
	static const plan_case_t cases[] = {
	        {"nothing changed: no write", 3, 8, true, 3, 8, false, 0, 0, 0, 3, 8, false,
	         "hold"},
	        {"grow: pool first, then replicas", 3, 8, true, 6, 16, false, 2, CTL_WRITE_POOL,
	         CTL_WRITE_SCALE, 6, 16, false, "scale_up"},
	        {"shrink: replicas first, then pool", 6, 16, true, 3, 8, false, 2, CTL_WRITE_SCALE,
	         CTL_WRITE_POOL, 3, 8, false, "scale_down"},
	        {"pool only", 3, 8, true, 3, 12, false, 1, CTL_WRITE_POOL, 0, 3, 12, false,
	         "pool_resize"},
	        {"replicas only", 3, 8, true, 4, 8, false, 1, CTL_WRITE_SCALE, 0, 4, 8, false,
	         "scale_up"},
	        {"absent pool ConfigMap is created", 3, 0, false, 3, 8, false, 1, CTL_WRITE_POOL, 0,
	         3, 8, true, "pool_resize"},
	        {"clamped to maxReplicas", 3, 8, true, 50, 8, false, 1, CTL_WRITE_SCALE, 0, 10, 8,
	         false, "scale_up"},
	        {"clamped to minReplicas", 3, 8, true, 0, 8, false, 1, CTL_WRITE_SCALE, 0, 2, 8,
	         false, "scale_down"},
	        {"outside range is brought back", 40, 8, true, 40, 8, false, 1, CTL_WRITE_SCALE, 0,
	         10, 8, false, "scale_down"},
	        {"pool clamped to its bounds", 3, 8, true, 3, 99, false, 1, CTL_WRITE_POOL, 0, 3,
	         32, false, "pool_resize"},
	        {"paused: nothing", 3, 8, true, 6, 16, true, 0, 0, 0, 3, 8, false, "hold"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const plan_case_t *c = &cases[i];
		autoscale_policy_t pol = policy(2, 10, 1, 32);
		pol.paused = c->paused;
		autoscale_decision_t d;
		memset(&d, 0, sizeof(d));
		d.desired_replicas = c->want_rep;
		d.desired_pool_size = c->want_pool;
		ctl_plan_t pl;
		ctl_plan_make(&pol, &d, c->cur_rep, c->pool_exists, c->cur_pool, &pl);
		if (pl.nwrites != c->nwrites)
			fail_msg("%s: %d writes, want %d", c->name, pl.nwrites, c->nwrites);
		if (c->nwrites > 0 && pl.writes[0] != c->w0)
			fail_msg("%s: first write %d", c->name, pl.writes[0]);
		if (c->nwrites > 1 && pl.writes[1] != c->w1)
			fail_msg("%s: second write %d", c->name, pl.writes[1]);
		if (pl.replicas != c->rep || pl.pool_size != c->pool)
			fail_msg("%s: replicas %d pool %d", c->name, pl.replicas, pl.pool_size);
		if (pl.pool_create != c->create)
			fail_msg("%s: pool_create %d", c->name, pl.pool_create);
		if (strcmp(pl.kind, c->kind) != 0)
			fail_msg("%s: kind %s", c->name, pl.kind);
		assert_true(pl.replicas >= 2 && pl.replicas <= 10);
	}
}

static void test_status_json_decision(void **state)
{
	(void)state;
	autoscale_decision_t d;
	memset(&d, 0, sizeof(d));
	d.desired_replicas = 6;
	d.desired_pool_size = 16;
	snprintf(d.reason, sizeof(d.reason), "p99_latency 812ms above target 500ms");
	d.metrics[AUTOSCALE_M_P99_LATENCY].configured = true;
	d.metrics[AUTOSCALE_M_P99_LATENCY].valid = true;
	d.metrics[AUTOSCALE_M_P99_LATENCY].value = 0.812;
	d.metrics[AUTOSCALE_M_P99_LATENCY].target = 0.5;
	d.metrics[AUTOSCALE_M_QUEUE_LENGTH].configured = true;
	d.metrics[AUTOSCALE_M_QUEUE_LENGTH].valid = false;
	d.metrics[AUTOSCALE_M_QUEUE_LENGTH].target = 2;
	snprintf(d.metrics[AUTOSCALE_M_QUEUE_LENGTH].error, 160, "no pods");
	const char *types[] = {"AbleToScale", "ScalingActive", "ScalingLimited"};
	for (int i = 0; i < 3; i++) {
		d.conditions[i].type = types[i];
		d.conditions[i].status = i != 2;
		snprintf(d.conditions[i].reason, sizeof(d.conditions[i].reason), "R%d", i);
	}
	ctl_status_t s = {0};
	s.valid = true;
	s.has_decision = true;
	s.d = &d;
	s.current_replicas = 3;
	s.current_pool = 8;
	s.pods = 3;
	s.pods_with_metrics = 3;
	s.last_scale_time = 1796400000.5;
	char *js = ctl_status_json(&s);
	assert_non_null(js);
	cJSON *o = cJSON_Parse(js);
	assert_non_null(o);
	assert_int_equal(cJSON_GetObjectItem(o, "currentReplicas")->valueint, 3);
	assert_int_equal(cJSON_GetObjectItem(o, "desiredReplicas")->valueint, 6);
	assert_int_equal(cJSON_GetObjectItem(o, "currentPoolSize")->valueint, 8);
	assert_int_equal(cJSON_GetObjectItem(o, "desiredPoolSize")->valueint, 16);
	assert_string_equal(cJSON_GetObjectItem(o, "lastScaleTime")->valuestring,
	                    "2026-12-04T16:00:00Z");
	cJSON *ms = cJSON_GetObjectItem(o, "metrics");
	assert_int_equal(cJSON_GetArraySize(ms), 2);
	cJSON *q = cJSON_GetArrayItem(ms, 0);
	assert_string_equal(cJSON_GetObjectItem(q, "name")->valuestring, "queue_length");
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(q, "current")));
	assert_string_equal(cJSON_GetObjectItem(q, "error")->valuestring, "no pods");
	cJSON *l = cJSON_GetArrayItem(ms, 1);
	assert_true(fabs(cJSON_GetObjectItem(l, "current")->valuedouble - 0.812) < 1e-9);
	cJSON *cs = cJSON_GetObjectItem(o, "conditions");
	assert_int_equal(cJSON_GetArraySize(cs), 3);
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(cs, 2), "status")->valuestring,
	                    "False");
	cJSON_Delete(o);
	free(js);
}

static void test_status_json_invalid(void **state)
{
	(void)state;
	ctl_status_t s = {0};
	s.valid = false;
	s.error = "maxReplicas: required";
	s.error_reason = "InvalidPolicy";
	char *js = ctl_status_json(&s);
	cJSON *o = cJSON_Parse(js);
	assert_non_null(o);
	assert_true(cJSON_IsFalse(cJSON_GetObjectItem(o, "policyValid")));
	assert_string_equal(cJSON_GetObjectItem(o, "error")->valuestring, "maxReplicas: required");
	cJSON *act = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "conditions"), 1);
	assert_string_equal(cJSON_GetObjectItem(act, "type")->valuestring, "ScalingActive");
	assert_string_equal(cJSON_GetObjectItem(act, "reason")->valuestring, "InvalidPolicy");
	assert_null(cJSON_GetObjectItem(o, "desiredReplicas"));
	cJSON_Delete(o);
	free(js);
}

static void test_parse_time(void **state)
{
	(void)state;
	double t;
	assert_int_equal(ctl_parse_time("2026-12-04T16:00:00Z", &t), 0);
	assert_true(t == 1796400000.0);
	assert_int_equal(ctl_parse_time("2026-12-04T16:00:00.250000Z", &t), 0);
	assert_true(fabs(t - 1796400000.25) < 1e-6);
	assert_int_equal(ctl_parse_time("2026-12-04T17:00:00+01:00", &t), 0);
	assert_true(t == 1796400000.0);
	assert_int_equal(ctl_parse_time("2026-12-04 16:00", &t), -1);
	assert_int_equal(ctl_parse_time("2026-13-04T16:00:00Z", &t), -1);
	assert_int_equal(ctl_parse_time("2026-12-04T16:00:00Zjunk", &t), -1);
	assert_int_equal(ctl_parse_time(NULL, &t), -1);
	char buf[40];
	assert_string_equal(ctl_format_time(1796400000.25, true, buf, sizeof(buf)),
	                    "2026-12-04T16:00:00.250000Z");
}

static const char *POD_READY =
        "{\"metadata\":{\"name\":\"w-a\"},\"status\":{\"phase\":\"Running\",\"podIP\":\"10.0.0.1\","
        "\"startTime\":\"2026-12-04T16:00:00Z\",\"conditions\":[{\"type\":\"Ready\",\"status\":"
        "\"True\",\"lastTransitionTime\":\"2026-12-04T16:00:10Z\"}]}}";
static const char *POD_UNREADY =
        "{\"metadata\":{\"name\":\"w-b\"},\"status\":{\"phase\":\"Running\",\"podIP\":\"10.0.0.2\","
        "\"conditions\":[{\"type\":\"Ready\",\"status\":\"False\"}]}}";
static const char *POD_DELETING =
        "{\"metadata\":{\"name\":\"w-c\",\"deletionTimestamp\":\"2026-12-04T16:00:00Z\"},"
        "\"status\":{\"phase\":\"Running\",\"podIP\":\"10.0.0.3\",\"conditions\":[{\"type\":"
        "\"Ready\",\"status\":\"True\"}]}}";
static const char *POD_PENDING = "{\"metadata\":{\"name\":\"w-d\"},\"status\":{}}";
static const char *POD_READY2 =
        "{\"metadata\":{\"name\":\"w-e\"},\"status\":{\"phase\":\"Running\",\"podIP\":\"10.0.0.5\","
        "\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}}";

/* ---- CPU: quantities, requests, PodMetrics, aggregation ---- */

#define POD_REQ(reqs, init)                                                                        \
	"{\"metadata\":{\"name\":\"w-x\"},\"spec\":{\"containers\":[" reqs "]" init "}}"
#define CTR(n, cpu) "{\"name\":\"" n "\",\"resources\":{\"requests\":{\"cpu\":" cpu "}}}"

static void test_cpu_pod_requests(void **state)
{
	(void)state;
	static const struct {
		const char *pod;
		int rc;
		int64_t milli;
		const char *err;
	} rows[] = {
	        {POD_REQ(CTR("a", "\"250m\""), ""), 0, 250, NULL},
	        {POD_REQ(CTR("a", "\"250m\"") "," CTR("b", "\"1\""), ""), 0, 1250, NULL},
	        {POD_REQ(CTR("a", "0.5"), ""), 0, 500, NULL}, /* a JSON number is a quantity too */
	        /* a sidecar (restartable init container) counts, a plain init container not */
	        {POD_REQ(CTR("a", "\"100m\""),
	                 ",\"initContainers\":[{\"name\":\"s\",\"restartPolicy\":\"Always\","
	                 "\"resources\":{\"requests\":{\"cpu\":\"50m\"}}},{\"name\":\"i\"}]"),
	         0, 150, NULL},
	        {POD_REQ("{\"name\":\"a\"}", ""), -1, 0,
	         "missing request for cpu in container a of Pod w-x"},
	        {POD_REQ(CTR("a", "\"100m\"") ",{\"name\":\"b\",\"resources\":{\"requests\":{"
	                                      "\"memory\":\"1Gi\"}}}",
	                 ""),
	         -1, 0, "missing request for cpu in container b of Pod w-x"},
	        {POD_REQ(CTR("a", "\"0\""), ""), -1, 0, "missing request for cpu"},
	        {POD_REQ(CTR("a", "\"lots\""), ""), -1, 0,
	         "container a of Pod w-x: resources.requests.cpu: quantity \"lots\": no number"},
	        {POD_REQ(CTR("a", "\"-1\""), ""), -1, 0, "negative"},
	        {POD_REQ(CTR("a", "true"), ""), -1, 0, "not a string"},
	        {"{\"metadata\":{\"name\":\"w-x\"},\"spec\":{}}", -1, 0, "no containers"},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		cJSON *o = cJSON_Parse(rows[i].pod);
		int64_t m = -1;
		char err[256] = "";
		assert_non_null(o);
		int rc = ctl_pod_cpu_request(o, &m, err, sizeof(err));
		cJSON_Delete(o);
		if (rc != rows[i].rc || (rc == 0 && m != rows[i].milli) ||
		    (rows[i].err && !strstr(err, rows[i].err)))
			fail_msg("row %zu: rc %d milli %lld err \"%s\"", i, rc, (long long)m, err);
	}
}

#define PM(name, ctrs)                                                                             \
	"{\"metadata\":{\"name\":\"" name "\",\"namespace\":\"mcp\"},"                             \
	"\"timestamp\":\"2026-12-04T16:00:10Z\",\"window\":\"15.5s\",\"containers\":[" ctrs "]}"
#define USE(n, cpu) "{\"name\":\"" n "\",\"usage\":{\"cpu\":\"" cpu "\",\"memory\":\"10Mi\"}}"

static void test_cpu_podmetrics_and_apply(void **state)
{
	(void)state;
	const char *list =
	        "{\"kind\":\"PodMetricsList\",\"apiVersion\":\"metrics.k8s.io/v1beta1\","
	        "\"items\":[" PM("w-b", USE("w", "1500000n") "," USE("side", "12345u")) "," PM(
	                "w-a", USE("w", "250m")) "," PM("w-c", "") "," PM("w-d",
	                                                                  "{\"name\":\"w\","
	                                                                  "\"usage\":{\"memory\":"
	                                                                  "\"1Mi\"}}") "]}";
	cJSON *o = cJSON_Parse(list);
	ctl_cpu_sample_t *v;
	size_t n;
	char err[256];
	assert_non_null(o);
	assert_int_equal(ctl_podmetrics_parse(o, &v, &n, err, sizeof(err)), 0);
	cJSON_Delete(o);
	/* w-c (no containers) and w-d (no cpu) are missing, the rest sorted */
	assert_int_equal(n, 2);
	assert_string_equal(v[0].name, "w-a");
	assert_int_equal(v[0].cpu_milli, 250);
	assert_string_equal(v[1].name, "w-b");
	assert_int_equal(v[1].cpu_milli, 2 + 13);
	assert_true(v[1].has_window);
	assert_true(v[1].window == 15.5);
	double ts;
	assert_int_equal(ctl_parse_time("2026-12-04T16:00:10Z", &ts), 0);
	assert_true(v[1].timestamp == ts);

	/* the decision's pods: w-a and w-b get CPU with their requests, w-c none */
	ctl_pod_t pods[3];
	memset(pods, 0, sizeof(pods));
	const char *names[3] = {"w-b", "w-c", "w-a"};
	for (int i = 0; i < 3; i++) {
		snprintf(pods[i].name, sizeof(pods[i].name), "%s", names[i]);
		pods[i].phase = AUTOSCALE_POD_RUNNING;
		pods[i].ready = true;
		pods[i].cpu_request_milli = 100 * (i + 1);
	}
	autoscale_pod_t in[3];
	ctl_scrape_build_input(pods, 3, NULL, 0, in);
	assert_int_equal(ctl_cpu_apply(pods, 3, v, n, in), 2);
	assert_true(in[0].metrics.has_cpu && in[0].metrics.cpu_millicores == 15 &&
	            in[0].metrics.cpu_request_millicores == 100 && in[0].metrics.has_cpu_window);
	assert_false(in[1].metrics.has_cpu);
	assert_true(in[2].metrics.has_cpu && in[2].metrics.cpu_millicores == 250 &&
	            in[2].metrics.cpu_request_millicores == 300);
	assert_false(in[0].has_metrics); /* no scrape: only CPU */
	assert_int_equal(ctl_cpu_apply(pods, 3, NULL, 0, in), 0);
	free(v);

	/* a single PodMetrics works too; an empty list gives no samples */
	o = cJSON_Parse("{\"kind\":\"PodMetrics\",\"metadata\":{\"name\":\"w-z\"},"
	                "\"containers\":[" USE("w", "1") "]}");
	assert_int_equal(ctl_podmetrics_parse(o, &v, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_int_equal(v[0].cpu_milli, 1000);
	free(v);
	cJSON_Delete(o);
	o = cJSON_Parse("{\"kind\":\"PodMetricsList\",\"items\":[]}");
	assert_int_equal(ctl_podmetrics_parse(o, &v, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 0);
	assert_null(v);
	cJSON_Delete(o);

	/* garbage fails the whole list with an error naming it */
	static const struct {
		const char *body, *err;
	} bad[] = {
	        {"{\"kind\":\"Status\"}", "not a PodMetricsList"},
	        {"{\"items\":[" PM("w-a", USE("w", "fast")) "]}",
	         "PodMetrics w-a container w: usage.cpu: quantity \"fast\": no number"},
	        {"{\"items\":[" PM("w-a", USE("w", "-5m")) "]}", "negative usage.cpu"},
	        {"{\"items\":[{\"metadata\":{},\"containers\":[]}]}", "no metadata.name"},
	        {"{\"items\":[{\"metadata\":{\"name\":\"x\"},\"timestamp\":\"yesterday\"}]}",
	         "timestamp"},
	        {"{\"items\":[{\"metadata\":{\"name\":\"x\"},\"window\":\"5 seconds\"}]}",
	         "window"},
	        {"{\"items\":[{\"metadata\":{\"name\":\"x\"},\"containers\":{}}]}", "not a list"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		o = cJSON_Parse(bad[i].body);
		assert_non_null(o);
		err[0] = '\0';
		assert_int_equal(ctl_podmetrics_parse(o, &v, &n, err, sizeof(err)), -1);
		if (!strstr(err, bad[i].err))
			fail_msg("bad %zu: error \"%s\", want \"%s\"", i, err, bad[i].err);
		assert_null(v);
		cJSON_Delete(o);
	}
}

static void test_pod_parse_and_aggregate(void **state)
{
	(void)state;
	const char *src[] = {POD_READY, POD_UNREADY, POD_DELETING, POD_PENDING, POD_READY2};
	ctl_pod_t pods[5];
	for (int i = 0; i < 5; i++) {
		cJSON *o = cJSON_Parse(src[i]);
		assert_int_equal(ctl_pod_parse(o, &pods[i]), 0);
		cJSON_Delete(o);
	}
	assert_true(pods[0].ready && pods[0].has_start_time && pods[0].has_ready_transition);
	assert_true(pods[0].ready_transition_time - pods[0].start_time == 10.0);
	assert_true(ctl_pod_scrapable(&pods[0]));
	assert_false(ctl_pod_scrapable(&pods[1]));
	assert_true(pods[2].deleted);
	assert_false(ctl_pod_scrapable(&pods[2]));
	assert_int_equal(pods[3].phase, AUTOSCALE_POD_PENDING);
	assert_false(ctl_pod_scrapable(&pods[3]));
	assert_true(ctl_pod_scrapable(&pods[4]));
	cJSON *noname = cJSON_Parse("{\"metadata\":{}}");
	ctl_pod_t x;
	assert_int_equal(ctl_pod_parse(noname, &x), -1);
	cJSON_Delete(noname);

	/* Two scrapable pods: the first scrape worked, the second failed. */
	ctl_scrape_result_t res[2];
	memset(res, 0, sizeof(res));
	res[0].kind = CTL_SCRAPE_OK;
	res[0].metrics.pool_size = 8;
	res[0].metrics.pool_in_use = 6;
	res[1].kind = CTL_SCRAPE_TIMEOUT;
	autoscale_pod_t in[5];
	assert_int_equal(ctl_scrape_build_input(pods, 5, res, 2, in), 1);
	assert_true(in[0].has_metrics);
	assert_true(in[0].metrics.pool_in_use == 6);
	assert_string_equal(in[0].name, "w-a");
	assert_false(in[1].has_metrics); /* unready: not scraped */
	assert_false(in[1].ready);
	assert_false(in[2].has_metrics);
	assert_true(in[2].deleted);
	assert_false(in[3].has_metrics);
	assert_false(in[4].has_metrics); /* scrape failed: missing */
	assert_true(in[4].ready);
}

/* ---- concurrent scrapes against a local server ---- */

static const char *GOOD = "mcp_pool_size 8\n"
                          "mcp_pool_connections{state=\"in_use\"} 5\n"
                          "mcp_pool_waiters 2\n";

static void h_good(void *ctx, const char *path, httpd_reply_t *r)
{
	(void)ctx;
	(void)path;
	base_buf_appends(&r->body, GOOD);
}

static void h_bad(void *ctx, const char *path, httpd_reply_t *r)
{
	(void)ctx;
	(void)path;
	base_buf_appends(&r->body, "mcp_pool_size eight\n");
}

static void h_big(void *ctx, const char *path, httpd_reply_t *r)
{
	(void)ctx;
	(void)path;
	for (int i = 0; i < 4000; i++)
		base_buf_appends(&r->body, "# padding padding padding padding\n");
	base_buf_appends(&r->body, GOOD);
}

static void scraped(ctl_scrape_t *s, void *arg)
{
	(void)s;
	*(int *)arg += 1;
}

static void test_scrape_concurrent(void **state)
{
	(void)state;
	char err[256];
	httpd_t *h = NULL;
	assert_int_equal(httpd_new("127.0.0.1:0", &h, err, sizeof(err)), 0);
	httpd_route(h, "/metrics", h_good, NULL);
	httpd_route(h, "/bad", h_bad, NULL);
	httpd_route(h, "/big", h_big, NULL);
	assert_int_equal(httpd_start(h, err, sizeof(err)), 0);
	int port = httpd_port(h);
	char u[8][128];
	const char *paths[] = {"/metrics", "/bad", "/big", "/missing", "/metrics"};
	for (int i = 0; i < 5; i++)
		snprintf(u[i], sizeof(u[i]), "http://127.0.0.1:%d%s", port, paths[i]);
	snprintf(u[5], sizeof(u[5]), "http://127.0.0.1:1/metrics"); /* refused */
	const char *urls[6];
	for (int i = 0; i < 6; i++)
		urls[i] = u[i];
	kube_loop_t *loop = kube_loop_new(err, sizeof(err));
	assert_non_null(loop);
	ctl_metrics_t *m = ctl_metrics_new();
	int done = 0;
	ctl_scrape_opts_t o = {2000, 16384, 2}; /* concurrency 2: exercises the queue */
	ctl_scrape_t *s = ctl_scrape_start(loop, urls, 6, &o, m, scraped, &done);
	assert_non_null(s);
	assert_int_equal(done, 0); /* never from inside start */
	for (int i = 0; i < 200 && !done; i++)
		kube_loop_run_once(loop, 50);
	assert_int_equal(done, 1);
	size_t n;
	const ctl_scrape_result_t *r = ctl_scrape_results(s, &n);
	assert_int_equal(n, 6);
	assert_int_equal(r[0].kind, CTL_SCRAPE_OK);
	assert_true(r[0].metrics.pool_in_use == 5 && r[0].metrics.waiters == 2);
	assert_int_equal(r[1].kind, CTL_SCRAPE_PARSE);
	assert_int_equal(r[2].kind, CTL_SCRAPE_TOOBIG);
	assert_int_equal(r[3].kind, CTL_SCRAPE_HTTP);
	assert_int_equal(r[4].kind, CTL_SCRAPE_OK);
	assert_int_equal(r[5].kind, CTL_SCRAPE_TRANSPORT);
	assert_non_null(strstr(r[5].error, "127.0.0.1:1"));
	assert_int_equal(ctl_scrape_failures(s), 4);
	ctl_scrape_free(s);

	/* Nothing to scrape: done still comes, from the loop. */
	done = 0;
	s = ctl_scrape_start(loop, NULL, 0, NULL, m, scraped, &done);
	assert_int_equal(done, 0);
	for (int i = 0; i < 20 && !done; i++)
		kube_loop_run_once(loop, 10);
	assert_int_equal(done, 1);
	ctl_scrape_free(s);

	base_buf_t b;
	base_buf_init(&b, 1 << 20);
	assert_int_equal(ctl_metrics_render(m, &b), 0);
	assert_non_null(strstr(b.data, "mcp_autoscaler_scrapes_total{result=\"ok\"} 2\n"));
	assert_non_null(strstr(b.data, "mcp_autoscaler_scrape_errors_total 4\n"));
	base_buf_free(&b);
	ctl_metrics_free(m);
	kube_loop_free(loop);
	httpd_free(h);
}

static void test_lease_try(void **state)
{
	(void)state;
	ctl_lease_rec_t old, next;
	memset(&old, 0, sizeof(old));
	/* No Lease yet: create it, 0 transitions. */
	assert_true(ctl_lease_try(&old, false, false, "a", 15, 1796400000.0, &next));
	assert_string_equal(next.holder, "a");
	assert_int_equal(next.transitions, 0);
	assert_int_equal(next.duration_s, 15);
	assert_string_equal(next.acquire_time, "2026-12-04T16:00:00.000000Z");
	assert_string_equal(next.renew_time, next.acquire_time);
	/* Held by b, still valid: refused. */
	old = next;
	snprintf(old.holder, sizeof(old.holder), "b");
	old.transitions = 3;
	assert_false(ctl_lease_try(&old, true, true, "a", 15, 1796400005.0, &next));
	/* Held by b, expired by local observation: taken over, transition counted. */
	assert_true(ctl_lease_try(&old, true, false, "a", 15, 1796400020.0, &next));
	assert_int_equal(next.transitions, 4);
	assert_string_equal(next.acquire_time, "2026-12-04T16:00:20.000000Z");
	/* Renewal by the holder keeps acquireTime and transitions. */
	old = next;
	assert_true(ctl_lease_try(&old, true, true, "a", 15, 1796400022.0, &next));
	assert_int_equal(next.transitions, 4);
	assert_string_equal(next.acquire_time, "2026-12-04T16:00:20.000000Z");
	assert_string_equal(next.renew_time, "2026-12-04T16:00:22.000000Z");
	/* Released (empty holder) is free at once, even if "valid". */
	memset(&old, 0, sizeof(old));
	old.transitions = 4;
	old.duration_s = 1;
	assert_true(ctl_lease_try(&old, true, true, "b", 15, 1796400030.0, &next));
	assert_int_equal(next.transitions, 5);

	/* Round trip through the JSON form. */
	cJSON *obj = cJSON_CreateObject();
	assert_int_equal(ctl_lease_write(obj, &next), 0);
	ctl_lease_rec_t back;
	ctl_lease_read(obj, &back);
	assert_string_equal(back.holder, "b");
	assert_int_equal(back.transitions, 5);
	assert_int_equal(back.duration_s, 15);
	assert_string_equal(back.renew_time, next.renew_time);
	cJSON_Delete(obj);
}

static size_t rec(char *buf, size_t cap, const char *event, ...)
{
	va_list ap;
	va_start(ap, event);
	size_t n = base_log_format_record(buf, cap, BASE_LOG_LOGFMT, BASE_LOG_INFO, event, ap);
	va_end(ap);
	return n;
}

static void test_decision_line_shape(void **state)
{
	(void)state;
	char line[512];
	rec(line, sizeof(line), NULL, "policy", "mcp/worker", "event", "scale", "replicas", "3->6",
	    "pool", "8->16", "reason", "p99_latency 812ms above target 500ms", (char *)NULL);
	const char *want = " level=info policy=mcp/worker event=scale replicas=3->6 pool=8->16 "
	                   "reason=\"p99_latency 812ms above target 500ms\"";
	assert_non_null(strstr(line, want));
	assert_true(strncmp(line, "ts=", 3) == 0);
}

static void test_metrics_render(void **state)
{
	(void)state;
	ctl_metrics_t *m = ctl_metrics_new();
	ctl_metrics_reconcile(m, 0.02);
	ctl_metrics_reconcile(m, 3);
	ctl_metrics_decision(m, "scale_up");
	ctl_metrics_decision(m, "scale_up");
	ctl_metrics_api(m, "patch", 409);
	ctl_metrics_api(m, "get", 0);
	ctl_metrics_set_leader(m, true);
	base_buf_t b;
	base_buf_init(&b, 1 << 20);
	assert_int_equal(ctl_metrics_render(m, &b), 0);
	assert_non_null(strstr(
	        b.data, "mcp_autoscaler_reconcile_duration_seconds_bucket{le=\"0.025\"} 1\n"));
	assert_non_null(strstr(
	        b.data, "mcp_autoscaler_reconcile_duration_seconds_bucket{le=\"+Inf\"} 2\n"));
	assert_non_null(strstr(b.data, "mcp_autoscaler_decisions_total{kind=\"scale_up\"} 2\n"));
	assert_non_null(strstr(
	        b.data, "mcp_autoscaler_api_requests_total{verb=\"patch\",code=\"409\"} 1\n"));
	assert_non_null(
	        strstr(b.data, "mcp_autoscaler_api_requests_total{verb=\"get\",code=\"0\"} 1\n"));
	assert_non_null(strstr(b.data, "mcp_autoscaler_leader 1\n"));
	/* Our own exposition parses with our own strict parser. */
	assert_int_equal(prom_parse(b.data, b.len, 0, NULL, NULL, NULL, 0), 0);
	base_buf_free(&b);
	ctl_metrics_free(m);
	ctl_metrics_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_plan_table),
	        cmocka_unit_test(test_status_json_decision),
	        cmocka_unit_test(test_status_json_invalid),
	        cmocka_unit_test(test_parse_time),
	        cmocka_unit_test(test_pod_parse_and_aggregate),
	        cmocka_unit_test(test_cpu_pod_requests),
	        cmocka_unit_test(test_cpu_podmetrics_and_apply),
	        cmocka_unit_test(test_scrape_concurrent),
	        cmocka_unit_test(test_lease_try),
	        cmocka_unit_test(test_decision_line_shape),
	        cmocka_unit_test(test_metrics_render),
	};
	return cmocka_run_group_tests_name("controller", tests, NULL, NULL);
}

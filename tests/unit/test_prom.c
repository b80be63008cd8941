/* cmocka group: pkg/prom (text-format parser, worker extraction, histogram_quantile). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prom/prom.h"

typedef struct {
	char name[64];
	char labels[256]; /* "k=v,k=v" */
	double value;
	bool has_ts;
	int64_t ts;
	prom_type_t type;
} got_t;

typedef struct {
	got_t v[64];
	size_t n;
} gots_t;

static int collect(const prom_sample_t *s, void *ud)
{
	gots_t *g = ud;
	got_t *x;
	size_t off = 0;
	if (g->n == 64)
		return 1;
	x = &g->v[g->n++];
	snprintf(x->name, sizeof(x->name), "%s", s->name);
	x->labels[0] = '\0';
	for (size_t i = 0; i < s->nlabels; i++) {
		int w = snprintf(x->labels + off, sizeof(x->labels) - off, "%s%s=%s", i ? "," : "",
		                 s->labels[i].name, s->labels[i].value);
		if (w > 0 && (size_t)w < sizeof(x->labels) - off)
			off += (size_t)w;
	}
	x->value = s->value;
	x->has_ts = s->has_timestamp;
	x->ts = s->timestamp_ms;
	x->type = s->type;
	return 0;
}

static const char fixture[] = "# HELP mcp_pool_size Connections the pool runs.\n"
                              "# TYPE mcp_pool_size gauge\n"
                              "mcp_pool_size 8\n"
                              "# A free comment line\n"
                              "\n"
                              "# TYPE mcp_request_duration_seconds histogram\n"
                              "mcp_request_duration_seconds_bucket{le=\"0.001\"} 10\n"
                              "mcp_request_duration_seconds_bucket{le=\"+Inf\"} 60 1700000000123\n"
                              "mcp_request_duration_seconds_sum 1.5e-1\n"
                              "mcp_request_duration_seconds_count 60\n"
                              "weird{a=\"x\\\"y\\\\z\\nw\", b = \"\" ,} -Inf\n"
                              "nanval NaN\n"
                              "plus{le=\"1\"}\t+Inf\t-5\n"
                              "trailing_no_newline 3";

static void test_parse_fixture(void **state)
{
	gots_t g = {.n = 0};
	char err[256];
	(void)state;
	assert_int_equal(prom_parse(fixture, strlen(fixture), 0, collect, &g, err, sizeof(err)), 0);
	assert_int_equal(g.n, 9);
	assert_string_equal(g.v[0].name, "mcp_pool_size");
	assert_true(g.v[0].value == 8);
	assert_int_equal(g.v[0].type, PROM_GAUGE);
	assert_string_equal(g.v[1].labels, "le=0.001");
	assert_int_equal(g.v[1].type, PROM_HISTOGRAM);
	assert_true(isinf(g.v[2].value) == 0 && g.v[2].value == 60);
	assert_true(g.v[2].has_ts);
	assert_true(g.v[2].ts == 1700000000123LL);
	assert_true(fabs(g.v[3].value - 0.15) < 1e-12);
	assert_int_equal(g.v[4].type, PROM_HISTOGRAM);
	assert_string_equal(g.v[5].labels, "a=x\"y\\z\nw,b=");
	assert_true(isinf(g.v[5].value) && g.v[5].value < 0);
	assert_int_equal(g.v[5].type, PROM_UNTYPED);
	assert_true(isnan(g.v[6].value));
	assert_true(isinf(g.v[7].value) && g.v[7].value > 0);
	assert_true(g.v[7].ts == -5);
	assert_true(g.v[8].value == 3);
}

static const struct {
	const char *body;
	int rc;
	const char *msg; /* substring of err */
} bad_rows[] = {
        {"a 1\nb{x=\"1} 2\n", PROM_ESYNTAX, "line 2: label x: unterminated"},
        {"a{x=1} 2\n", PROM_ESYNTAX, "line 1: label x: value must be quoted"},
        {"a{x=\"\\t\"} 2\n", PROM_ESYNTAX, "invalid escape \\t"},
        {"a{x=\"1\",x=\"2\"} 2\n", PROM_ESYNTAX, "duplicate label x"},
        {"a{1x=\"1\"} 2\n", PROM_ESYNTAX, "invalid label name"},
        {"a{x=\"1\" y=\"2\"} 2\n", PROM_ESYNTAX, "expected ',' or '}'"},
        {"a\n", PROM_ESYNTAX, "line 1: sample: missing value"},
        {"a \n", PROM_ESYNTAX, "missing value"},
        {"a 1x\n", PROM_ESYNTAX, "invalid value \"1x\""},
        {"a 0x10\n", PROM_ESYNTAX, "invalid value"},
        {"a nan(1)\n", PROM_ESYNTAX, "invalid value"},
        {"a 1 2.5\n", PROM_ESYNTAX, "invalid timestamp"},
        {"a 1 2 3\n", PROM_ESYNTAX, "unexpected text after the timestamp"},
        {"9a 1\n", PROM_ESYNTAX, "expected a metric name"},
        {"a-b 1\n", PROM_ESYNTAX, "invalid character '-'"},
        {"# TYPE a gauge\n# TYPE a counter\n", PROM_ESYNTAX, "line 2: second TYPE for a"},
        {"# TYPE a gauges\n", PROM_ESYNTAX, "unknown type \"gauges\""},
        {"# TYPE a\n", PROM_ESYNTAX, "unknown type"},
        {"# TYPE a gauge extra\n", PROM_ESYNTAX, "unexpected text after the type"},
        {"a 1\n# TYPE a gauge\n", PROM_ESYNTAX, "TYPE for a after its samples"},
        {"# HELP a x\n# HELP a y\n", PROM_ESYNTAX, "second HELP for a"},
        {"# HELP 1a x\n", PROM_ESYNTAX, "missing or invalid metric name"},
        {"a 1\r\n", PROM_ESYNTAX, "carriage return"},
};

static void test_parse_rejects(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_rows) / sizeof(bad_rows[0]); i++) {
		char err[256] = "";
		size_t len = strlen(bad_rows[i].body);
		int rc;
		rc = prom_parse(bad_rows[i].body, len, 0, NULL, NULL, err, sizeof(err));
		if (rc != bad_rows[i].rc || strstr(err, bad_rows[i].msg) == NULL)
			fail_msg("row %zu: %s -> rc %d err \"%s\", want %d \"%s\"", i,
			         bad_rows[i].body, rc, err, bad_rows[i].rc, bad_rows[i].msg);
	}
}

static void test_parse_caps(void **state)
{
	char err[128];
	char *big;
	size_t n = PROM_MAX_LINE + 10;
	(void)state;
	assert_int_equal(prom_parse("a 1\n", 4, 3, NULL, NULL, err, sizeof(err)), PROM_ETOOBIG);
	assert_non_null(strstr(err, "too large"));
	big = malloc(n + 1);
	assert_non_null(big);
	memset(big, 'a', n);
	big[n] = '\0';
	assert_int_equal(prom_parse(big, n, 0, NULL, NULL, err, sizeof(err)), PROM_ETOOBIG);
	assert_non_null(strstr(err, "line 1: too long"));
	free(big);
	assert_int_equal(prom_parse("", 0, 0, NULL, NULL, err, sizeof(err)), 0);
	/* a NUL byte inside a line */
	assert_int_equal(prom_parse("a{x=\"\0\"} 1\n", 11, 0, NULL, NULL, err, sizeof(err)),
	                 PROM_ESYNTAX);
	assert_non_null(strstr(err, "line 1: NUL byte"));
	assert_string_equal(prom_strerror(PROM_ETOOBIG), "too large");
}

static int stop_cb(const prom_sample_t *s, void *ud)
{
	(void)s;
	(void)ud;
	return 1;
}

static void test_parse_stop(void **state)
{
	char err[128];
	(void)state;
	assert_int_equal(prom_parse("a 1\nb 2\n", 8, 0, stop_cb, NULL, err, sizeof(err)),
	                 PROM_ESTOPPED);
}

static const char worker_body[] = "# TYPE mcp_pool_size gauge\nmcp_pool_size 8\n"
                                  "mcp_pool_target_size 10\n"
                                  "# TYPE mcp_pool_connections gauge\n"
                                  "mcp_pool_connections{state=\"idle\"} 2\n"
                                  "mcp_pool_connections{state=\"in_use\"} 6\n"
                                  "mcp_pool_connections{state=\"connecting\"} 0\n"
                                  "mcp_pool_waiters 3\n"
                                  "# TYPE mcp_request_duration_seconds histogram\n"
                                  "mcp_request_duration_seconds_bucket{le=\"0.005\"} 50\n"
                                  "mcp_request_duration_seconds_bucket{le=\"0.001\"} 10\n"
                                  "mcp_request_duration_seconds_bucket{le=\"+Inf\"} 60\n"
                                  "mcp_request_duration_seconds_sum 0.2\n"
                                  "mcp_request_duration_seconds_count 60\n"
                                  "mcp_requests_total{result=\"ok\"} 55\n"
                                  "mcp_requests_total{result=\"timeout\"} 5\n"
                                  "other_metric 1\n";

static void test_worker_extract(void **state)
{
	prom_worker_metrics_t m;
	char err[256];
	(void)state;
	assert_int_equal(
	        prom_worker_extract(worker_body, strlen(worker_body), 0, &m, err, sizeof(err)), 0);
	assert_true(m.pool_size == 8 && m.pool_in_use == 6 && m.waiters == 3);
	assert_true(m.has_pool_target_size && m.pool_target_size == 10);
	assert_int_equal(m.nbuckets, 3);
	assert_true(m.buckets[0].le == 0.001 && m.buckets[0].count == 10);
	assert_true(m.buckets[1].le == 0.005 && m.buckets[1].count == 50);
	assert_true(isinf(m.buckets[2].le) && m.buckets[2].count == 60);
	assert_true(m.has_latency_sum && m.latency_count == 60);
	assert_true(m.requests_total == 60);
	assert_false(m.has_cpu);
}

static const struct {
	const char *body;
	int rc;
	const char *msg;
} worker_bad[] = {
        {"mcp_pool_connections{state=\"in_use\"} 1\nmcp_pool_waiters 0\n", PROM_EMISSING,
         "mcp_pool_size missing"},
        {"mcp_pool_size 1\nmcp_pool_waiters 0\n", PROM_EMISSING, "in_use"},
        {"mcp_pool_size 1\nmcp_pool_connections{state=\"in_use\"} 1\n", PROM_EMISSING,
         "mcp_pool_waiters missing"},
        {"mcp_pool_size 1\nmcp_pool_size 2\n", PROM_EINVAL, "line 2: duplicate sample"},
        {"mcp_pool_size -1\n", PROM_EINVAL, "not a finite number >= 0"},
        {"mcp_pool_size NaN\n", PROM_EINVAL, "not a finite number"},
        {"mcp_pool_size 1\nmcp_pool_connections{state=\"in_use\"} 1\nmcp_pool_waiters 0\n"
         "mcp_request_duration_seconds_bucket{le=\"0.1\"} 1\n",
         PROM_EINVAL, "no le=\"+Inf\" bucket"},
        {"mcp_request_duration_seconds_bucket{le=\"x\"} 1\n", PROM_EINVAL, "is not a number"},
        {"mcp_request_duration_seconds_bucket 1\n", PROM_EINVAL, "without a valid le"},
        {"mcp_request_duration_seconds_bucket{le=\"1\"} 1\n"
         "mcp_request_duration_seconds_bucket{le=\"1.0\"} 1\n",
         PROM_EINVAL, "duplicate bucket"},
        {"mcp_pool_size 1 x\n", PROM_ESYNTAX, "line 1"},
};

static void test_worker_rejects(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(worker_bad) / sizeof(worker_bad[0]); i++) {
		prom_worker_metrics_t m;
		char err[256] = "";
		int rc = prom_worker_extract(worker_bad[i].body, strlen(worker_bad[i].body), 0, &m,
		                             err, sizeof(err));
		if (rc != worker_bad[i].rc || strstr(err, worker_bad[i].msg) == NULL)
			fail_msg("row %zu: rc %d err \"%s\", want %d \"%s\"", i, rc, err,
			         worker_bad[i].rc, worker_bad[i].msg);
	}
}

static void test_worker_too_many_buckets(void **state)
{
	char body[8192];
	size_t off = 0;
	prom_worker_metrics_t m;
	char err[256];
	(void)state;
	for (int i = 0; i < PROM_MAX_BUCKETS + 1; i++)
		off += (size_t)snprintf(body + off, sizeof(body) - off,
		                        "mcp_request_duration_seconds_bucket{le=\"%d\"} %d\n", i,
		                        i);
	assert_int_equal(prom_worker_extract(body, off, 0, &m, err, sizeof(err)), PROM_EINVAL);
	assert_non_null(strstr(err, "more than"));
}

/* A body captured from a running mcp-worker (devsim behind it, 600 requests). */
static const char real_worker_body[] =
        "# HELP mcp_pool_size Device connections open or opening.\n"
        "# TYPE mcp_pool_size gauge\n"
        "mcp_pool_size 4\n"
        "# HELP mcp_pool_target_size Pool size this worker was told to run.\n"
        "# TYPE mcp_pool_target_size gauge\n"
        "mcp_pool_target_size 4\n"
        "# HELP mcp_pool_connections Device connections by state.\n"
        "# TYPE mcp_pool_connections gauge\n"
        "mcp_pool_connections{state=\"idle\"} 4\n"
        "mcp_pool_connections{state=\"in_use\"} 0\n"
        "mcp_pool_connections{state=\"connecting\"} 0\n"
        "mcp_pool_connections{state=\"broken\"} 0\n"
        "# HELP mcp_pool_waiters Requests queued for a device connection.\n"
        "# TYPE mcp_pool_waiters gauge\n"
        "mcp_pool_waiters 0\n"
        "# HELP mcp_request_duration_seconds Request time, queue wait plus device time.\n"
        "# TYPE mcp_request_duration_seconds histogram\n"
        "mcp_request_duration_seconds_bucket{le=\"0.0005\"} 0\n"
        "mcp_request_duration_seconds_bucket{le=\"0.001\"} 0\n"
        "mcp_request_duration_seconds_bucket{le=\"0.0025\"} 536\n"
        "mcp_request_duration_seconds_bucket{le=\"0.005\"} 587\n"
        "mcp_request_duration_seconds_bucket{le=\"0.01\"} 596\n"
        "mcp_request_duration_seconds_bucket{le=\"0.025\"} 600\n"
        "mcp_request_duration_seconds_bucket{le=\"0.05\"} 600\n"
        "mcp_request_duration_seconds_bucket{le=\"0.1\"} 600\n"
        "mcp_request_duration_seconds_bucket{le=\"0.25\"} 600\n"
        "mcp_request_duration_seconds_bucket{le=\"0.5\"} 600\n"
        "mcp_request_duration_seconds_bucket{le=\"1\"} 600\n"
        "mcp_request_duration_seconds_bucket{le=\"2.5\"} 600\n"
        "mcp_request_duration_seconds_bucket{le=\"5\"} 600\n"
        "mcp_request_duration_seconds_bucket{le=\"+Inf\"} 600\n"
        "mcp_request_duration_seconds_sum 1.480118876\n"
        "mcp_request_duration_seconds_count 600\n"
        "# HELP mcp_requests_total Requests answered, by result.\n"
        "# TYPE mcp_requests_total counter\n"
        "mcp_requests_total{result=\"ok\"} 600\n"
        "mcp_requests_total{result=\"exception\"} 0\n"
        "mcp_requests_total{result=\"timeout\"} 0\n"
        "mcp_requests_total{result=\"busy\"} 0\n"
        "mcp_requests_total{result=\"unavailable\"} 0\n"
        "# HELP mcp_client_connections Modbus client connections open.\n"
        "# TYPE mcp_client_connections gauge\n"
        "mcp_client_connections 0\n"
        "# HELP mcp_device_up 1 when a device connection is open and the breaker closed.\n"
        "# TYPE mcp_device_up gauge\n"
        "mcp_device_up 1\n"
        "# HELP mcp_pool_breaker_open 1 while the circuit breaker is open.\n"
        "# TYPE mcp_pool_breaker_open gauge\n"
        "mcp_pool_breaker_open 0\n"
        "# HELP mcp_client_malformed_total Clients closed for a malformed frame.\n"
        "# TYPE mcp_client_malformed_total counter\n"
        "mcp_client_malformed_total 0\n"
        "# HELP mcp_client_accepted_total Client connections accepted.\n"
        "# TYPE mcp_client_accepted_total counter\n"
        "mcp_client_accepted_total 8\n"
        "# HELP mcp_client_retired_total Clients closed for reaching --max-client-age.\n"
        "# TYPE mcp_client_retired_total counter\n"
        "mcp_client_retired_total 0\n"
        "# HELP mcp_pool_connects_total Device connections opened.\n"
        "# TYPE mcp_pool_connects_total counter\n"
        "mcp_pool_connects_total 4\n"
        "# HELP mcp_pool_connect_failures_total Device connection attempts that failed.\n"
        "# TYPE mcp_pool_connect_failures_total counter\n"
        "mcp_pool_connect_failures_total 0\n";

static void test_worker_real_body(void **state)
{
	prom_worker_metrics_t m;
	char err[256];
	prom_bucket_t b[PROM_MAX_BUCKETS];
	(void)state;
	assert_int_equal(prom_worker_extract(real_worker_body, strlen(real_worker_body), 0, &m, err,
	                                     sizeof(err)),
	                 0);
	assert_true(m.pool_size == 4 && m.pool_in_use == 0 && m.waiters == 0);
	assert_int_equal(m.nbuckets, 14);
	assert_true(m.buckets[13].count == 600 && m.latency_count == 600);
	assert_true(m.requests_total == 600);
	memcpy(b, m.buckets, sizeof(b));
	/* rank 594 lies in (0.005, 0.01]: 0.005 + 0.005 x (594 - 587) / 9 */
	assert_true(fabs(prom_histogram_quantile(0.99, b, m.nbuckets) -
	                 (0.005 + 0.005 * 7.0 / 9.0)) < 1e-12);
}

#define INF INFINITY
static const struct {
	double q;
	size_t n;
	prom_bucket_t b[6];
	double want; /* NAN: expect NaN */
} quantile_rows[] = {
        /* linear interpolation inside the first bucket, which starts at 0 */
        {0.5, 3, {{1, 10}, {2, 20}, {INF, 20}}, 1.0},
        {0.25, 3, {{1, 10}, {2, 20}, {INF, 20}}, 0.5},
        /* interpolation in a middle bucket */
        {0.75, 4, {{0.1, 0}, {0.2, 50}, {0.5, 100}, {INF, 100}}, 0.35},
        /* rank in the +Inf bucket: the highest finite bound */
        {0.9, 2, {{1, 5}, {INF, 10}}, 1.0},
        {0.99, 3, {{0.5, 1}, {5, 2}, {INF, 100}}, 5.0},
        /* lowest bucket with a bound <= 0 returns the bound */
        {0.2, 3, {{0, 5}, {1, 10}, {INF, 10}}, 0.0},
        /* non-monotonic counts are raised to monotonic */
        {0.5, 3, {{1, 10}, {2, 8}, {INF, 12}}, 0.6},
        /* unsorted input, equal bounds merged */
        {0.5, 4, {{INF, 20}, {1, 5}, {1, 5}, {2, 20}}, 1.0},
        /* no +Inf bucket, no observations, a single bucket: NaN */
        {0.5, 2, {{1, 10}, {2, 20}}, NAN},
        {0.5, 2, {{1, 0}, {INF, 0}}, NAN},
        {0.5, 1, {{INF, 10}}, NAN},
        /* q out of range */
        {-0.1, 2, {{1, 5}, {INF, 10}}, -INF},
        {1.1, 2, {{1, 5}, {INF, 10}}, INF},
        {NAN, 2, {{1, 5}, {INF, 10}}, NAN},
        /* q = 1 and q = 0 */
        {1.0, 3, {{1, 5}, {2, 10}, {INF, 10}}, 2.0},
        {0.0, 3, {{1, 5}, {2, 10}, {INF, 10}}, 0.0},
};

static void test_histogram_quantile(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(quantile_rows) / sizeof(quantile_rows[0]); i++) {
		prom_bucket_t b[6];
		double got;
		memcpy(b, quantile_rows[i].b, sizeof(b));
		got = prom_histogram_quantile(quantile_rows[i].q, b, quantile_rows[i].n);
		if (isnan(quantile_rows[i].want)) {
			if (!isnan(got))
				fail_msg("row %zu: got %g, want NaN", i, got);
		} else if (isinf(quantile_rows[i].want)) {
			if (got != quantile_rows[i].want)
				fail_msg("row %zu: got %g, want %g", i, got, quantile_rows[i].want);
		} else if (!(fabs(got - quantile_rows[i].want) < 1e-9)) {
			fail_msg("row %zu: got %.12g, want %g", i, got, quantile_rows[i].want);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_parse_fixture),
	        cmocka_unit_test(test_parse_rejects),
	        cmocka_unit_test(test_parse_caps),
	        cmocka_unit_test(test_parse_stop),
	        cmocka_unit_test(test_worker_extract),
	        cmocka_unit_test(test_worker_rejects),
	        cmocka_unit_test(test_worker_too_many_buckets),
	        cmocka_unit_test(test_worker_real_body),
	        cmocka_unit_test(test_histogram_quantile),
	};
	return cmocka_run_group_tests_name("prom", tests, NULL, NULL);
}

/* cmocka group: pkg/base (log, clock, buf, opt). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base64.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/opt.h"

static size_t fmt_rec(char *buf, size_t cap, base_log_format_t f, const char *event, ...)
{
	va_list ap;
	size_t n;
	va_start(ap, event);
	n = base_log_format_record(buf, cap, f, BASE_LOG_WARN, event, ap);
	va_end(ap);
	return n;
}

static void test_log_logfmt_quotes(void **state)
{
	char line[512];
	(void)state;
	fmt_rec(line, sizeof(line), BASE_LOG_LOGFMT, "scale", "policy", "mcp/worker", "reason",
	        "p99 \"812ms\" above", "empty", "", (char *)NULL);
	assert_non_null(strstr(line, " level=warn event=scale policy=mcp/worker "));
	assert_non_null(strstr(line, "reason=\"p99 \\\"812ms\\\" above\""));
	assert_non_null(strstr(line, "empty=\"\""));
	assert_true(strncmp(line, "ts=20", 5) == 0);
}

static void test_log_json(void **state)
{
	char line[512];
	(void)state;
	fmt_rec(line, sizeof(line), BASE_LOG_JSON, "ev", "k", "a\nb\x01", (char *)NULL);
	assert_int_equal(line[0], '{');
	assert_int_equal(line[strlen(line) - 1], '}');
	assert_non_null(strstr(line, "\"event\":\"ev\",\"k\":\"a\\nb\\u0001\""));
}

static void test_log_truncates(void **state)
{
	char line[64];
	char big[300];
	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	size_t n = fmt_rec(line, sizeof(line), BASE_LOG_LOGFMT, "e", "k", big, (char *)NULL);
	assert_true(n < sizeof(line));
	assert_int_equal(strlen(line), n);
}

static void test_log_parse(void **state)
{
	base_log_level_t l;
	base_log_format_t f;
	(void)state;
	assert_int_equal(base_log_parse_level("debug", &l), 0);
	assert_int_equal(l, BASE_LOG_DEBUG);
	assert_int_equal(base_log_parse_level("loud", &l), -1);
	assert_int_equal(base_log_parse_format("json", &f), 0);
	assert_int_equal(f, BASE_LOG_JSON);
	assert_int_equal(base_log_parse_format("xml", &f), -1);
	/* base_log_setup: both or nothing */
	base_log_set_level(BASE_LOG_INFO);
	assert_int_equal(base_log_setup("error", "xml", NULL), -1);
	assert_int_equal(base_log_get_level(), BASE_LOG_INFO);
	assert_int_equal(base_log_setup("loud", "json", NULL), -1);
	assert_int_equal(base_log_get_level(), BASE_LOG_INFO);
	assert_int_equal(base_log_setup("warn", "logfmt", NULL), 0);
	assert_int_equal(base_log_get_level(), BASE_LOG_WARN);
	base_log_set_level(BASE_LOG_INFO);
}

static const struct {
	const char *in;
	int rc;
	int64_t ns;
} duration_cases[] = {
        {"0", 0, 0},
        {"500ms", 0, 500000000LL},
        {"15s", 0, 15000000000LL},
        {"2m", 0, 120000000000LL},
        {"1m30s", 0, 90000000000LL},
        {"1.5s", 0, 1500000000LL},
        {"250us", 0, 250000LL},
        {"1h", 0, 3600000000000LL},
        {"", -1, 0},
        {"15", -1, 0},
        {"15x", -1, 0},
        {"-1s", -1, 0},
        {"s", -1, 0},
        {"99999999999h", -1, 0},
};

static void test_clock_durations(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(duration_cases) / sizeof(duration_cases[0]); i++) {
		int64_t ns = -7;
		char err[128] = "";
		int rc = base_parse_duration_ns(duration_cases[i].in, &ns, err, sizeof(err));
		if (rc != duration_cases[i].rc)
			fail_msg("case %zu \"%s\": rc %d", i, duration_cases[i].in, rc);
		if (rc == 0)
			assert_int_equal(ns, duration_cases[i].ns);
		else
			assert_true(strlen(err) > 0);
	}
}

static void test_clock_monotonic(void **state)
{
	(void)state;
	int64_t a = base_now_ns();
	base_sleep_ms(2);
	int64_t b = base_now_ns();
	assert_true(b - a >= 2000000);
	char buf[32];
	assert_string_equal(base_format_duration_ms(250, buf, sizeof(buf)), "250ms");
	assert_string_equal(base_format_duration_ms(15000, buf, sizeof(buf)), "15s");
	assert_string_equal(base_format_duration_ms(90000, buf, sizeof(buf)), "1m30s");
	assert_string_equal(base_format_rfc3339(0, buf, sizeof(buf)), "1970-01-01T00:00:00Z");
}

static void test_buf_cap(void **state)
{
	base_buf_t b;
	(void)state;
	base_buf_init(&b, 10);
	assert_int_equal(base_buf_appends(&b, "hello"), 0);
	assert_int_equal(base_buf_appends(&b, "world"), 0);
	assert_int_equal(base_buf_appends(&b, "!"), BASE_ETOOBIG);
	assert_int_equal(b.len, 10);
	assert_string_equal(b.data, "helloworld");
	base_buf_consume(&b, 5);
	assert_string_equal(b.data, "world");
	assert_int_equal(base_buf_printf(&b, "%d", 12345), 0);
	assert_int_equal(base_buf_printf(&b, "%d", 1), BASE_ETOOBIG);
	assert_string_equal(b.data, "world12345");
	size_t n;
	char *p = base_buf_take(&b, &n);
	assert_int_equal(n, 10);
	assert_null(b.data);
	free(p);
	base_buf_free(&b);
	base_buf_free(NULL);
	assert_string_equal(base_strerror(BASE_ETOOBIG), "too large");
}

static void test_buf_overflow_size(void **state)
{
	base_buf_t b;
	(void)state;
	base_buf_init(&b, SIZE_MAX);
	assert_int_equal(base_buf_appends(&b, "x"), 0);
	assert_int_equal(base_buf_append(&b, "y", SIZE_MAX), BASE_ETOOBIG);
	base_buf_free(&b);
}

typedef struct {
	long long n;
	double ratio;
	int64_t timeout_ms;
	bool verbose;
	char name[8];
	char addr[32];
	char mode[8];
} cfg_t;

static const base_opt_t cfg_opts[] = {
        {"n", BASE_OPT_INT, offsetof(cfg_t, n), sizeof(long long), 1, 100, "4", "TEST_N", NULL,
         "count"},
        {"ratio", BASE_OPT_DOUBLE, offsetof(cfg_t, ratio), sizeof(double), 0, 1, "0.5", NULL, NULL,
         "r"},
        {"timeout", BASE_OPT_DURATION, offsetof(cfg_t, timeout_ms), sizeof(int64_t), 1, 60000, "1s",
         NULL, NULL, "t"},
        {"verbose", BASE_OPT_BOOL, offsetof(cfg_t, verbose), sizeof(bool), 0, 0, "false", NULL,
         NULL, "v"},
        {"name", BASE_OPT_STRING, offsetof(cfg_t, name), 8, 0, 0, "abc", NULL, NULL, "nm"},
        {"addr", BASE_OPT_HOSTPORT, offsetof(cfg_t, addr), 32, 0, 0, "127.0.0.1:502", NULL, NULL,
         "a"},
        {"mode", BASE_OPT_ENUM, offsetof(cfg_t, mode), 8, 0, 0, "fast", NULL, "fast|slow", "m"},
        BASE_OPT_END,
};

static const struct {
	const char *args[4];
	int rc;
	const char *err_has;
} argv_cases[] = {
        {{"--n=7"}, 0, NULL},
        {{"--n", "7"}, 0, NULL},
        {{"--n=0"}, -1, "--n: 0 is out of range"},
        {{"--n=x"}, -1, "not an integer"},
        {{"--n"}, -1, "needs a value"},
        {{"--bogus=1"}, -1, "unknown flag --bogus"},
        {{"--ratio=1.5"}, -1, "out of range"},
        {{"--timeout=2m"}, -1, "out of range"},
        {{"--timeout=20"}, -1, "missing unit"},
        {{"--verbose"}, 0, NULL},
        {{"--verbose=maybe"}, -1, "not true or false"},
        {{"--name=toolongname"}, -1, "too long"},
        {{"--addr=localhost"}, -1, "not HOST:PORT"},
        {{"--addr=h:70000"}, -1, "no valid port"},
        {{"--mode=medium"}, -1, "not one of fast|slow"},
};

static void test_opt_argv_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(argv_cases) / sizeof(argv_cases[0]); i++) {
		cfg_t c;
		bool seen[8];
		char err[256] = "";
		char *argv[6] = {"prog"};
		int argc = 1;
		int argi = 1;
		for (int k = 0; k < 4 && argv_cases[i].args[k]; k++)
			argv[argc++] = (char *)argv_cases[i].args[k];
		assert_int_equal(base_opt_defaults(cfg_opts, &c, seen, err, sizeof(err)), 0);
		int rc = base_opt_parse_argv(cfg_opts, &c, seen, argc, argv, &argi, err,
		                             sizeof(err));
		if (rc != argv_cases[i].rc)
			fail_msg("case %zu: rc %d err %s", i, rc, err);
		if (argv_cases[i].err_has && strstr(err, argv_cases[i].err_has) == NULL)
			fail_msg("case %zu: err \"%s\" lacks \"%s\"", i, err,
			         argv_cases[i].err_has);
	}
}

static void test_opt_defaults_env_seen(void **state)
{
	cfg_t c;
	bool seen[8];
	char err[256];
	char *argv[] = {"prog", "--n", "9", "--verbose", "pos"};
	int argi = 1;
	(void)state;
	setenv("TEST_N", "42", 1);
	assert_int_equal(base_opt_defaults(cfg_opts, &c, seen, err, sizeof(err)), 0);
	assert_int_equal(c.n, 42);
	assert_true(c.ratio == 0.5);
	assert_int_equal(c.timeout_ms, 1000);
	assert_string_equal(c.addr, "127.0.0.1:502");
	assert_false(seen[0]);
	assert_int_equal(base_opt_parse_argv(cfg_opts, &c, seen, 5, argv, &argi, err, sizeof(err)),
	                 0);
	assert_int_equal(argi, 4);
	assert_int_equal(c.n, 9);
	assert_true(c.verbose);
	assert_true(seen[0]);
	assert_true(seen[3]);
	assert_false(seen[1]);
	setenv("TEST_N", "nope", 1);
	assert_int_equal(base_opt_defaults(cfg_opts, &c, seen, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "environment TEST_N"));
	unsetenv("TEST_N");
}

static const base_opt_t nodef_opts[] = {
        {"dev", BASE_OPT_HOSTPORT, offsetof(cfg_t, addr), 32, 0, 0, NULL, NULL, NULL, "no default"},
        {"cnt", BASE_OPT_INT, offsetof(cfg_t, n), sizeof(long long), 0, 0, NULL, NULL, NULL,
         "none"},
        BASE_OPT_END,
};

static void test_opt_no_default_is_zeroed(void **state)
{
	cfg_t c;
	char err[128];
	(void)state;
	memset(&c, 0x5a, sizeof(c));
	assert_int_equal(base_opt_defaults(nodef_opts, &c, NULL, err, sizeof(err)), 0);
	assert_string_equal(c.addr, "");
	assert_int_equal(c.n, 0);
}

static void test_base64_rfc4648(void **state)
{
	static const char *const in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
	static const char *const out[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
	                                  "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
	(void)state;
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		char *e = base_base64_encode(in[i], strlen(in[i]));
		assert_non_null(e);
		assert_string_equal(e, out[i]);
		free(e);
	}
	const unsigned char bin[] = {0x00, 0xff, 0xfe};
	char *e = base_base64_encode(bin, sizeof(bin));
	assert_string_equal(e, "AP/+");
	free(e);
}

static void test_opt_help(void **state)
{
	char *out = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&out, &len);
	(void)state;
	base_opt_help(cfg_opts, "usage: prog [flags]", fp);
	fclose(fp);
	assert_non_null(strstr(out, "--timeout DUR"));
	assert_non_null(strstr(out, "(default 1s)"));
	assert_non_null(strstr(out, "[env TEST_N]"));
	assert_non_null(strstr(out, "--mode fast|slow"));
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_log_logfmt_quotes),
	        cmocka_unit_test(test_log_json),
	        cmocka_unit_test(test_log_truncates),
	        cmocka_unit_test(test_log_parse),
	        cmocka_unit_test(test_clock_durations),
	        cmocka_unit_test(test_clock_monotonic),
	        cmocka_unit_test(test_buf_cap),
	        cmocka_unit_test(test_buf_overflow_size),
	        cmocka_unit_test(test_opt_argv_table),
	        cmocka_unit_test(test_opt_defaults_env_seen),
	        cmocka_unit_test(test_opt_help),
	        cmocka_unit_test(test_opt_no_default_is_zeroed),
	        cmocka_unit_test(test_base64_rfc4648),
	};
	return cmocka_run_group_tests_name("base", tests, NULL, NULL);
}

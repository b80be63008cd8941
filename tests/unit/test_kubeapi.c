/* cmocka group: pkg/kubeapi (selectors, merge patch, JSON patch, strategic
 * merge patch). Table-driven: each case is data. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubeapi/kubeapi.h"
#include "kubeapi/quantity.h"

static const char *LABELS =
        "{\"app\":\"worker\",\"tier\":\"gold\",\"replicas\":\"5\",\"empty\":\"\"}";

static const struct {
	const char *sel;
	int rc;    /* parse result */
	int match; /* against LABELS */
} label_cases[] = {
        {"", 0, 1},
        {"app=worker", 0, 1},
        {"app==worker", 0, 1},
        {"app=other", 0, 0},
        {"app!=other", 0, 1},
        {"missing!=x", 0, 1},
        {"app!=worker", 0, 0},
        {"tier in (gold,silver)", 0, 1},
        {"tier in (silver)", 0, 0},
        {"tier notin (silver, bronze)", 0, 1},
        {"tier notin (gold)", 0, 0},
        {"missing notin (gold)", 0, 1},
        {"missing in (gold)", 0, 0},
        {"app", 0, 1},
        {"!app", 0, 0},
        {"!missing", 0, 1},
        {"missing", 0, 0},
        {"app=worker,tier=gold", 0, 1},
        {"app=worker, tier=bronze", 0, 0},
        {"app=worker,!missing,tier in (gold)", 0, 1},
        {"replicas>4", 0, 1},
        {"replicas<4", 0, 0},
        {"empty=", 0, 1},
        {"example.com/role=db", 0, 0},
        {"app=", 0, 0},
        {"app=worker,", KUBEAPI_EINVAL, 0},
        {"=x", KUBEAPI_EINVAL, 0},
        {"tier in gold", KUBEAPI_EINVAL, 0},
        {"tier in (gold", KUBEAPI_EINVAL, 0},
        {"app=-bad", KUBEAPI_EINVAL, 0},
        {"replicas>x", KUBEAPI_EINVAL, 0},
        {"app=worker tier=gold", KUBEAPI_EINVAL, 0},
};

static void test_label_selectors(void **state)
{
	cJSON *labels = cJSON_Parse(LABELS);
	(void)state;
	for (size_t i = 0; i < sizeof(label_cases) / sizeof(label_cases[0]); i++) {
		kubeapi_selector_t *s = NULL;
		char err[256] = "";
		int rc = kubeapi_selector_parse(label_cases[i].sel, &s, err, sizeof(err));
		if (rc != label_cases[i].rc)
			fail_msg("selector %zu \"%s\": rc %d want %d (%s)", i, label_cases[i].sel,
			         rc, label_cases[i].rc, err);
		if (rc == 0) {
			bool m = kubeapi_selector_matches(s, labels);
			if (m != (label_cases[i].match != 0))
				fail_msg("selector \"%s\": match %d", label_cases[i].sel, m);
		} else {
			assert_null(s);
			assert_true(strlen(err) > 0);
		}
		kubeapi_selector_free(s);
	}
	cJSON_Delete(labels);
}

static void test_selector_format_roundtrip(void **state)
{
	kubeapi_selector_t *s, *s2;
	char buf[256];
	(void)state;
	assert_int_equal(kubeapi_selector_parse("a=b,c in (x,y),!d,e", &s, NULL, 0), 0);
	kubeapi_selector_format(s, buf, sizeof(buf));
	assert_string_equal(buf, "a=b,c in (x,y),!d,e");
	assert_int_equal(kubeapi_selector_parse(buf, &s2, NULL, 0), 0);
	kubeapi_selector_free(s);
	kubeapi_selector_free(s2);
	assert_true(kubeapi_selector_empty(NULL));
	kubeapi_selector_free(NULL);
}

static void test_selector_from_json(void **state)
{
	static const struct {
		const char *json;
		int rc;
		int match;
	} cases[] = {
	        {"{\"matchLabels\":{\"app\":\"worker\"}}", 0, 1},
	        {"{\"matchLabels\":{\"app\":\"x\"}}", 0, 0},
	        {"{}", 0, 1},
	        {"{\"matchExpressions\":[{\"key\":\"tier\",\"operator\":\"In\",\"values\":["
	         "\"gold\"]}]}",
	         0, 1},
	        {"{\"matchExpressions\":[{\"key\":\"tier\",\"operator\":\"NotIn\",\"values\":["
	         "\"gold\"]}]}",
	         0, 0},
	        {"{\"matchExpressions\":[{\"key\":\"x\",\"operator\":\"DoesNotExist\"}]}", 0, 1},
	        {"{\"matchExpressions\":[{\"key\":\"app\",\"operator\":\"Exists\"}]}", 0, 1},
	        {"{\"matchExpressions\":[{\"key\":\"app\",\"operator\":\"Near\"}]}", KUBEAPI_EINVAL,
	         0},
	        {"{\"matchExpressions\":[{\"key\":\"app\",\"operator\":\"In\"}]}", KUBEAPI_EINVAL,
	         0},
	        {"{\"matchExpressions\":[{\"key\":\"app\",\"operator\":\"Exists\",\"values\":["
	         "\"a\"]}]}",
	         KUBEAPI_EINVAL, 0},
	        {"[1]", KUBEAPI_EINVAL, 0},
	};
	cJSON *labels = cJSON_Parse(LABELS);
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cJSON *j = cJSON_Parse(cases[i].json);
		kubeapi_selector_t *s = NULL;
		char err[128];
		int rc = kubeapi_selector_from_json(j, &s, err, sizeof(err));
		if (rc != cases[i].rc)
			fail_msg("case %zu: rc %d", i, rc);
		if (rc == 0 && kubeapi_selector_matches(s, labels) != (cases[i].match != 0))
			fail_msg("case %zu: wrong match", i);
		kubeapi_selector_free(s);
		cJSON_Delete(j);
	}
	cJSON_Delete(labels);
}

static void test_field_selectors(void **state)
{
	static const struct {
		const char *sel;
		int rc;
		int match;
	} cases[] = {
	        {"metadata.name=p1", 0, 1},
	        {"metadata.name==p1", 0, 1},
	        {"metadata.name!=p1", 0, 0},
	        {"metadata.namespace=demo,status.phase=Running", 0, 1},
	        {"status.phase=Pending", 0, 0},
	        {"spec.nodeName=", 0, 1},
	        {"spec.replicas=3", 0, 1},
	        {"involvedObject.name=x", 0, 0},
	        {"metadata.name", KUBEAPI_EINVAL, 0},
	        {"metadata.name in (a)", KUBEAPI_EINVAL, 0},
	};
	cJSON *obj = cJSON_Parse("{\"metadata\":{\"name\":\"p1\",\"namespace\":\"demo\"},"
	                         "\"spec\":{\"replicas\":3},\"status\":{\"phase\":\"Running\"}}");
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		kubeapi_selector_t *s = NULL;
		int rc = kubeapi_fieldsel_parse(cases[i].sel, &s, NULL, 0);
		if (rc != cases[i].rc)
			fail_msg("field selector \"%s\": rc %d", cases[i].sel, rc);
		if (rc == 0 && kubeapi_fieldsel_matches(s, obj) != (cases[i].match != 0))
			fail_msg("field selector \"%s\": wrong match", cases[i].sel);
		kubeapi_selector_free(s);
	}
	cJSON_Delete(obj);
}

/* doc, patch, expected (NULL = error expected) */
typedef struct {
	const char *doc, *patch, *want;
} pcase_t;

static void check_cases(const pcase_t *cases, size_t n, int kind)
{
	for (size_t i = 0; i < n; i++) {
		cJSON *doc = cJSON_Parse(cases[i].doc);
		cJSON *patch = cJSON_Parse(cases[i].patch);
		char err[256] = "";
		int rc;
		assert_non_null(doc);
		assert_non_null(patch);
		cJSON *before = cJSON_Duplicate(doc, 1);
		if (kind == 0)
			rc = kubeapi_merge_patch(&doc, patch);
		else if (kind == 1)
			rc = kubeapi_json_patch(&doc, patch, err, sizeof(err));
		else
			rc = kubeapi_strategic_merge_patch(&doc, patch, NULL, err, sizeof(err));
		if (!cases[i].want) {
			if (rc == 0)
				fail_msg("case %zu (%s): expected an error", i, cases[i].patch);
			assert_true(strlen(err) > 0);
			/* Atomic: a failed patch leaves the document as it was. */
			assert_true(cJSON_Compare(doc, before, 1));
		} else {
			cJSON *want = cJSON_Parse(cases[i].want);
			assert_non_null(want);
			if (rc != 0 || !cJSON_Compare(doc, want, 1)) {
				char *got = cJSON_PrintUnformatted(doc);
				fail_msg("case %zu: rc %d (%s) got %s want %s", i, rc, err, got,
				         cases[i].want);
			}
			cJSON_Delete(want);
		}
		cJSON_Delete(before);
		cJSON_Delete(doc);
		cJSON_Delete(patch);
	}
}

static void test_merge_patch(void **state)
{
	/* The examples of RFC 7386, appendix A, plus nesting. */
	static const pcase_t cases[] = {
	        {"{\"a\":\"b\"}", "{\"a\":\"c\"}", "{\"a\":\"c\"}"},
	        {"{\"a\":\"b\"}", "{\"b\":\"c\"}", "{\"a\":\"b\",\"b\":\"c\"}"},
	        {"{\"a\":\"b\"}", "{\"a\":null}", "{}"},
	        {"{\"a\":\"b\",\"b\":\"c\"}", "{\"a\":null}", "{\"b\":\"c\"}"},
	        {"{\"a\":[\"b\"]}", "{\"a\":\"c\"}", "{\"a\":\"c\"}"},
	        {"{\"a\":\"c\"}", "{\"a\":[\"b\"]}", "{\"a\":[\"b\"]}"},
	        {"{\"a\":{\"b\":\"c\"}}", "{\"a\":{\"b\":\"d\",\"c\":null}}",
	         "{\"a\":{\"b\":\"d\"}}"},
	        {"{\"a\":[{\"b\":\"c\"}]}", "{\"a\":[1]}", "{\"a\":[1]}"},
	        {"[\"a\",\"b\"]", "[\"c\",\"d\"]", "[\"c\",\"d\"]"},
	        {"{\"a\":\"b\"}", "[\"c\"]", "[\"c\"]"},
	        {"{\"e\":null}", "{\"a\":1}", "{\"e\":null,\"a\":1}"},
	        {"[1,2]", "{\"a\":\"b\",\"c\":null}", "{\"a\":\"b\"}"},
	        {"{}", "{\"a\":{\"bb\":{\"ccc\":null}}}", "{\"a\":{\"bb\":{}}}"},
	        {"{\"spec\":{\"replicas\":3,\"x\":1}}", "{\"spec\":{\"replicas\":0}}",
	         "{\"spec\":{\"replicas\":0,\"x\":1}}"},
	};
	(void)state;
	check_cases(cases, sizeof(cases) / sizeof(cases[0]), 0);
}

static void test_json_patch(void **state)
{
	/* Mostly from RFC 6902 appendix A. */
	static const pcase_t cases[] = {
	        {"{\"foo\":\"bar\"}", "[{\"op\":\"add\",\"path\":\"/baz\",\"value\":\"qux\"}]",
	         "{\"foo\":\"bar\",\"baz\":\"qux\"}"},
	        {"{\"foo\":[\"bar\",\"baz\"]}",
	         "[{\"op\":\"add\",\"path\":\"/foo/1\",\"value\":\"qux\"}]",
	         "{\"foo\":[\"bar\",\"qux\",\"baz\"]}"},
	        {"{\"foo\":[1]}", "[{\"op\":\"add\",\"path\":\"/foo/-\",\"value\":2}]",
	         "{\"foo\":[1,2]}"},
	        {"{\"baz\":\"qux\",\"foo\":\"bar\"}", "[{\"op\":\"remove\",\"path\":\"/baz\"}]",
	         "{\"foo\":\"bar\"}"},
	        {"{\"foo\":[\"bar\",\"qux\",\"baz\"]}", "[{\"op\":\"remove\",\"path\":\"/foo/1\"}]",
	         "{\"foo\":[\"bar\",\"baz\"]}"},
	        {"{\"baz\":\"qux\",\"foo\":\"bar\"}",
	         "[{\"op\":\"replace\",\"path\":\"/baz\",\"value\":\"boo\"}]",
	         "{\"baz\":\"boo\",\"foo\":\"bar\"}"},
	        {"{\"foo\":{\"bar\":\"baz\",\"waldo\":\"fred\"},\"qux\":{\"corge\":\"grault\"}}",
	         "[{\"op\":\"move\",\"from\":\"/foo/waldo\",\"path\":\"/qux/thud\"}]",
	         "{\"foo\":{\"bar\":\"baz\"},\"qux\":{\"corge\":\"grault\",\"thud\":\"fred\"}}"},
	        {"{\"foo\":[\"all\",\"grass\",\"cows\",\"eat\"]}",
	         "[{\"op\":\"move\",\"from\":\"/foo/1\",\"path\":\"/foo/3\"}]",
	         "{\"foo\":[\"all\",\"cows\",\"eat\",\"grass\"]}"},
	        {"{\"a\":{\"b\":1}}", "[{\"op\":\"copy\",\"from\":\"/a\",\"path\":\"/c\"}]",
	         "{\"a\":{\"b\":1},\"c\":{\"b\":1}}"},
	        {"{\"baz\":\"qux\",\"foo\":[\"a\",2,\"c\"]}",
	         "[{\"op\":\"test\",\"path\":\"/"
	         "baz\",\"value\":\"qux\"},{\"op\":\"test\",\"path\":\"/foo/1\",\"value\":2}]",
	         "{\"baz\":\"qux\",\"foo\":[\"a\",2,\"c\"]}"},
	        {"{\"/\":1,\"~\":2}",
	         "[{\"op\":\"replace\",\"path\":\"/"
	         "~1\",\"value\":3},{\"op\":\"remove\",\"path\":\"/~0\"}]",
	         "{\"/\":3}"},
	        {"{\"a\":1}", "[{\"op\":\"add\",\"path\":\"\",\"value\":[1]}]", "[1]"},
	        {"{\"metadata\":{\"labels\":{\"a\":\"b\"}}}",
	         "[{\"op\":\"add\",\"path\":\"/metadata/labels/"
	         "c\",\"value\":\"d\"},{\"op\":\"remove\",\"path\":\"/metadata/labels/a\"}]",
	         "{\"metadata\":{\"labels\":{\"c\":\"d\"}}}"},
	        /* Errors, each leaving the document untouched. */
	        {"{\"baz\":\"qux\"}", "[{\"op\":\"test\",\"path\":\"/baz\",\"value\":\"bar\"}]",
	         NULL},
	        {"{\"foo\":\"bar\"}", "[{\"op\":\"add\",\"path\":\"/baz/bat\",\"value\":\"qux\"}]",
	         NULL},
	        {"{\"foo\":\"bar\"}", "[{\"op\":\"remove\",\"path\":\"/nope\"}]", NULL},
	        {"{\"foo\":[1]}", "[{\"op\":\"add\",\"path\":\"/foo/5\",\"value\":2}]", NULL},
	        {"{\"foo\":[1]}", "[{\"op\":\"add\",\"path\":\"/foo/01\",\"value\":2}]", NULL},
	        {"{\"foo\":1}",
	         "[{\"op\":\"add\",\"path\":\"/a\",\"value\":1},{\"op\":\"bogus\",\"path\":\"/"
	         "a\"}]",
	         NULL},
	        {"{\"foo\":1}", "[{\"op\":\"add\",\"path\":\"/a\"}]", NULL},
	        {"{\"foo\":1}", "[{\"op\":\"move\",\"from\":\"/foo\",\"path\":\"/foo/x\"}]", NULL},
	        {"{\"foo\":1}", "[{\"op\":\"add\",\"path\":\"x\",\"value\":1}]", NULL},
	        {"{\"foo\":1}", "{\"op\":\"add\"}", NULL},
	};
	(void)state;
	check_cases(cases, sizeof(cases) / sizeof(cases[0]), 1);
}

static void test_strategic_merge_patch(void **state)
{
	static const pcase_t cases[] = {
	        /* Maps merge, null deletes. */
	        {"{\"metadata\":{\"labels\":{\"a\":\"1\",\"b\":\"2\"}}}",
	         "{\"metadata\":{\"labels\":{\"a\":null,\"c\":\"3\"}}}",
	         "{\"metadata\":{\"labels\":{\"b\":\"2\",\"c\":\"3\"}}}"},
	        /* containers merge by name; env merges by name inside. */
	        {"{\"spec\":{\"containers\":[{\"name\":\"a\",\"image\":\"i1\",\"env\":[{\"name\":"
	         "\"X\",\"value\":\"1\"}]},{\"name\":\"b\",\"image\":\"i2\"}]}}",
	         "{\"spec\":{\"containers\":[{\"name\":\"a\",\"env\":[{\"name\":\"Y\",\"value\":"
	         "\"2\"}]}]}}",
	         "{\"spec\":{\"containers\":[{\"name\":\"a\",\"image\":\"i1\",\"env\":[{\"name\":"
	         "\"X\",\"value\":\"1\"},{\"name\":\"Y\",\"value\":\"2\"}]},{\"name\":\"b\","
	         "\"image\":\"i2\"}]}}"},
	        /* $patch: delete of a list element. */
	        {"{\"spec\":{\"containers\":[{\"name\":\"a\"},{\"name\":\"b\"}]}}",
	         "{\"spec\":{\"containers\":[{\"name\":\"a\",\"$patch\":\"delete\"}]}}",
	         "{\"spec\":{\"containers\":[{\"name\":\"b\"}]}}"},
	        /* $patch: replace of a list. */
	        {"{\"spec\":{\"volumes\":[{\"name\":\"a\"},{\"name\":\"b\"}]}}",
	         "{\"spec\":{\"volumes\":[{\"name\":\"c\"},{\"$patch\":\"replace\"}]}}",
	         "{\"spec\":{\"volumes\":[{\"name\":\"c\"}]}}"},
	        /* $patch: replace of a map. */
	        {"{\"spec\":{\"selector\":{\"a\":\"1\",\"b\":\"2\"}}}",
	         "{\"spec\":{\"selector\":{\"c\":\"3\",\"$patch\":\"replace\"}}}",
	         "{\"spec\":{\"selector\":{\"c\":\"3\"}}}"},
	        /* $patch: delete of a map. */
	        {"{\"spec\":{\"strategy\":{\"type\":\"Recreate\"},\"replicas\":1}}",
	         "{\"spec\":{\"strategy\":{\"$patch\":\"delete\"}}}",
	         "{\"spec\":{\"replicas\":1}}"},
	        /* Lists without a merge key are replaced (args, command, rules). */
	        {"{\"spec\":{\"containers\":[{\"name\":\"a\",\"args\":[\"x\",\"y\"]}]}}",
	         "{\"spec\":{\"containers\":[{\"name\":\"a\",\"args\":[\"z\"]}]}}",
	         "{\"spec\":{\"containers\":[{\"name\":\"a\",\"args\":[\"z\"]}]}}"},
	        /* Container ports merge by containerPort; Service ports by port. */
	        {"{\"spec\":{\"containers\":[{\"name\":\"a\",\"ports\":[{\"containerPort\":80,"
	         "\"name\":\"h\"}]}]}}",
	         "{\"spec\":{\"containers\":[{\"name\":\"a\",\"ports\":[{\"containerPort\":80,"
	         "\"protocol\":\"TCP\"},{\"containerPort\":90}]}]}}",
	         "{\"spec\":{\"containers\":[{\"name\":\"a\",\"ports\":[{\"containerPort\":80,"
	         "\"name\":\"h\",\"protocol\":\"TCP\"},{\"containerPort\":90}]}]}}"},
	        {"{\"spec\":{\"ports\":[{\"port\":502,\"targetPort\":1502}]}}",
	         "{\"spec\":{\"ports\":[{\"port\":502,\"name\":\"modbus\"}]}}",
	         "{\"spec\":{\"ports\":[{\"port\":502,\"targetPort\":1502,\"name\":\"modbus\"}]}}"},
	        /* $setElementOrder reorders, as kubectl apply sends it. */
	        {"{\"spec\":{\"containers\":[{\"name\":\"a\"},{\"name\":\"b\"}]}}",
	         "{\"spec\":{\"$setElementOrder/"
	         "containers\":[{\"name\":\"b\"},{\"name\":\"a\"}],\"containers\":[{\"name\":\"b\","
	         "\"image\":\"x\"}]}}",
	         "{\"spec\":{\"containers\":[{\"name\":\"b\",\"image\":\"x\"},{\"name\":\"a\"}]}}"},
	        /* $retainKeys clears the other members of a union. */
	        {"{\"spec\":{\"strategy\":{\"type\":\"RollingUpdate\",\"rollingUpdate\":{"
	         "\"maxSurge\":1}}}}",
	         "{\"spec\":{\"strategy\":{\"$retainKeys\":[\"type\"],\"type\":\"Recreate\","
	         "\"rollingUpdate\":null}}}",
	         "{\"spec\":{\"strategy\":{\"type\":\"Recreate\"}}}"},
	        /* Finalizers merge as a set; $deleteFromPrimitiveList removes. */
	        {"{\"metadata\":{\"finalizers\":[\"a\",\"b\"]}}",
	         "{\"metadata\":{\"finalizers\":[\"b\",\"c\"]}}",
	         "{\"metadata\":{\"finalizers\":[\"a\",\"b\",\"c\"]}}"},
	        {"{\"metadata\":{\"finalizers\":[\"a\",\"b\"]}}",
	         "{\"metadata\":{\"$deleteFromPrimitiveList/finalizers\":[\"a\"]}}",
	         "{\"metadata\":{\"finalizers\":[\"b\"]}}"},
	        /* Conditions merge by type. */
	        {"{\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"False\"},{\"type\":"
	         "\"X\",\"status\":\"True\"}]}}",
	         "{\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}}",
	         "{\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"},{\"type\":"
	         "\"X\",\"status\":\"True\"}]}}"},
	        /* Scale-style patch of a number. */
	        {"{\"spec\":{\"replicas\":3}}", "{\"spec\":{\"replicas\":0}}",
	         "{\"spec\":{\"replicas\":0}}"},
	        /* Errors. */
	        {"{\"a\":1}", "[1]", NULL},
	        {"{\"a\":1}", "{\"$patch\":\"explode\"}", NULL},
	        {"{\"spec\":{\"containers\":[]}}",
	         "{\"spec\":{\"containers\":[{\"image\":\"x\"}]}}", NULL},
	        {"{\"a\":1}", "{\"$unknown\":1}", NULL},
	};
	(void)state;
	check_cases(cases, sizeof(cases) / sizeof(cases[0]), 2);
}

static void test_get_path_and_strerror(void **state)
{
	cJSON *o = cJSON_Parse("{\"a\":{\"b\":{\"c\":\"d\"}}}");
	(void)state;
	assert_string_equal(cJSON_GetStringValue(kubeapi_get_path(o, "a.b.c")), "d");
	assert_null(kubeapi_get_path(o, "a.x.c"));
	assert_null(kubeapi_get_path(o, "a.b.c.d"));
	cJSON *arr = cJSON_Parse("{\"l\":[{\"n\":\"x\"},{\"n\":\"y\"}]}");
	assert_string_equal(cJSON_GetStringValue(kubeapi_get_path(arr, "l.1.n")), "y");
	assert_null(kubeapi_get_path(arr, "l.2.n"));
	assert_null(kubeapi_get_path(arr, "l.-1.n"));
	assert_null(kubeapi_get_path(arr, "l.x.n"));
	cJSON_Delete(arr);
	cJSON_Delete(o);
	assert_string_equal(kubeapi_strerror(KUBEAPI_ETEST), "test operation failed");
	assert_string_equal(kubeapi_strerror(12345), "unknown error");
}

/* ---- quantities ---- */

typedef struct {
	const char *in;
	int rc;
	int64_t milli;
	const char *err; /* substring of the error */
} qrow_t;

static const qrow_t qrows[] = {
        {"250m", 0, 250, NULL},
        {"1", 0, 1000, NULL},
        {"1500000n", 0, 2, NULL}, /* 1.5m rounds up, as MilliValue */
        {"12345u", 0, 13, NULL},
        {"100n", 0, 1, NULL},
        {"0", 0, 0, NULL},
        {"0.5", 0, 500, NULL},
        {".5", 0, 500, NULL},
        {"1.", 0, 1000, NULL},
        {"0.0001", 0, 1, NULL},
        {"2k", 0, 2000000, NULL},
        {"1Ki", 0, 1024000, NULL},
        {"1.5Mi", 0, 1572864000, NULL},
        {"1e3", 0, 1000000, NULL},
        {"1E-3", 0, 1, NULL},
        {"25e-1", 0, 2500, NULL},
        {"+3", 0, 3000, NULL},
        {"-250m", 0, -250, NULL},
        {"0000000000000000000000000000000000000000001m", 0, 1, NULL}, /* zeros are free */
        {"1000000000000000000000000000000000000000n", -1, 0, "too many digits"},
        {"9223372036854775807m", 0, INT64_MAX, NULL},
        {"9223372036854775808m", -1, 0, "out of range"},
        {"10E", -1, 0, "out of range"}, /* 10 exa in milli */
        {"1e100", -1, 0, "out of range"},
        {"", -1, 0, "empty"},
        {"m", -1, 0, "no number"},
        {"-", -1, 0, "no number"},
        {".", -1, 0, "no number"},
        {"abc", -1, 0, "no number"},
        {"1x", -1, 0, "unknown suffix"},
        {"1 ", -1, 0, "unknown suffix"},
        {" 1", -1, 0, "no number"},
        {"1.2.3", -1, 0, "unknown suffix"},
        {"1e", -1, 0, "unknown suffix"},
        {"1e3m", -1, 0, "unknown suffix"},
        {"1Ki5", -1, 0, "unknown suffix"},
        {"1mi", -1, 0, "unknown suffix"},
        {"1KI", -1, 0, "unknown suffix"},
        {"1e+", -1, 0, "unknown suffix"},
        {"1e99999", -1, 0, "unknown suffix"},
        {"0x10", -1, 0, "unknown suffix"},
};

static void test_quantity_milli(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(qrows) / sizeof(qrows[0]); i++) {
		const qrow_t *r = &qrows[i];
		int64_t v = -42;
		char err[200] = "";
		int rc = kubeapi_quantity_milli(r->in, &v, err, sizeof(err));
		if (rc != r->rc)
			fail_msg("quantity \"%s\": rc %d, want %d (%s)", r->in, rc, r->rc, err);
		if (r->err) {
			if (rc != -1 || !strstr(err, r->err))
				fail_msg("quantity \"%s\": error \"%s\", want \"%s\"", r->in, err,
				         r->err);
			if (!strstr(err, r->in))
				fail_msg("quantity \"%s\": error \"%s\" does not name it", r->in,
				         err);
		} else if (v != r->milli) {
			fail_msg("quantity \"%s\": %lld, want %lld", r->in, (long long)v,
			         (long long)r->milli);
		}
	}
	int64_t v;
	char err[64];
	assert_int_equal(kubeapi_quantity_milli(NULL, &v, err, sizeof(err)), -1);
}

/* Float values (behavior tolerances), as AsApproximateFloat64, and the
 * same grammar's rejections. */
static void test_quantity_float(void **state)
{
	static const struct {
		const char *in;
		int rc;
		double v;
	} rows[] = {
	        {"0.05", 0, 0.05},
	        {"50m", 0, 0.05},
	        {"200m", 0, 0.2},
	        {"0", 0, 0},
	        {"0e1000", 0, 0},        /* zero, however large the exponent */
	        {"1e-400", 0, 0},        /* below the smallest double: 0 */
	        {"1500000n", 0, 1.5e-3}, /* not rounded to milli-units */
	        {"1.5Ki", 0, 1536},
	        {"2Ei", 0, 2305843009213693952.0},
	        {"-2.5", 0, -2.5},
	        {"123456789012345678901234567890123456e-35", 0,
	         1.23456789012345678901234567890123456},
	        {"1e309", -1, 0}, /* beyond the largest double */
	        {"0x10", -1, 0},
	        {"inf", -1, 0},
	        {"nan", -1, 0},
	        {" 0.1", -1, 0},
	        {"0.1 ", -1, 0},
	        {"", -1, 0},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		double v = -42;
		char err[200] = "";
		int rc = kubeapi_quantity_float(rows[i].in, &v, err, sizeof(err));
		if (rc != rows[i].rc)
			fail_msg("quantity \"%s\": rc %d, want %d (%s)", rows[i].in, rc, rows[i].rc,
			         err);
		if (rc == 0 && v != rows[i].v)
			fail_msg("quantity \"%s\": %.17g, want %.17g", rows[i].in, v, rows[i].v);
		if (rc != 0 && !strstr(err, rows[i].in))
			fail_msg("quantity \"%s\": error \"%s\" does not name it", rows[i].in, err);
	}
	double v;
	char err[64];
	assert_int_equal(kubeapi_quantity_float(NULL, &v, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "empty"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_label_selectors),
	        cmocka_unit_test(test_selector_format_roundtrip),
	        cmocka_unit_test(test_selector_from_json),
	        cmocka_unit_test(test_field_selectors),
	        cmocka_unit_test(test_merge_patch),
	        cmocka_unit_test(test_json_patch),
	        cmocka_unit_test(test_strategic_merge_patch),
	        cmocka_unit_test(test_get_path_and_strerror),
	        cmocka_unit_test(test_quantity_milli),
	        cmocka_unit_test(test_quantity_float),
	};
	return cmocka_run_group_tests_name("kubeapi", tests, NULL, NULL);
}

/* cmocka group: hack/kubesim's audit log (--audit-log): the JSON line of a
 * record, appending from several threads without interleaving, and a clear
 * error for a path that cannot be opened. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../hack/kubesim/audit.h"

static ks_audit_rec_t rec(const char *verb, const char *group, const char *res, const char *sub)
{
	ks_audit_rec_t r;
	memset(&r, 0, sizeof(r));
	snprintf(r.user, sizeof(r.user), "system:serviceaccount:mcp:mcp-autoscaler");
	snprintf(r.verb, sizeof(r.verb), "%s", verb);
	snprintf(r.group, sizeof(r.group), "%s", group);
	snprintf(r.resource, sizeof(r.resource), "%s", res);
	snprintf(r.subresource, sizeof(r.subresource), "%s", sub);
	snprintf(r.ns, sizeof(r.ns), "mcp");
	snprintf(r.name, sizeof(r.name), "mcp-worker");
	r.code = 200;
	return r;
}

static void test_line(void **state)
{
	(void)state;
	ks_audit_rec_t r = rec("patch", "apps", "deployments", "scale");
	char *l = ks_audit_line(&r, NULL);
	assert_string_equal(
	        l, "{\"user\":\"system:serviceaccount:mcp:mcp-autoscaler\",\"verb\":\"patch\","
	           "\"group\":\"apps\",\"resource\":\"deployments\",\"subresource\":\"scale\","
	           "\"namespace\":\"mcp\",\"name\":\"mcp-worker\",\"code\":200}");
	free(l);
	/* Quotes in a name are escaped: every line stays valid JSON. */
	snprintf(r.name, sizeof(r.name), "a\"b\\c");
	l = ks_audit_line(&r, "2026-01-01T00:00:00.000000Z");
	cJSON *j = cJSON_Parse(l);
	assert_non_null(j);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "name")), "a\"b\\c");
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "ts")),
	                    "2026-01-01T00:00:00.000000Z");
	cJSON_Delete(j);
	free(l);
}

static void *writer(void *arg)
{
	ks_audit_t *a = arg;
	ks_audit_rec_t r = rec("get", "", "configmaps", "");
	for (int i = 0; i < 500; i++)
		ks_audit_write(a, &r);
	return NULL;
}

static void test_concurrent_lines(void **state)
{
	(void)state;
	char path[] = "/tmp/test_kubesim_audit.XXXXXX";
	int fd = mkstemp(path);
	char err[256];
	pthread_t t[4];
	assert_true(fd >= 0);
	close(fd);
	ks_audit_t *a = ks_audit_open(path, err, sizeof(err));
	assert_non_null(a);
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, writer, a), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	ks_audit_free(a);
	FILE *f = fopen(path, "r");
	char line[1024];
	int n = 0;
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		cJSON *j = cJSON_Parse(line);
		assert_non_null(j);
		assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "resource")),
		                    "configmaps");
		cJSON_Delete(j);
		n++;
	}
	fclose(f);
	unlink(path);
	assert_int_equal(n, 2000);
	ks_audit_free(NULL);
	ks_audit_write(NULL, NULL);
}

static void test_open_error(void **state)
{
	(void)state;
	char err[256] = "";
	assert_null(ks_audit_open("/nonexistent-dir/x/audit.log", err, sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent-dir/x/audit.log"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_line),
	        cmocka_unit_test(test_concurrent_lines),
	        cmocka_unit_test(test_open_error),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

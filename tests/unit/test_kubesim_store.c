/* cmocka group: hack/kubesim's store (linked from build/<variant>/prog-kubesim.a):
 * metadata, optimistic concurrency, status and generation rules, selectors and
 * paging, watch streams from a resourceVersion and 410 after history loss,
 * in-process subscribers, finalizers, graceful and cascading deletes, and the
 * snapshot round trip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../hack/kubesim/resources.h"
#include "../../hack/kubesim/store.h"

static const ks_rtype_t *RT(const char *group, const char *plural)
{
	const ks_rtype_t *rt = ks_rtype_find(group, "v1", plural);
	assert_non_null(rt);
	return rt;
}

static cJSON *J(const char *text)
{
	cJSON *j = cJSON_Parse(text);
	assert_non_null(j);
	return j;
}

/* Creates from JSON text; returns the HTTP-style result (0 or -code). */
static int create(ks_store_t *st, const ks_rtype_t *rt, const char *ns, const char *text,
                  cJSON **out)
{
	ks_err_t e;
	cJSON *o = J(text);
	int rc = ks_store_create(st, rt, ns, o, 0, out, &e);
	cJSON_Delete(o);
	return rc;
}

static const char *str(const cJSON *o, const char *path)
{
	const char *s = cJSON_GetStringValue(kubeapi_get_path(o, path));
	return s ? s : "";
}

static double num(const cJSON *o, const char *path)
{
	const cJSON *v = kubeapi_get_path(o, path);
	return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static ks_store_t *new_store(size_t hist)
{
	ks_store_t *st = ks_store_new(hist);
	assert_non_null(st);
	assert_int_equal(
	        create(st, RT("", "namespaces"), NULL, "{\"metadata\":{\"name\":\"demo\"}}", NULL),
	        0);
	return st;
}

static const char *DEPLOY =
        "{\"metadata\":{\"name\":\"w\",\"labels\":{\"app\":\"w\"}},\"spec\":{\"replicas\":2,"
        "\"selector\":{\"matchLabels\":{\"app\":\"w\"}},\"template\":{\"metadata\":{\"labels\":"
        "{\"app\":\"w\"}},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"x:1\"}]}}}}";

static void test_create_metadata_and_defaults(void **state)
{
	ks_store_t *st = new_store(64);
	cJSON *d = NULL;
	(void)state;
	assert_int_equal(create(st, RT("apps", "deployments"), "demo", DEPLOY, &d), 0);
	assert_string_equal(str(d, "apiVersion"), "apps/v1");
	assert_string_equal(str(d, "kind"), "Deployment");
	assert_int_equal(strlen(str(d, "metadata.uid")), 36);
	assert_string_equal(str(d, "metadata.namespace"), "demo");
	assert_true(strlen(str(d, "metadata.creationTimestamp")) == 20);
	assert_true(num(d, "metadata.generation") == 1);
	assert_string_equal(str(d, "spec.strategy.type"), "RollingUpdate");
	assert_string_equal(str(d, "spec.template.spec.restartPolicy"), "Always");
	assert_string_equal(str(d, "spec.template.spec.containers.0.imagePullPolicy"),
	                    "IfNotPresent");
	assert_string_equal(str(d, "spec.template.spec.serviceAccountName"), "default");
	char rv[32];
	snprintf(rv, sizeof(rv), "%llu", (unsigned long long)ks_store_rv(st));
	assert_string_equal(str(d, "metadata.resourceVersion"), rv);
	cJSON_Delete(d);
	/* The namespace got its default ServiceAccount. */
	ks_err_t e;
	assert_int_equal(ks_store_get(st, RT("", "serviceaccounts"), "demo", "default", &d, &e), 0);
	cJSON_Delete(d);
	/* Errors: duplicate, missing namespace, invalid objects. */
	assert_int_equal(create(st, RT("apps", "deployments"), "demo", DEPLOY, NULL), -409);
	assert_int_equal(create(st, RT("apps", "deployments"), "nowhere", DEPLOY, NULL), -404);
	assert_int_equal(create(st, RT("", "configmaps"), "demo",
	                        "{\"metadata\":{\"name\":\"Bad_Name\"}}", NULL),
	                 -422);
	assert_int_equal(create(st, RT("", "configmaps"), "demo",
	                        "{\"kind\":\"Secret\",\"metadata\":{\"name\":\"a\"}}", NULL),
	                 -400);
	assert_int_equal(create(st, RT("apps", "deployments"), "demo",
	                        "{\"metadata\":{\"name\":\"x\"},\"spec\":{\"selector\":{"
	                        "\"matchLabels\":{\"a\":\"b\"}},"
	                        "\"template\":{\"metadata\":{\"labels\":{\"a\":\"c\"}},\"spec\":{"
	                        "\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]}}}}",
	                        NULL),
	                 -422);
	/* Services get a ClusterIP and port defaults. */
	assert_int_equal(
	        create(st, RT("", "services"), "demo",
	               "{\"metadata\":{\"name\":\"s\"},\"spec\":{\"ports\":[{\"port\":80}]}}", &d),
	        0);
	assert_true(strlen(str(d, "spec.clusterIP")) >= 7);
	assert_true(num(d, "spec.ports.0.targetPort") == 80);
	assert_string_equal(str(d, "spec.ports.0.protocol"), "TCP");
	cJSON_Delete(d);
	/* generateName. */
	assert_int_equal(create(st, RT("", "configmaps"), "demo",
	                        "{\"metadata\":{\"generateName\":\"gen-\"}}", &d),
	                 0);
	assert_true(strncmp(str(d, "metadata.name"), "gen-", 4) == 0 &&
	            strlen(str(d, "metadata.name")) == 9);
	cJSON_Delete(d);
	ks_store_free(st);
}

static int set_replicas(cJSON **obj, void *ud, ks_err_t *e)
{
	(void)e;
	cJSON *spec = cJSON_GetObjectItemCaseSensitive(*obj, "spec");
	cJSON_ReplaceItemInObjectCaseSensitive(spec, "replicas", cJSON_CreateNumber(*(int *)ud));
	return 0;
}

static void test_update_rules(void **state)
{
	ks_store_t *st = new_store(64);
	const ks_rtype_t *rt = RT("apps", "deployments");
	cJSON *d = NULL, *u = NULL;
	ks_err_t e;
	(void)state;
	assert_int_equal(create(st, rt, "demo", DEPLOY, &d), 0);
	char rv1[32];
	snprintf(rv1, sizeof(rv1), "%s", str(d, "metadata.resourceVersion"));

	/* A no-op write keeps the resourceVersion. */
	assert_int_equal(ks_store_update(st, rt, "demo", "w", d, KS_W_MAIN, &u, &e), 0);
	assert_string_equal(str(u, "metadata.resourceVersion"), rv1);
	cJSON_Delete(u);

	/* A spec change bumps generation and rv; status in a main write is ignored. */
	cJSON_ReplaceItemInObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(d, "spec"),
	                                       "replicas", cJSON_CreateNumber(5));
	cJSON_ReplaceItemInObjectCaseSensitive(d, "status", J("{\"replicas\":9}"));
	assert_int_equal(ks_store_update(st, rt, "demo", "w", d, KS_W_MAIN, &u, &e), 0);
	assert_true(num(u, "metadata.generation") == 2);
	assert_true(num(u, "spec.replicas") == 5);
	assert_true(num(u, "status.replicas") == -1);
	assert_string_not_equal(str(u, "metadata.resourceVersion"), rv1);
	cJSON_Delete(u);

	/* The same stale object now conflicts. */
	assert_int_equal(ks_store_update(st, rt, "demo", "w", d, KS_W_MAIN, &u, &e), -409);
	assert_string_equal(e.reason, "Conflict");

	/* /status writes change only status, and not the generation. */
	cJSON *s = J("{\"metadata\":{\"name\":\"w\"},\"spec\":{\"replicas\":100},\"status\":{"
	             "\"readyReplicas\":1}}");
	assert_int_equal(ks_store_update(st, rt, "demo", "w", s, KS_W_STATUS, &u, &e), 0);
	assert_true(num(u, "status.readyReplicas") == 1);
	assert_true(num(u, "spec.replicas") == 5);
	assert_true(num(u, "metadata.generation") == 2);
	cJSON_Delete(u);
	cJSON_Delete(s);

	/* mutate (read-modify-write), with dry run storing nothing. */
	int n = 7;
	assert_int_equal(ks_store_mutate(st, rt, "demo", "w", set_replicas, &n,
	                                 KS_W_MAIN | KS_W_DRYRUN, &u, &e),
	                 0);
	assert_true(num(u, "spec.replicas") == 7);
	cJSON_Delete(u);
	assert_int_equal(ks_store_get(st, rt, "demo", "w", &u, &e), 0);
	assert_true(num(u, "spec.replicas") == 5);
	cJSON_Delete(u);
	assert_int_equal(ks_store_mutate(st, rt, "demo", "nope", set_replicas, &n, 0, &u, &e),
	                 -404);
	cJSON_Delete(d);
	ks_store_free(st);
}

static void test_list_selectors_paging(void **state)
{
	ks_store_t *st = new_store(256);
	const ks_rtype_t *rt = RT("", "configmaps");
	kubeapi_selector_t *l = NULL;
	cJSON *items;
	uint64_t rv;
	char cont[256];
	long rest;
	ks_err_t e;
	(void)state;
	for (int i = 0; i < 5; i++) {
		char body[128];
		snprintf(body, sizeof(body),
		         "{\"metadata\":{\"name\":\"c%d\",\"labels\":{\"i\":\"%d\",\"odd\":\"%s\"}}"
		         "}",
		         i, i, i % 2 ? "yes" : "no");
		assert_int_equal(create(st, rt, "demo", body, NULL), 0);
	}
	assert_int_equal(kubeapi_selector_parse("odd=no", &l, NULL, 0), 0);
	assert_int_equal(ks_store_list(st, rt, "demo", l, NULL, 2, NULL, &items, &rv, cont,
	                               sizeof(cont), &rest, &e),
	                 0);
	assert_int_equal(cJSON_GetArraySize(items), 2);
	assert_string_equal(str(cJSON_GetArrayItem(items, 1), "metadata.name"), "c2");
	assert_int_equal(rest, 1);
	assert_true(cont[0] != '\0');
	cJSON_Delete(items);
	char c2[256];
	snprintf(c2, sizeof(c2), "%s", cont);
	assert_int_equal(ks_store_list(st, rt, "demo", l, NULL, 2, c2, &items, &rv, cont,
	                               sizeof(cont), &rest, &e),
	                 0);
	assert_int_equal(cJSON_GetArraySize(items), 1);
	assert_string_equal(str(cJSON_GetArrayItem(items, 0), "metadata.name"), "c4");
	assert_string_equal(cont, "");
	cJSON_Delete(items);
	kubeapi_selector_free(l);
	/* All namespaces, and a bad continue token. */
	assert_int_equal(ks_store_list(st, rt, NULL, NULL, NULL, 0, NULL, &items, &rv, cont,
	                               sizeof(cont), &rest, &e),
	                 0);
	assert_int_equal(cJSON_GetArraySize(items), 5);
	cJSON_Delete(items);
	assert_int_equal(ks_store_list(st, rt, "demo", NULL, NULL, 0, "garbage", &items, &rv, cont,
	                               sizeof(cont), &rest, &e),
	                 -400);
	ks_store_free(st);
}

static void test_watch_from_rv_and_expiry(void **state)
{
	ks_store_t *st = new_store(16);
	const ks_rtype_t *rt = RT("", "configmaps");
	kubeapi_selector_t *l = NULL;
	ks_watch_t *w = NULL;
	ks_err_t e;
	size_t len;
	bool closed;
	char rv[32];
	(void)state;
	assert_int_equal(create(st, rt, "demo",
	                        "{\"metadata\":{\"name\":\"a\",\"labels\":{\"x\":\"1\"}}}", NULL),
	                 0);
	snprintf(rv, sizeof(rv), "%llu", (unsigned long long)ks_store_rv(st));
	assert_int_equal(kubeapi_selector_parse("x=1", &l, NULL, 0), 0);
	assert_int_equal(ks_watch_open(st, rt, "demo", l, NULL, rv, true, &w, &e), 0);
	/* Nothing yet: a bookmark when due, nothing otherwise. */
	char *t = ks_watch_next(w, 10, false, &len, &closed);
	assert_null(t);
	t = ks_watch_next(w, 10, true, &len, &closed);
	assert_non_null(strstr(t, "\"type\":\"BOOKMARK\""));
	free(t);
	/* A label change out of the selector is a DELETED for this watcher. */
	assert_int_equal(create(st, rt, "demo",
	                        "{\"metadata\":{\"name\":\"b\",\"labels\":{\"x\":\"1\"}}}", NULL),
	                 0);
	cJSON *u = J("{\"metadata\":{\"name\":\"a\",\"labels\":{\"x\":\"2\"}}}");
	assert_int_equal(ks_store_update(st, rt, "demo", "a", u, KS_W_MAIN, NULL, &e), 0);
	cJSON_Delete(u);
	assert_int_equal(create(st, rt, "demo",
	                        "{\"metadata\":{\"name\":\"c\",\"labels\":{\"x\":\"9\"}}}", NULL),
	                 0);
	t = ks_watch_next(w, 10, false, &len, &closed);
	assert_non_null(t);
	char *added = strstr(t, "\"type\":\"ADDED\"");
	char *deleted = strstr(t, "\"type\":\"DELETED\"");
	assert_non_null(added);
	assert_non_null(deleted);
	assert_true(added < deleted);
	assert_null(strstr(t, "\"name\":\"c\""));
	free(t);
	ks_watch_close(w);

	/* Initial list (rv 0), then drop_watches ends the stream. */
	assert_int_equal(ks_watch_open(st, rt, "demo", NULL, NULL, "0", false, &w, &e), 0);
	t = ks_watch_next(w, 10, false, &len, &closed);
	assert_non_null(t);
	assert_non_null(strstr(t, "\"name\":\"c\""));
	free(t);
	ks_store_drop_watches(st);
	t = ks_watch_next(w, 10, false, &len, &closed);
	free(t);
	assert_true(closed);
	ks_watch_close(w);

	/* History of 16: after 20 more writes, the old rv is expired. */
	for (int i = 0; i < 20; i++) {
		char body[96];
		snprintf(body, sizeof(body), "{\"metadata\":{\"name\":\"n%d\"}}", i);
		assert_int_equal(create(st, rt, "demo", body, NULL), 0);
	}
	assert_int_equal(ks_watch_open(st, rt, "demo", NULL, NULL, rv, false, &w, &e), -410);
	assert_string_equal(e.reason, "Expired");
	assert_int_equal(ks_watch_open(st, rt, "demo", NULL, NULL, "x1", false, &w, &e), -400);
	kubeapi_selector_free(l);
	ks_store_free(st);
}

typedef struct {
	int added, modified, deleted, resync;
	char last[64];
} seen_t;

static void on_event(void *ud, ks_ev_type_t type, const ks_rtype_t *rt, const cJSON *obj,
                     const cJSON *old)
{
	seen_t *s = ud;
	(void)rt;
	if (type == KS_EV_ADDED)
		s->added++;
	else if (type == KS_EV_MODIFIED) {
		s->modified++;
		assert_non_null(old);
	} else if (type == KS_EV_DELETED)
		s->deleted++;
	else
		s->resync++;
	if (obj)
		snprintf(s->last, sizeof(s->last), "%s", str(obj, "metadata.name"));
}

static void test_subscribers_and_deletes(void **state)
{
	ks_store_t *st = new_store(256);
	const ks_rtype_t *cm = RT("", "configmaps");
	const ks_rtype_t *pods = RT("", "pods");
	seen_t seen;
	cJSON *o = NULL;
	ks_err_t e;
	(void)state;
	memset(&seen, 0, sizeof(seen));
	int id = ks_store_subscribe(st, cm, on_event, &seen);
	assert_true(id >= 0);
	assert_int_equal(create(st, cm, "demo", "{\"metadata\":{\"name\":\"owner\"}}", &o), 0);
	char body[512];
	snprintf(body, sizeof(body),
	         "{\"metadata\":{\"name\":\"child\",\"ownerReferences\":[{\"apiVersion\":\"v1\","
	         "\"kind\":"
	         "\"ConfigMap\",\"name\":\"owner\",\"uid\":\"%s\"}]}}",
	         str(o, "metadata.uid"));
	cJSON_Delete(o);
	assert_int_equal(create(st, cm, "demo", body, NULL), 0);
	/* Events reach subscribers only on dispatch (the main loop). */
	assert_int_equal(seen.added, 0);
	ks_store_dispatch(st);
	assert_int_equal(seen.added, 2);

	/* Deleting the owner takes the dependent. */
	assert_int_equal(ks_store_delete(st, cm, "demo", "owner", NULL, NULL, 0, &o, &e), 0);
	cJSON_Delete(o);
	assert_int_equal(ks_store_get(st, cm, "demo", "child", &o, &e), -404);
	ks_store_dispatch(st);
	assert_int_equal(seen.deleted, 2);

	/* Finalizers hold the object until they are removed. */
	assert_int_equal(create(st, cm, "demo",
	                        "{\"metadata\":{\"name\":\"fin\",\"finalizers\":[\"x/y\"]}}", NULL),
	                 0);
	assert_int_equal(ks_store_delete(st, cm, "demo", "fin", NULL, NULL, 0, &o, &e), 0);
	assert_true(strlen(str(o, "metadata.deletionTimestamp")) > 0);
	cJSON_Delete(o);
	o = J("{\"metadata\":{\"name\":\"fin\",\"finalizers\":[]}}");
	assert_int_equal(ks_store_update(st, cm, "demo", "fin", o, KS_W_MAIN, NULL, &e), 0);
	cJSON_Delete(o);
	assert_int_equal(ks_store_get(st, cm, "demo", "fin", &o, &e), -404);

	/* Preconditions. */
	assert_int_equal(create(st, cm, "demo", "{\"metadata\":{\"name\":\"pre\"}}", NULL), 0);
	assert_int_equal(ks_store_delete(st, cm, "demo", "pre", "wrong-uid", NULL, 0, NULL, &e),
	                 -409);
	assert_int_equal(ks_store_delete(st, cm, "demo", "pre", NULL, "1", 0, NULL, &e), -409);

	/* Graceful pods: delete marks, force removes. */
	ks_store_set_graceful(st, pods, true);
	assert_int_equal(create(st, pods, "demo",
	                        "{\"metadata\":{\"name\":\"p\"},\"spec\":{\"containers\":[{"
	                        "\"name\":\"c\",\"image\":\"i\"}]}}",
	                        NULL),
	                 0);
	assert_int_equal(ks_store_delete(st, pods, "demo", "p", NULL, NULL, 0, &o, &e), 0);
	assert_true(num(o, "metadata.deletionGracePeriodSeconds") == 30);
	cJSON_Delete(o);
	assert_int_equal(ks_store_get(st, pods, "demo", "p", &o, &e), 0);
	cJSON_Delete(o);
	assert_int_equal(ks_store_delete(st, pods, "demo", "p", NULL, NULL, KS_DEL_FORCE, NULL, &e),
	                 0);
	assert_int_equal(ks_store_get(st, pods, "demo", "p", &o, &e), -404);

	/* Deleting the namespace deletes what is in it. */
	assert_int_equal(
	        ks_store_delete(st, RT("", "namespaces"), NULL, "demo", NULL, NULL, 0, NULL, &e),
	        0);
	assert_int_equal(ks_store_get(st, cm, "demo", "pre", &o, &e), -404);
	assert_false(ks_store_ns_exists(st, "demo"));
	ks_store_dispatch(st);
	assert_string_equal(seen.last, "pre");
	ks_store_unsubscribe(st, id);
	ks_store_free(st);
}

static void test_events_conversion_and_snapshot(void **state)
{
	ks_store_t *st = new_store(64);
	const ks_rtype_t *core = RT("", "events");
	const ks_rtype_t *evv1 = RT("events.k8s.io", "events");
	cJSON *o = NULL;
	ks_err_t e;
	char path[] = "/tmp/kubesim-store-XXXXXX";
	char err[256];
	(void)state;
	assert_int_equal(create(st, evv1, "demo",
	                        "{\"metadata\":{\"name\":\"e1\"},\"regarding\":{\"kind\":"
	                        "\"Deployment\",\"name\":\"w\"},"
	                        "\"note\":\"New size: "
	                        "3\",\"reason\":\"SuccessfulRescale\",\"type\":\"Normal\"}",
	                        NULL),
	                 0);
	assert_int_equal(ks_store_get(st, core, "demo", "e1", &o, &e), 0);
	assert_string_equal(str(o, "message"), "New size: 3");
	assert_string_equal(str(o, "involvedObject.name"), "w");
	assert_string_equal(str(o, "apiVersion"), "v1");
	cJSON_Delete(o);
	assert_int_equal(ks_store_get(st, evv1, "demo", "e1", &o, &e), 0);
	assert_string_equal(str(o, "apiVersion"), "events.k8s.io/v1");
	assert_string_equal(str(o, "note"), "New size: 3");
	cJSON_Delete(o);

	/* Snapshot round trip keeps objects and the rv counter. */
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	uint64_t rv = ks_store_rv(st);
	assert_true(ks_store_dirty(st));
	assert_int_equal(ks_store_save(st, path, err, sizeof(err)), 0);
	assert_false(ks_store_dirty(st));
	ks_store_t *st2 = ks_store_new(64);
	assert_int_equal(ks_store_load(st2, path, err, sizeof(err)), 0);
	assert_int_equal(ks_store_rv(st2), rv);
	assert_int_equal(ks_store_get(st2, core, "demo", "e1", &o, &e), 0);
	cJSON_Delete(o);
	assert_true(ks_store_ns_exists(st2, "demo"));
	/* Watches from before the restart are expired. */
	ks_watch_t *w = NULL;
	assert_int_equal(ks_watch_open(st2, core, "demo", NULL, NULL, "1", false, &w, &e), -410);
	ks_store_free(st2);
	/* A bad file is an error, a missing one is "nothing to load". */
	FILE *f = fopen(path, "w");
	fputs("{\"objects\":[]}", f);
	fclose(f);
	st2 = ks_store_new(64);
	assert_int_equal(ks_store_load(st2, path, err, sizeof(err)), -1);
	unlink(path);
	assert_int_equal(ks_store_load(st2, path, err, sizeof(err)), 1);
	ks_store_free(st2);
	ks_store_free(st);
	ks_store_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_create_metadata_and_defaults),
	        cmocka_unit_test(test_update_rules),
	        cmocka_unit_test(test_list_selectors_paging),
	        cmocka_unit_test(test_watch_from_rv_and_expiry),
	        cmocka_unit_test(test_subscribers_and_deletes),
	        cmocka_unit_test(test_events_conversion_and_snapshot),
	};
	return cmocka_run_group_tests_name("kubesim_store", tests, NULL, NULL);
}

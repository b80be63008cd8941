/* meta.k8s.io/v1 Table output: kubectl asks for it (Accept: ...;as=Table)
 * and prints the columns the server chooses, as kube-apiserver's printers
 * do for built-in kinds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "kubeapi/kubeapi.h"
#include "resources.h"

typedef void (*cell_fn)(const cJSON *obj, char *out, size_t cap);

typedef struct {
	const char *name;
	const char *type;
	const char *path; /* dotted path, or NULL with fn */
	cell_fn fn;
	int priority;
} col_t;

static long long parse_ts(const char *s)
{
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
	                 &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (long long)timegm(&tm);
}

/* Human age as kubectl prints it: 45s, 3m12s, 5h, 2d. */
static void fmt_age(const char *ts, char *out, size_t cap)
{
	long long t = parse_ts(ts);
	long long d;
	if (t < 0) {
		snprintf(out, cap, "<unknown>");
		return;
	}
	d = base_wall_ms() / 1000 - t;
	if (d < 0)
		d = 0;
	if (d < 120)
		snprintf(out, cap, "%llds", d);
	else if (d < 600)
		snprintf(out, cap, "%lldm%llds", d / 60, d % 60);
	else if (d < 3 * 3600)
		snprintf(out, cap, "%lldm", d / 60);
	else if (d < 48 * 3600)
		snprintf(out, cap, "%lldh", d / 3600);
	else
		snprintf(out, cap, "%lldd", d / 86400);
}

static const char *str_at(const cJSON *o, const char *path)
{
	const char *s = cJSON_GetStringValue(kubeapi_get_path(o, path));
	return s ? s : "";
}

static double num_at(const cJSON *o, const char *path)
{
	const cJSON *v = kubeapi_get_path(o, path);
	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static void c_age(const cJSON *o, char *out, size_t cap)
{
	fmt_age(str_at(o, "metadata.creationTimestamp"), out, cap);
}

static void c_pod_ready(const cJSON *o, char *out, size_t cap)
{
	int n = cJSON_GetArraySize(kubeapi_get_path(o, "spec.containers"));
	int r = 0;
	const cJSON *cs;
	cJSON_ArrayForEach(cs, kubeapi_get_path(o, "status.containerStatuses")) r +=
	        cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cs, "ready"));
	snprintf(out, cap, "%d/%d", r, n);
}

static void c_pod_status(const cJSON *o, char *out, size_t cap)
{
	const char *reason = str_at(o, "status.reason");
	const cJSON *cs;
	if (kubeapi_get_path(o, "metadata.deletionTimestamp")) {
		snprintf(out, cap, "Terminating");
		return;
	}
	cJSON_ArrayForEach(cs, kubeapi_get_path(o, "status.containerStatuses"))
	{
		const char *w = str_at(cs, "state.waiting.reason");
		const char *t = str_at(cs, "state.terminated.reason");
		if (*w) {
			snprintf(out, cap, "%s", w);
			return;
		}
		if (*t && strcmp(str_at(o, "status.phase"), "Running") != 0) {
			snprintf(out, cap, "%s", t);
			return;
		}
	}
	snprintf(out, cap, "%s", *reason ? reason : str_at(o, "status.phase"));
}

static void c_pod_restarts(const cJSON *o, char *out, size_t cap)
{
	int r = 0;
	const cJSON *cs;
	cJSON_ArrayForEach(cs, kubeapi_get_path(o, "status.containerStatuses")) r +=
	        (int)num_at(cs, "restartCount");
	snprintf(out, cap, "%d", r);
}

static void c_deploy_ready(const cJSON *o, char *out, size_t cap)
{
	snprintf(out, cap, "%.0f/%.0f", num_at(o, "status.readyReplicas"),
	         num_at(o, "spec.replicas"));
}

static void c_svc_ports(const cJSON *o, char *out, size_t cap)
{
	const cJSON *p;
	size_t n = 0;
	out[0] = '\0';
	cJSON_ArrayForEach(p, kubeapi_get_path(o, "spec.ports"))
	{
		int w = snprintf(out + n, cap - n, "%s%.0f/%s", n ? "," : "", num_at(p, "port"),
		                 str_at(p, "protocol"));
		if (w < 0 || n + (size_t)w >= cap)
			break;
		n += (size_t)w;
	}
	if (!n)
		snprintf(out, cap, "<none>");
}

static void c_external(const cJSON *o, char *out, size_t cap)
{
	snprintf(out, cap, "<none>");
	(void)o;
}

static void c_data_count(const cJSON *o, char *out, size_t cap)
{
	int n = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, "data")) +
	        cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, "binaryData"));
	snprintf(out, cap, "%d", n);
}

static void c_endpoints(const cJSON *o, char *out, size_t cap)
{
	const cJSON *ss, *a, *p;
	size_t n = 0;
	out[0] = '\0';
	cJSON_ArrayForEach(ss, cJSON_GetObjectItemCaseSensitive(o, "subsets"))
	{
		cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(ss, "addresses"))
		{
			cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(ss, "ports"))
			{
				int w = snprintf(out + n, cap - n, "%s%s:%.0f", n ? "," : "",
				                 str_at(a, "ip"), num_at(p, "port"));
				if (w < 0 || n + (size_t)w >= cap)
					return;
				n += (size_t)w;
			}
		}
	}
	if (!n)
		snprintf(out, cap, "<none>");
}

static void c_ev_last(const cJSON *o, char *out, size_t cap)
{
	const char *t = str_at(o, "lastTimestamp");
	if (!*t)
		t = str_at(o, "series.lastObservedTime");
	if (!*t)
		t = str_at(o, "eventTime");
	if (!*t)
		t = str_at(o, "metadata.creationTimestamp");
	fmt_age(t, out, cap);
}

static void c_ev_object(const cJSON *o, char *out, size_t cap)
{
	const char *k = str_at(o, "involvedObject.kind");
	char lower[64];
	size_t i;
	for (i = 0; k[i] && i + 1 < sizeof(lower); i++)
		lower[i] = (char)((k[i] >= 'A' && k[i] <= 'Z') ? k[i] + 32 : k[i]);
	lower[i] = '\0';
	snprintf(out, cap, "%s/%s", lower, str_at(o, "involvedObject.name"));
}

static void c_created(const cJSON *o, char *out, size_t cap)
{
	snprintf(out, cap, "%s", str_at(o, "metadata.creationTimestamp"));
}

static void c_sa_secrets(const cJSON *o, char *out, size_t cap)
{
	snprintf(out, cap, "%d",
	         cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, "secrets")));
}

#define NAME                                                                                       \
	{                                                                                          \
		"Name", "string", "metadata.name", NULL, 0                                         \
	}
#define AGE                                                                                        \
	{                                                                                          \
		"Age", "string", NULL, c_age, 0                                                    \
	}
#define END                                                                                        \
	{                                                                                          \
		NULL, NULL, NULL, NULL, 0                                                          \
	}

static const struct {
	const char *kind;
	col_t cols[10];
} TABLES[] = {
        {"Pod",
         {NAME,
          {"Ready", "string", NULL, c_pod_ready, 0},
          {"Status", "string", NULL, c_pod_status, 0},
          {"Restarts", "string", NULL, c_pod_restarts, 0},
          AGE,
          {"IP", "string", "status.podIP", NULL, 1},
          {"Node", "string", "spec.nodeName", NULL, 1},
          END}},
        {"Deployment",
         {NAME,
          {"Ready", "string", NULL, c_deploy_ready, 0},
          {"Up-to-date", "integer", "status.updatedReplicas", NULL, 0},
          {"Available", "integer", "status.availableReplicas", NULL, 0},
          AGE,
          END}},
        {"ReplicaSet",
         {NAME,
          {"Desired", "integer", "spec.replicas", NULL, 0},
          {"Current", "integer", "status.replicas", NULL, 0},
          {"Ready", "integer", "status.readyReplicas", NULL, 0},
          AGE,
          END}},
        {"Service",
         {NAME,
          {"Type", "string", "spec.type", NULL, 0},
          {"Cluster-IP", "string", "spec.clusterIP", NULL, 0},
          {"External-IP", "string", NULL, c_external, 0},
          {"Port(s)", "string", NULL, c_svc_ports, 0},
          AGE,
          END}},
        {"ConfigMap", {NAME, {"Data", "integer", NULL, c_data_count, 0}, AGE, END}},
        {"Secret",
         {NAME,
          {"Type", "string", "type", NULL, 0},
          {"Data", "integer", NULL, c_data_count, 0},
          AGE,
          END}},
        {"Namespace", {NAME, {"Status", "string", "status.phase", NULL, 0}, AGE, END}},
        {"Endpoints", {NAME, {"Endpoints", "string", NULL, c_endpoints, 0}, AGE, END}},
        {"Event",
         {{"Last Seen", "string", NULL, c_ev_last, 0},
          {"Type", "string", "type", NULL, 0},
          {"Reason", "string", "reason", NULL, 0},
          {"Object", "string", NULL, c_ev_object, 0},
          {"Message", "string", "message", NULL, 0},
          END}},
        {"Lease", {NAME, {"Holder", "string", "spec.holderIdentity", NULL, 0}, AGE, END}},
        {"ServiceAccount", {NAME, {"Secrets", "integer", NULL, c_sa_secrets, 0}, AGE, END}},
        {"Role", {NAME, {"Created At", "string", NULL, c_created, 0}, END}},
        {"ClusterRole", {NAME, {"Created At", "string", NULL, c_created, 0}, END}},
        {"RoleBinding", {NAME, {"Role", "string", "roleRef.name", NULL, 0}, AGE, END}},
        {"ClusterRoleBinding", {NAME, {"Role", "string", "roleRef.name", NULL, 0}, AGE, END}},
};

static const col_t GENERIC[] = {NAME, AGE, END};

cJSON *ks_table(const ks_rtype_t *rt, const cJSON *items, const char *list_rv, const char *cont,
                bool include_object)
{
	const col_t *cols = GENERIC;
	cJSON *t = cJSON_CreateObject();
	const cJSON *it;
	for (size_t i = 0; i < sizeof(TABLES) / sizeof(TABLES[0]); i++) {
		if (strcmp(TABLES[i].kind, rt->kind) == 0)
			cols = TABLES[i].cols;
	}
	cJSON_AddStringToObject(t, "kind", "Table");
	cJSON_AddStringToObject(t, "apiVersion", "meta.k8s.io/v1");
	cJSON *meta = cJSON_AddObjectToObject(t, "metadata");
	if (list_rv)
		cJSON_AddStringToObject(meta, "resourceVersion", list_rv);
	if (cont && *cont)
		cJSON_AddStringToObject(meta, "continue", cont);
	cJSON *cd = cJSON_AddArrayToObject(t, "columnDefinitions");
	for (const col_t *c = cols; c->name; c++) {
		cJSON *d = cJSON_CreateObject();
		cJSON_AddStringToObject(d, "name", c->name);
		cJSON_AddStringToObject(d, "type", c->type);
		cJSON_AddStringToObject(d, "format", c == cols && c->path ? "name" : "");
		cJSON_AddStringToObject(d, "description", "");
		cJSON_AddNumberToObject(d, "priority", c->priority);
		cJSON_AddItemToArray(cd, d);
	}
	cJSON *rows = cJSON_AddArrayToObject(t, "rows");
	cJSON_ArrayForEach(it, items)
	{
		cJSON *row = cJSON_CreateObject();
		cJSON *cells = cJSON_AddArrayToObject(row, "cells");
		for (const col_t *c = cols; c->name; c++) {
			char buf[1024];
			if (c->fn) {
				c->fn(it, buf, sizeof(buf));
				cJSON_AddItemToArray(cells, cJSON_CreateString(buf));
			} else {
				const cJSON *v = kubeapi_get_path(it, c->path);
				if (strcmp(c->type, "integer") == 0)
					cJSON_AddItemToArray(
					        cells, cJSON_CreateNumber(cJSON_IsNumber(v)
					                                          ? v->valuedouble
					                                          : 0));
				else
					cJSON_AddItemToArray(
					        cells, cJSON_CreateString(cJSON_IsString(v)
					                                          ? v->valuestring
					                                          : "<none>"));
			}
		}
		if (include_object) {
			cJSON_AddItemToObject(row, "object", cJSON_Duplicate(it, 1));
		} else {
			cJSON *pm = cJSON_CreateObject();
			cJSON_AddStringToObject(pm, "kind", "PartialObjectMetadata");
			cJSON_AddStringToObject(pm, "apiVersion", "meta.k8s.io/v1");
			cJSON_AddItemToObject(
			        pm, "metadata",
			        cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(it, "metadata"),
			                        1));
			cJSON_AddItemToObject(row, "object", pm);
		}
		cJSON_AddItemToArray(rows, row);
	}
	return t;
}

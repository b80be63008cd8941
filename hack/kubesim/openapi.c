/* A small OpenAPI v3 document set: enough for kubectl to see that every
 * served kind accepts the fieldValidation query parameter on PATCH, so it
 * validates on the server (kubectl apply --validate=strict) instead of
 * downloading full schemas. The PATCH request bodies deliberately do not
 * list application/strategic-merge-patch+json: kubectl then builds
 * strategic merge patches from its compiled-in Go types instead of from
 * schemas we do not serve. /openapi/v2 is not served (404). */
#include <stdio.h>
#include <string.h>

#include "openapi.h"

static void gv_key(const ks_rtype_t *rt, char *buf, size_t cap)
{
	if (rt->group[0])
		snprintf(buf, cap, "apis/%s/%s", rt->group, rt->version);
	else
		snprintf(buf, cap, "api/%s", rt->version);
}

cJSON *ks_openapi_root(void)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *paths = cJSON_AddObjectToObject(o, "paths");
	for (size_t i = 0; i < ks_rtypes_count(); i++) {
		char key[128], url[160];
		gv_key(&ks_rtypes()[i], key, sizeof(key));
		if (cJSON_GetObjectItemCaseSensitive(paths, key))
			continue;
		snprintf(url, sizeof(url), "/openapi/v3/%s", key);
		cJSON_AddStringToObject(cJSON_AddObjectToObject(paths, key), "serverRelativeURL",
		                        url);
	}
	return o;
}

static cJSON *param(const char *name, const char *in)
{
	cJSON *p = cJSON_CreateObject();
	cJSON_AddStringToObject(p, "name", name);
	cJSON_AddStringToObject(p, "in", in);
	if (strcmp(in, "path") == 0)
		cJSON_AddBoolToObject(p, "required", true);
	cJSON_AddStringToObject(cJSON_AddObjectToObject(p, "schema"), "type", "string");
	return p;
}

static cJSON *operation(const char *verb, const char *group, const char *version, const char *kind,
                        const char *op_id)
{
	cJSON *op = cJSON_CreateObject();
	cJSON_AddStringToObject(op, "operationId", op_id);
	cJSON *gvk = cJSON_AddObjectToObject(op, "x-kubernetes-group-version-kind");
	cJSON_AddStringToObject(gvk, "group", group);
	cJSON_AddStringToObject(gvk, "version", version);
	cJSON_AddStringToObject(gvk, "kind", kind);
	cJSON_AddStringToObject(op, "x-kubernetes-action", verb);
	cJSON *params = cJSON_AddArrayToObject(op, "parameters");
	cJSON_AddItemToArray(params, param("dryRun", "query"));
	if (strcmp(verb, "patch") == 0 || strcmp(verb, "put") == 0 || strcmp(verb, "post") == 0) {
		cJSON_AddItemToArray(params, param("fieldManager", "query"));
		cJSON_AddItemToArray(params, param("fieldValidation", "query"));
		cJSON *content = cJSON_AddObjectToObject(cJSON_AddObjectToObject(op, "requestBody"),
		                                         "content");
		if (strcmp(verb, "patch") == 0) {
			cJSON_AddObjectToObject(
			        cJSON_AddObjectToObject(content, "application/json-patch+json"),
			        "schema");
			cJSON_AddObjectToObject(
			        cJSON_AddObjectToObject(content, "application/merge-patch+json"),
			        "schema");
		} else {
			cJSON_AddObjectToObject(
			        cJSON_AddObjectToObject(content, "application/json"), "schema");
		}
	}
	cJSON *resp = cJSON_AddObjectToObject(op, "responses");
	cJSON_AddStringToObject(cJSON_AddObjectToObject(resp, "200"), "description", "OK");
	return op;
}

static void add_paths(cJSON *paths, const ks_rtype_t *rt)
{
	char base[256], item[320], sub[360], id[160];
	if (rt->group[0])
		snprintf(base, sizeof(base), "/apis/%s/%s/%s%s", rt->group, rt->version,
		         rt->namespaced ? "namespaces/{namespace}/" : "", rt->plural);
	else
		snprintf(base, sizeof(base), "/api/%s/%s%s", rt->version,
		         rt->namespaced ? "namespaces/{namespace}/" : "", rt->plural);
	snprintf(item, sizeof(item), "%s/{name}", base);

	cJSON *coll = cJSON_AddObjectToObject(paths, base);
	snprintf(id, sizeof(id), "list%s", rt->kind);
	cJSON_AddItemToObject(coll, "get", operation("list", rt->group, rt->version, rt->kind, id));
	snprintf(id, sizeof(id), "create%s", rt->kind);
	cJSON_AddItemToObject(coll, "post",
	                      operation("post", rt->group, rt->version, rt->kind, id));
	cJSON *p = cJSON_AddArrayToObject(coll, "parameters");
	if (rt->namespaced)
		cJSON_AddItemToArray(p, param("namespace", "path"));

	cJSON *one = cJSON_AddObjectToObject(paths, item);
	snprintf(id, sizeof(id), "read%s", rt->kind);
	cJSON_AddItemToObject(one, "get", operation("get", rt->group, rt->version, rt->kind, id));
	snprintf(id, sizeof(id), "replace%s", rt->kind);
	cJSON_AddItemToObject(one, "put", operation("put", rt->group, rt->version, rt->kind, id));
	snprintf(id, sizeof(id), "patch%s", rt->kind);
	cJSON_AddItemToObject(one, "patch",
	                      operation("patch", rt->group, rt->version, rt->kind, id));
	snprintf(id, sizeof(id), "delete%s", rt->kind);
	cJSON_AddItemToObject(one, "delete",
	                      operation("delete", rt->group, rt->version, rt->kind, id));
	p = cJSON_AddArrayToObject(one, "parameters");
	cJSON_AddItemToArray(p, param("name", "path"));
	if (rt->namespaced)
		cJSON_AddItemToArray(p, param("namespace", "path"));
	if (rt->flags & KS_RT_SCALE) {
		snprintf(sub, sizeof(sub), "%s/scale", item);
		cJSON *sc = cJSON_AddObjectToObject(paths, sub);
		snprintf(id, sizeof(id), "patch%sScale", rt->kind);
		cJSON_AddItemToObject(sc, "patch",
		                      operation("patch", "autoscaling", "v1", "Scale", id));
	}
}

cJSON *ks_openapi_gv(const char *gvpath)
{
	cJSON *doc = NULL;
	cJSON *paths = NULL;
	for (size_t i = 0; i < ks_rtypes_count(); i++) {
		char key[128];
		const ks_rtype_t *rt = &ks_rtypes()[i];
		gv_key(rt, key, sizeof(key));
		if (strcmp(key, gvpath) != 0)
			continue;
		if (!doc) {
			doc = cJSON_CreateObject();
			cJSON_AddStringToObject(doc, "openapi", "3.0.0");
			cJSON *info = cJSON_AddObjectToObject(doc, "info");
			cJSON_AddStringToObject(info, "title", "Kubernetes (kubesim)");
			cJSON_AddStringToObject(info, "version", "v1.32.0");
			paths = cJSON_AddObjectToObject(doc, "paths");
			cJSON_AddObjectToObject(cJSON_AddObjectToObject(doc, "components"),
			                        "schemas");
		}
		add_paths(paths, rt);
	}
	return doc;
}

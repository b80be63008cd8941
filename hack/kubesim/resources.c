#include "resources.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/base64.h"
#include "base/clock.h"

/* Order matters only for discovery output. storage = own index unless the
 * objects live in another type's store (events.k8s.io events). */
static const ks_rtype_t RT[] = {
        {"", "v1", "Namespace", "namespaces", "namespace", false, "ns", KS_RT_STATUS, "", 0},
        {"", "v1", "ConfigMap", "configmaps", "configmap", true, "cm", 0, "", 1},
        {"", "v1", "Secret", "secrets", "secret", true, "", 0, "", 2},
        {"", "v1", "Pod", "pods", "pod", true, "po", KS_RT_STATUS | KS_RT_LOG, "all", 3},
        {"", "v1", "Service", "services", "service", true, "svc", KS_RT_STATUS, "all", 4},
        {"", "v1", "Endpoints", "endpoints", "endpoints", true, "ep", 0, "", 5},
        {"", "v1", "Event", "events", "event", true, "ev", 0, "", 6},
        {"", "v1", "ServiceAccount", "serviceaccounts", "serviceaccount", true, "sa", 0, "", 7},
        {"apps", "v1", "Deployment", "deployments", "deployment", true, "deploy",
         KS_RT_STATUS | KS_RT_SCALE | KS_RT_GENERATION, "all", 8},
        {"apps", "v1", "ReplicaSet", "replicasets", "replicaset", true, "rs",
         KS_RT_STATUS | KS_RT_SCALE | KS_RT_GENERATION, "all", 9},
        {"events.k8s.io", "v1", "Event", "events", "event", true, "ev", 0, "", 6},
        {"coordination.k8s.io", "v1", "Lease", "leases", "lease", true, "", 0, "", 11},
        {"rbac.authorization.k8s.io", "v1", "Role", "roles", "role", true, "", 0, "", 12},
        {"rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", "rolebinding", true, "",
         0, "", 13},
        {"rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", "clusterrole", false, "",
         0, "", 14},
        {"rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings",
         "clusterrolebinding", false, "", 0, "", 15},
};

#define NRT (sizeof(RT) / sizeof(RT[0]))

static const char *GROUPS[] = {"apps", "events.k8s.io", "coordination.k8s.io",
                               "rbac.authorization.k8s.io", "authorization.k8s.io"};

int ks_err_set(ks_err_t *e, int code, const char *reason, const char *fmt, ...)
{
	va_list ap;
	e->code = code;
	e->reason = reason;
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
	return -code;
}

const ks_rtype_t *ks_rtypes(void)
{
	return RT;
}
size_t ks_rtypes_count(void)
{
	return NRT;
}
int ks_rtype_index(const ks_rtype_t *rt)
{
	return (int)(rt - RT);
}

const ks_rtype_t *ks_rtype_find(const char *group, const char *version, const char *plural)
{
	for (size_t i = 0; i < NRT; i++) {
		if (strcmp(RT[i].group, group) == 0 && strcmp(RT[i].version, version) == 0 &&
		    strcmp(RT[i].plural, plural) == 0)
			return &RT[i];
	}
	return NULL;
}

char *ks_rtype_api_version(const ks_rtype_t *rt, char *buf, size_t cap)
{
	if (rt->group[0])
		snprintf(buf, cap, "%s/%s", rt->group, rt->version);
	else
		snprintf(buf, cap, "%s", rt->version);
	return buf;
}

const ks_rtype_t *ks_rtype_by_kind(const char *api_version, const char *kind)
{
	char av[128];
	for (size_t i = 0; i < NRT; i++) {
		if (strcmp(RT[i].kind, kind) == 0 &&
		    strcmp(ks_rtype_api_version(&RT[i], av, sizeof(av)), api_version) == 0)
			return &RT[i];
	}
	return NULL;
}

char *ks_timestamp(char *buf, size_t cap)
{
	return base_format_rfc3339(base_wall_ms(), buf, cap);
}

/* ---- discovery ----------------------------------------------------------- */

cJSON *ks_discovery_api_versions(const char *server_addr)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "kind", "APIVersions");
	cJSON *v = cJSON_AddArrayToObject(o, "versions");
	cJSON_AddItemToArray(v, cJSON_CreateString("v1"));
	cJSON *a = cJSON_AddArrayToObject(o, "serverAddressByClientCIDRs");
	cJSON *e = cJSON_CreateObject();
	cJSON_AddStringToObject(e, "clientCIDR", "0.0.0.0/0");
	cJSON_AddStringToObject(e, "serverAddress", server_addr);
	cJSON_AddItemToArray(a, e);
	return o;
}

static cJSON *group_obj(const char *g)
{
	cJSON *o = cJSON_CreateObject();
	char gv[128];
	cJSON_AddStringToObject(o, "name", g);
	snprintf(gv, sizeof(gv), "%s/v1", g);
	cJSON *vs = cJSON_AddArrayToObject(o, "versions");
	cJSON *v = cJSON_CreateObject();
	cJSON_AddStringToObject(v, "groupVersion", gv);
	cJSON_AddStringToObject(v, "version", "v1");
	cJSON_AddItemToArray(vs, v);
	cJSON_AddItemToObject(o, "preferredVersion", cJSON_Duplicate(v, 1));
	return o;
}

cJSON *ks_discovery_groups(void)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "kind", "APIGroupList");
	cJSON_AddStringToObject(o, "apiVersion", "v1");
	cJSON *gs = cJSON_AddArrayToObject(o, "groups");
	for (size_t i = 0; i < sizeof(GROUPS) / sizeof(GROUPS[0]); i++)
		cJSON_AddItemToArray(gs, group_obj(GROUPS[i]));
	return o;
}

cJSON *ks_discovery_group(const char *group)
{
	for (size_t i = 0; i < sizeof(GROUPS) / sizeof(GROUPS[0]); i++) {
		if (strcmp(GROUPS[i], group) == 0) {
			cJSON *o = group_obj(group);
			cJSON_AddStringToObject(o, "kind", "APIGroup");
			cJSON_AddStringToObject(o, "apiVersion", "v1");
			return o;
		}
	}
	return NULL;
}

static void add_words(cJSON *o, const char *key, const char *csv)
{
	cJSON *a = cJSON_AddArrayToObject(o, key);
	char buf[128];
	snprintf(buf, sizeof(buf), "%s", csv);
	char *save = NULL;
	for (char *w = strtok_r(buf, ",", &save); w; w = strtok_r(NULL, ",", &save))
		cJSON_AddItemToArray(a, cJSON_CreateString(w));
}

static cJSON *res_entry(const char *name, const char *singular, bool ns, const char *kind,
                        const char *verbs, const char *group, const char *version)
{
	cJSON *r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "name", name);
	cJSON_AddStringToObject(r, "singularName", singular);
	cJSON_AddBoolToObject(r, "namespaced", ns);
	if (group) {
		cJSON_AddStringToObject(r, "group", group);
		cJSON_AddStringToObject(r, "version", version);
	}
	cJSON_AddStringToObject(r, "kind", kind);
	add_words(r, "verbs", verbs);
	return r;
}

cJSON *ks_discovery_resources(const char *group, const char *version)
{
	cJSON *o;
	cJSON *list;
	char gv[128];
	bool any = false;

	if (strcmp(version, "v1") != 0)
		return NULL;
	if (strcmp(group, "authorization.k8s.io") == 0) {
		/* Served by the HTTP layer: every user may do everything. */
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "kind", "APIResourceList");
		cJSON_AddStringToObject(o, "apiVersion", "v1");
		cJSON_AddStringToObject(o, "groupVersion", "authorization.k8s.io/v1");
		list = cJSON_AddArrayToObject(o, "resources");
		cJSON_AddItemToArray(
		        list, res_entry("selfsubjectaccessreviews", "selfsubjectaccessreview",
		                        false, "SelfSubjectAccessReview", "create", NULL, NULL));
		return o;
	}
	for (size_t i = 0; i < NRT && !any; i++)
		any = strcmp(RT[i].group, group) == 0;
	if (!any)
		return NULL;
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "kind", "APIResourceList");
	cJSON_AddStringToObject(o, "apiVersion", "v1");
	snprintf(gv, sizeof(gv), "%s%s%s", group, group[0] ? "/" : "", version);
	cJSON_AddStringToObject(o, "groupVersion", gv);
	list = cJSON_AddArrayToObject(o, "resources");
	for (size_t i = 0; i < NRT; i++) {
		const ks_rtype_t *rt = &RT[i];
		char sub[128];
		if (strcmp(rt->group, group) != 0)
			continue;
		cJSON *r = res_entry(rt->plural, rt->singular, rt->namespaced, rt->kind,
		                     "create,delete,deletecollection,get,list,patch,update,watch",
		                     NULL, NULL);
		if (rt->short_names[0])
			add_words(r, "shortNames", rt->short_names);
		if (rt->categories[0])
			add_words(r, "categories", rt->categories);
		cJSON_AddStringToObject(r, "storageVersionHash", rt->kind);
		cJSON_AddItemToArray(list, r);
		if (rt->flags & KS_RT_STATUS) {
			snprintf(sub, sizeof(sub), "%s/status", rt->plural);
			cJSON_AddItemToArray(list, res_entry(sub, "", rt->namespaced, rt->kind,
			                                     "get,patch,update", NULL, NULL));
		}
		if (rt->flags & KS_RT_SCALE) {
			snprintf(sub, sizeof(sub), "%s/scale", rt->plural);
			cJSON_AddItemToArray(list,
			                     res_entry(sub, "", rt->namespaced, "Scale",
			                               "get,patch,update", "autoscaling", "v1"));
		}
		if (rt->flags & KS_RT_LOG) {
			snprintf(sub, sizeof(sub), "%s/log", rt->plural);
			cJSON_AddItemToArray(
			        list, res_entry(sub, "", rt->namespaced, "Pod", "get", NULL, NULL));
		}
	}
	return o;
}

/* ---- defaulting and validation ------------------------------------------ */

static cJSON *obj_child(cJSON *parent, const char *key)
{
	cJSON *c = cJSON_GetObjectItemCaseSensitive(parent, key);
	if (!cJSON_IsObject(c)) {
		if (c)
			cJSON_DeleteItemFromObjectCaseSensitive(parent, key);
		c = cJSON_AddObjectToObject(parent, key);
	}
	return c;
}

static void def_str(cJSON *o, const char *key, const char *val)
{
	if (o && !cJSON_GetObjectItemCaseSensitive(o, key))
		cJSON_AddStringToObject(o, key, val);
}

static void def_num(cJSON *o, const char *key, double val)
{
	if (o && !cJSON_GetObjectItemCaseSensitive(o, key))
		cJSON_AddNumberToObject(o, key, val);
}

/* DNS-1123 subdomain: lowercase alphanumerics, '-' and '.', <= 253. */
static bool valid_name(const char *s, bool label)
{
	size_t n = strlen(s);
	if (n == 0 || n > (label ? 63u : 253u))
		return false;
	if (!isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!(islower(c) || isdigit(c) || c == '-' || (c == '.' && !label)))
			return false;
	}
	return true;
}

static void default_container(cJSON *c)
{
	const cJSON *img = cJSON_GetObjectItemCaseSensitive(c, "image");
	bool latest = true;
	if (cJSON_IsString(img)) {
		const char *slash = strrchr(img->valuestring, '/');
		const char *colon = strchr(slash ? slash : img->valuestring, ':');
		latest = !colon || strcmp(colon, ":latest") == 0;
	}
	def_str(c, "imagePullPolicy", latest ? "Always" : "IfNotPresent");
	def_str(c, "terminationMessagePath", "/dev/termination-log");
	def_str(c, "terminationMessagePolicy", "File");
	def_num(obj_child(c, "resources"), "__unused", 0);
	cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(c, "resources"),
	                                        "__unused");
	cJSON *p;
	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(c, "ports"))
	        def_str(p, "protocol", "TCP");
}

static int check_pod_spec(cJSON *spec, const char *where, ks_err_t *e)
{
	cJSON *cs = cJSON_GetObjectItemCaseSensitive(spec, "containers");
	cJSON *c;
	if (!cJSON_IsArray(cs) || cJSON_GetArraySize(cs) == 0)
		return ks_err_set(e, 422, "Invalid", "%s.containers: Required value", where);
	cJSON_ArrayForEach(c, cs)
	{
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(c, "name");
		const cJSON *img = cJSON_GetObjectItemCaseSensitive(c, "image");
		if (!cJSON_IsString(n) || !valid_name(n->valuestring, true))
			return ks_err_set(e, 422, "Invalid", "%s.containers.name: Invalid value",
			                  where);
		if (!cJSON_IsString(img) || !img->valuestring[0])
			return ks_err_set(e, 422, "Invalid",
			                  "%s.containers[%s].image: Required value", where,
			                  n->valuestring);
		default_container(c);
	}
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(spec, "initContainers"))
	        default_container(c);
	def_str(spec, "restartPolicy", "Always");
	def_num(spec, "terminationGracePeriodSeconds", 30);
	def_str(spec, "dnsPolicy", "ClusterFirst");
	def_str(spec, "schedulerName", "default-scheduler");
	def_str(spec, "serviceAccountName", "default");
	def_str(spec, "serviceAccount",
	        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(spec, "serviceAccountName")));
	obj_child(spec, "securityContext");
	return 0;
}

static int prepare_deployment(const ks_rtype_t *rt, cJSON *obj, ks_err_t *e)
{
	cJSON *spec = obj_child(obj, "spec");
	cJSON *tmpl = cJSON_GetObjectItemCaseSensitive(spec, "template");
	cJSON *sel = cJSON_GetObjectItemCaseSensitive(spec, "selector");
	cJSON *ml, *l;
	def_num(spec, "replicas", 1);
	const cJSON *r = cJSON_GetObjectItemCaseSensitive(spec, "replicas");
	if (!cJSON_IsNumber(r) || r->valuedouble < 0)
		return ks_err_set(
		        e, 422, "Invalid",
		        "spec.replicas: Invalid value: must be greater than or equal to 0");
	def_num(spec, "revisionHistoryLimit", 10);
	if (strcmp(rt->kind, "Deployment") == 0) {
		def_num(spec, "progressDeadlineSeconds", 600);
		cJSON *st = obj_child(spec, "strategy");
		def_str(st, "type", "RollingUpdate");
		const char *stype =
		        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(st, "type"));
		if (stype && strcmp(stype, "RollingUpdate") == 0) {
			cJSON *ru = obj_child(st, "rollingUpdate");
			def_str(ru, "maxUnavailable", "25%");
			def_str(ru, "maxSurge", "25%");
		}
	}
	if (!cJSON_IsObject(sel))
		return ks_err_set(e, 422, "Invalid", "spec.selector: Required value");
	if (!cJSON_IsObject(tmpl))
		return ks_err_set(e, 422, "Invalid", "spec.template: Required value");
	ml = cJSON_GetObjectItemCaseSensitive(sel, "matchLabels");
	l = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(tmpl, "metadata"),
	                                     "labels");
	cJSON *kv;
	cJSON_ArrayForEach(kv, ml)
	{
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(l, kv->string);
		if (!cJSON_IsString(t) || !cJSON_IsString(kv) ||
		    strcmp(t->valuestring, kv->valuestring))
			return ks_err_set(
			        e, 422, "Invalid",
			        "spec.template.metadata.labels: Invalid value: `selector` does "
			        "not match template `labels`");
	}
	return check_pod_spec(obj_child(tmpl, "spec"), "spec.template.spec", e);
}

static int prepare_service(cJSON *obj, const cJSON *old, unsigned (*alloc_ip)(void *), void *ud,
                           ks_err_t *e)
{
	cJSON *spec = obj_child(obj, "spec");
	cJSON *p;
	def_str(spec, "type", "ClusterIP");
	def_str(spec, "sessionAffinity", "None");
	const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(spec, "type"));
	if (!type || (strcmp(type, "ClusterIP") && strcmp(type, "NodePort") &&
	              strcmp(type, "LoadBalancer") && strcmp(type, "ExternalName")))
		return ks_err_set(e, 422, "Invalid", "spec.type: Unsupported value: \"%s\"",
		                  type ? type : "");
	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(spec, "ports"))
	{
		const cJSON *port = cJSON_GetObjectItemCaseSensitive(p, "port");
		if (!cJSON_IsNumber(port) || port->valuedouble < 1 || port->valuedouble > 65535)
			return ks_err_set(e, 422, "Invalid", "spec.ports.port: Invalid value");
		def_str(p, "protocol", "TCP");
		def_num(p, "targetPort", port->valuedouble);
	}
	if (strcmp(type, "ExternalName") == 0)
		return 0;
	if (!cJSON_GetObjectItemCaseSensitive(spec, "clusterIP")) {
		const cJSON *oldip = cJSON_GetObjectItemCaseSensitive(
		        cJSON_GetObjectItemCaseSensitive(old, "spec"), "clusterIP");
		if (cJSON_IsString(oldip)) {
			cJSON_AddStringToObject(spec, "clusterIP", oldip->valuestring);
		} else {
			char ip[32];
			unsigned n = alloc_ip ? alloc_ip(ud) : 0x0A600001u;
			if (n == 0)
				return ks_err_set(e, 500, "InternalError",
				                  "failed to allocate a serviceIP: range is full");
			snprintf(ip, sizeof(ip), "%u.%u.%u.%u", n >> 24, (n >> 16) & 255,
			         (n >> 8) & 255, n & 255);
			cJSON_AddStringToObject(spec, "clusterIP", ip);
		}
	}
	if (!cJSON_GetObjectItemCaseSensitive(spec, "clusterIPs")) {
		cJSON *a = cJSON_AddArrayToObject(spec, "clusterIPs");
		cJSON_AddItemToArray(a,
		                     cJSON_CreateString(cJSON_GetStringValue(
		                             cJSON_GetObjectItemCaseSensitive(spec, "clusterIP"))));
	}
	if (!cJSON_GetObjectItemCaseSensitive(spec, "ipFamilies")) {
		cJSON *a = cJSON_AddArrayToObject(spec, "ipFamilies");
		cJSON_AddItemToArray(a, cJSON_CreateString("IPv4"));
	}
	def_str(spec, "ipFamilyPolicy", "SingleStack");
	def_str(spec, "internalTrafficPolicy", "Cluster");
	obj_child(obj_child(obj, "status"), "loadBalancer");
	return 0;
}

static bool valid_base64(const char *s)
{
	size_t n = strlen(s);
	if (n % 4)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!(isalnum(c) || c == '+' || c == '/' || (c == '=' && i >= n - 2)))
			return false;
	}
	return true;
}

static int prepare_secret(cJSON *obj, ks_err_t *e)
{
	cJSON *sd = cJSON_DetachItemFromObjectCaseSensitive(obj, "stringData");
	cJSON *kv;
	const char *ty = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, "type"));
	if (ty && !*ty)
		cJSON_DeleteItemFromObjectCaseSensitive(obj, "type");
	def_str(obj, "type", "Opaque");
	if (sd) {
		cJSON *data = obj_child(obj, "data");
		cJSON_ArrayForEach(kv, sd)
		{
			char *enc = cJSON_IsString(kv) ? base_base64_encode(kv->valuestring,
			                                                    strlen(kv->valuestring))
			                               : NULL;
			if (!enc) {
				cJSON_Delete(sd);
				return ks_err_set(e, 422, "Invalid",
				                  "stringData[%s]: Invalid value", kv->string);
			}
			cJSON_DeleteItemFromObjectCaseSensitive(data, kv->string);
			cJSON_AddStringToObject(data, kv->string, enc);
			free(enc);
		}
		cJSON_Delete(sd);
	}
	cJSON_ArrayForEach(kv, cJSON_GetObjectItemCaseSensitive(obj, "data"))
	{
		if (!cJSON_IsString(kv) || !valid_base64(kv->valuestring))
			return ks_err_set(
			        e, 400, "BadRequest",
			        "Secret in version \"v1\" cannot be handled as a Secret: illegal "
			        "base64 data in data[%s]",
			        kv->string);
	}
	return 0;
}

int ks_prepare(const ks_rtype_t *rt, cJSON *obj, const cJSON *old, unsigned (*alloc_ip)(void *),
               void *ud, ks_err_t *e)
{
	char av[128];
	cJSON *meta;
	const cJSON *name;
	const cJSON *v;

	if (!cJSON_IsObject(obj))
		return ks_err_set(e, 400, "BadRequest", "the body is not a JSON object");
	v = cJSON_GetObjectItemCaseSensitive(obj, "kind");
	if (v && (!cJSON_IsString(v) || strcmp(v->valuestring, rt->kind) != 0))
		return ks_err_set(e, 400, "BadRequest",
		                  "the kind \"%s\" does not match the resource %s",
		                  cJSON_IsString(v) ? v->valuestring : "?", rt->plural);
	ks_rtype_api_version(rt, av, sizeof(av));
	v = cJSON_GetObjectItemCaseSensitive(obj, "apiVersion");
	if (v && (!cJSON_IsString(v) || strcmp(v->valuestring, av) != 0))
		return ks_err_set(e, 400, "BadRequest", "the apiVersion \"%s\" does not match %s",
		                  cJSON_IsString(v) ? v->valuestring : "?", av);
	cJSON_DeleteItemFromObjectCaseSensitive(obj, "kind");
	cJSON_DeleteItemFromObjectCaseSensitive(obj, "apiVersion");
	{
		/* apiVersion and kind first, as Kubernetes prints them. */
		cJSON *rest = cJSON_CreateObject();
		if (!rest)
			return ks_err_set(e, 500, "InternalError", "out of memory");
		while (obj->child) {
			cJSON *c = cJSON_DetachItemViaPointer(obj, obj->child);
			cJSON_AddItemToArray(rest, c);
		}
		cJSON_AddStringToObject(obj, "apiVersion", av);
		cJSON_AddStringToObject(obj, "kind", rt->kind);
		while (rest->child) {
			cJSON *c = cJSON_DetachItemViaPointer(rest, rest->child);
			cJSON_AddItemToArray(obj, c);
		}
		cJSON_Delete(rest);
	}
	meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	if (!cJSON_IsObject(meta))
		return ks_err_set(e, 422, "Invalid", "metadata: Required value");
	name = cJSON_GetObjectItemCaseSensitive(meta, "name");
	if (!cJSON_IsString(name) ||
	    !valid_name(name->valuestring,
	                strcmp(rt->kind, "Namespace") == 0 || strcmp(rt->kind, "Service") == 0))
		return ks_err_set(
		        e, 422, "Invalid",
		        "%s \"%s\" is invalid: metadata.name: Invalid value: a lowercase RFC "
		        "1123 name must consist of lower case alphanumeric characters, '-' or "
		        "'.'",
		        rt->kind, cJSON_IsString(name) ? name->valuestring : "");
	v = cJSON_GetObjectItemCaseSensitive(meta, "labels");
	if (v && !cJSON_IsNull(v)) {
		const cJSON *kv;
		if (!cJSON_IsObject(v))
			return ks_err_set(e, 400, "BadRequest", "metadata.labels is not an object");
		cJSON_ArrayForEach(kv, v)
		{
			if (!cJSON_IsString(kv))
				return ks_err_set(e, 400, "BadRequest",
				                  "metadata.labels[%s] is not a string",
				                  kv->string);
		}
	}
	if (strcmp(rt->kind, "Namespace") == 0) {
		def_str(obj_child(obj, "status"), "phase", "Active");
		cJSON *fin = obj_child(obj, "spec");
		(void)fin;
	} else if (strcmp(rt->kind, "Pod") == 0) {
		int rc = check_pod_spec(obj_child(obj, "spec"), "spec", e);
		if (rc)
			return rc;
		cJSON *st = obj_child(obj, "status");
		def_str(st, "phase", "Pending");
		def_str(st, "qosClass", "BestEffort");
	} else if (strcmp(rt->kind, "Deployment") == 0 || strcmp(rt->kind, "ReplicaSet") == 0) {
		int rc = prepare_deployment(rt, obj, e);
		if (rc)
			return rc;
		obj_child(obj, "status");
	} else if (strcmp(rt->kind, "Service") == 0) {
		return prepare_service(obj, old, alloc_ip, ud, e);
	} else if (strcmp(rt->kind, "Secret") == 0) {
		return prepare_secret(obj, e);
	}
	return 0;
}

/* ---- conversions ------------------------------------------------------- */

static const char *EVMAP[][2] = {
        {"involvedObject", "regarding"},
        {"message", "note"},
        {"source", "deprecatedSource"},
        {"firstTimestamp", "deprecatedFirstTimestamp"},
        {"lastTimestamp", "deprecatedLastTimestamp"},
        {"count", "deprecatedCount"},
        {"reportingComponent", "reportingController"},
};

static void rename_keys(cJSON *ev, int from, int to)
{
	for (size_t i = 0; i < sizeof(EVMAP) / sizeof(EVMAP[0]); i++) {
		cJSON *v = cJSON_DetachItemFromObjectCaseSensitive(ev, EVMAP[i][from]);
		if (v)
			cJSON_AddItemToObject(ev, EVMAP[i][to], v);
	}
}

void ks_event_to_core(cJSON *ev)
{
	rename_keys(ev, 1, 0);
	cJSON_DeleteItemFromObjectCaseSensitive(ev, "apiVersion");
	cJSON_DeleteItemFromObjectCaseSensitive(ev, "kind");
	cJSON_AddStringToObject(ev, "apiVersion", "v1");
	cJSON_AddStringToObject(ev, "kind", "Event");
}

void ks_event_from_core(cJSON *ev)
{
	rename_keys(ev, 0, 1);
	cJSON_ReplaceItemInObjectCaseSensitive(ev, "apiVersion",
	                                       cJSON_CreateString("events.k8s.io/v1"));
}

cJSON *ks_scale_from(const ks_rtype_t *rt, const cJSON *obj)
{
	cJSON *s = cJSON_CreateObject();
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	const cJSON *spec = cJSON_GetObjectItemCaseSensitive(obj, "spec");
	const cJSON *status = cJSON_GetObjectItemCaseSensitive(obj, "status");
	const cJSON *f;
	cJSON *m;
	cJSON_AddStringToObject(s, "kind", "Scale");
	cJSON_AddStringToObject(s, "apiVersion", "autoscaling/v1");
	m = cJSON_AddObjectToObject(s, "metadata");
	const char *keys[] = {"name", "namespace", "uid", "resourceVersion", "creationTimestamp"};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		f = cJSON_GetObjectItemCaseSensitive(meta, keys[i]);
		if (f)
			cJSON_AddItemToObject(m, keys[i], cJSON_Duplicate(f, 1));
	}
	f = cJSON_GetObjectItemCaseSensitive(spec, "replicas");
	cJSON_AddNumberToObject(cJSON_AddObjectToObject(s, "spec"), "replicas",
	                        cJSON_IsNumber(f) ? f->valuedouble : 1);
	cJSON *st = cJSON_AddObjectToObject(s, "status");
	f = cJSON_GetObjectItemCaseSensitive(status, "replicas");
	cJSON_AddNumberToObject(st, "replicas", cJSON_IsNumber(f) ? f->valuedouble : 0);
	/* status.selector in label-selector text form, as the HPA reads it. */
	const cJSON *ml = cJSON_GetObjectItemCaseSensitive(
	        cJSON_GetObjectItemCaseSensitive(spec, "selector"), "matchLabels");
	char sel[1024];
	size_t o = 0;
	sel[0] = '\0';
	cJSON_ArrayForEach(f, ml)
	{
		int n = snprintf(sel + o, sizeof(sel) - o, "%s%s=%s", o ? "," : "", f->string,
		                 cJSON_GetStringValue(f) ? f->valuestring : "");
		if (n < 0 || o + (size_t)n >= sizeof(sel))
			break;
		o += (size_t)n;
	}
	cJSON_AddStringToObject(st, "selector", sel);
	(void)rt;
	return s;
}

/* ---- strict field validation ------------------------------------------- */

static const struct {
	const char *kind; /* "" = every kind; "metadata" for ObjectMeta */
	const char *group;
	const char *where;
	const char *keys;
} FIELDS[] = {
        {"", "*", "", "apiVersion,kind,metadata"},
        {"metadata", "*", "metadata",
         "name,generateName,namespace,selfLink,uid,resourceVersion,generation,creationTimestamp,"
         "deletionTimestamp,deletionGracePeriodSeconds,labels,annotations,ownerReferences,"
         "finalizers,"
         "managedFields"},
        {"Namespace", "", "", "spec,status"},
        {"ConfigMap", "", "", "data,binaryData,immutable"},
        {"Secret", "", "", "data,stringData,type,immutable"},
        {"Pod", "", "", "spec,status"},
        {"Service", "", "", "spec,status"},
        {"Service", "", "spec",
         "ports,selector,clusterIP,clusterIPs,type,externalIPs,sessionAffinity,loadBalancerIP,"
         "loadBalancerSourceRanges,externalName,externalTrafficPolicy,healthCheckNodePort,"
         "publishNotReadyAddresses,sessionAffinityConfig,ipFamilies,ipFamilyPolicy,"
         "allocateLoadBalancerNodePorts,loadBalancerClass,internalTrafficPolicy,"
         "trafficDistribution"},
        {"Endpoints", "", "", "subsets"},
        /* events.k8s.io Events are checked after conversion to this form. */
        {"Event", "", "",
         "involvedObject,reason,message,source,firstTimestamp,lastTimestamp,count,type,eventTime,"
         "series,action,related,reportingComponent,reportingInstance"},
        {"ServiceAccount", "", "", "secrets,imagePullSecrets,automountServiceAccountToken"},
        {"Deployment", "apps", "", "spec,status"},
        {"Deployment", "apps", "spec",
         "replicas,selector,template,strategy,minReadySeconds,revisionHistoryLimit,paused,"
         "progressDeadlineSeconds"},
        {"ReplicaSet", "apps", "", "spec,status"},
        {"ReplicaSet", "apps", "spec", "replicas,selector,template,minReadySeconds"},
        {"Lease", "coordination.k8s.io", "", "spec"},
        {"Role", "rbac.authorization.k8s.io", "", "rules"},
        {"ClusterRole", "rbac.authorization.k8s.io", "", "rules,aggregationRule"},
        {"RoleBinding", "rbac.authorization.k8s.io", "", "subjects,roleRef"},
        {"ClusterRoleBinding", "rbac.authorization.k8s.io", "", "subjects,roleRef"},
};

static bool in_csv(const char *csv, const char *w)
{
	size_t n = strlen(w);
	for (const char *p = csv; p && *p;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		if (len == n && strncmp(p, w, n) == 0)
			return true;
		p = comma ? comma + 1 : NULL;
	}
	return false;
}

/* Checks obj's node at `where` against every matching allow-list. */
static int check_level(const ks_rtype_t *rt, const cJSON *node, const char *where, ks_err_t *e)
{
	const cJSON *it;
	bool any = false;
	for (size_t i = 0; i < sizeof(FIELDS) / sizeof(FIELDS[0]); i++)
		any = any || (strcmp(FIELDS[i].where, where) == 0 &&
		              (!FIELDS[i].kind[0] || strcmp(FIELDS[i].kind, "metadata") == 0 ||
		               (strcmp(FIELDS[i].kind, rt->kind) == 0 &&
		                strcmp(FIELDS[i].group, rt->group) == 0)));
	if (!any || !cJSON_IsObject(node))
		return 0;
	cJSON_ArrayForEach(it, node)
	{
		bool ok = false;
		for (size_t i = 0; i < sizeof(FIELDS) / sizeof(FIELDS[0]) && !ok; i++) {
			if (strcmp(FIELDS[i].where, where) != 0)
				continue;
			bool applies = !FIELDS[i].kind[0] ||
			               strcmp(FIELDS[i].kind, "metadata") == 0 ||
			               (strcmp(FIELDS[i].kind, rt->kind) == 0 &&
			                strcmp(FIELDS[i].group, rt->group) == 0);
			ok = applies && in_csv(FIELDS[i].keys, it->string);
		}
		if (!ok)
			return ks_err_set(
			        e, 400, "BadRequest",
			        "%s in version \"%s\" cannot be handled as a %s: strict decoding "
			        "error: unknown field \"%s%s%s\"",
			        rt->kind, rt->version, rt->kind, where, *where ? "." : "",
			        it->string);
	}
	return 0;
}

int ks_check_fields(const ks_rtype_t *rt, const cJSON *obj, ks_err_t *e)
{
	int rc = check_level(rt, obj, "", e);
	if (rc == 0)
		rc = check_level(rt, cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "metadata",
		                 e);
	if (rc == 0)
		rc = check_level(rt, cJSON_GetObjectItemCaseSensitive(obj, "spec"), "spec", e);
	return rc;
}

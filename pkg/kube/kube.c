#include "kube/kube.h"

#include <stdio.h>
#include <string.h>

const kube_resource_t KUBE_RES_CONFIGMAPS = {"", "v1", "configmaps", "ConfigMap", true};
const kube_resource_t KUBE_RES_PODS = {"", "v1", "pods", "Pod", true};
const kube_resource_t KUBE_RES_SECRETS = {"", "v1", "secrets", "Secret", true};
const kube_resource_t KUBE_RES_NAMESPACES = {"", "v1", "namespaces", "Namespace", false};
const kube_resource_t KUBE_RES_CORE_EVENTS = {"", "v1", "events", "Event", true};
const kube_resource_t KUBE_RES_DEPLOYMENTS = {"apps", "v1", "deployments", "Deployment", true};
const kube_resource_t KUBE_RES_EVENTS = {"events.k8s.io", "v1", "events", "Event", true};
const kube_resource_t KUBE_RES_LEASES = {"coordination.k8s.io", "v1", "leases", "Lease", true};

const char *kube_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
	case KUBE_EINVAL:
		return "invalid argument";
	case KUBE_ENOMEM:
		return "out of memory";
	case KUBE_ETOOBIG:
		return "response too large";
	case KUBE_ETRANSPORT:
		return "connection error";
	case KUBE_ETIMEOUT:
		return "request timed out";
	case KUBE_ETLS:
		return "TLS error (certificate verification failed?)";
	case KUBE_EAPI:
		return "API error status";
	case KUBE_EDECODE:
		return "malformed response";
	case KUBE_ECONFIG:
		return "configuration error";
	case KUBE_EIO:
		return "I/O error";
	case KUBE_ESTATE:
		return "invalid state";
	default:
		return "unknown error";
	}
}

static void copy_str(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

int kube_status_decode(const char *body, size_t len, int http_status, kube_status_t *st)
{
	cJSON *root;
	const cJSON *kind, *v;
	int rc = -1;

	memset(st, 0, sizeof(*st));
	st->code = http_status;
	root = body && len ? cJSON_ParseWithLength(body, len) : NULL;
	kind = root ? cJSON_GetObjectItemCaseSensitive(root, "kind") : NULL;
	if (cJSON_IsString(kind) && strcmp(kind->valuestring, "Status") == 0) {
		v = cJSON_GetObjectItemCaseSensitive(root, "reason");
		if (cJSON_IsString(v))
			copy_str(st->reason, sizeof(st->reason), v->valuestring);
		v = cJSON_GetObjectItemCaseSensitive(root, "message");
		if (cJSON_IsString(v))
			copy_str(st->message, sizeof(st->message), v->valuestring);
		v = cJSON_GetObjectItemCaseSensitive(root, "code");
		if (cJSON_IsNumber(v) && v->valuedouble >= 100 && v->valuedouble < 1000)
			st->code = (int)v->valuedouble;
		rc = 0;
	} else if (body && len) {
		/* Not a Status (a proxy's HTML page, say): keep the start, printable. */
		size_t n = len < sizeof(st->message) - 1 ? len : sizeof(st->message) - 1;
		for (size_t i = 0; i < n; i++) {
			unsigned char c = (unsigned char)body[i];
			st->message[i] = (c >= 0x20 && c < 0x7f) ? (char)c : ' ';
		}
		st->message[n] = '\0';
	}
	cJSON_Delete(root);
	return rc;
}

cJSON *kube_result_take_obj(kube_result_t *res)
{
	cJSON *o = res->obj;
	res->obj = NULL;
	return o;
}

void kube_result_clear(kube_result_t *res)
{
	if (res == NULL)
		return;
	cJSON_Delete(res->obj);
	res->obj = NULL;
}

static const cJSON *meta(const cJSON *obj, const char *key)
{
	const cJSON *m = obj ? cJSON_GetObjectItemCaseSensitive(obj, "metadata") : NULL;
	return m ? cJSON_GetObjectItemCaseSensitive(m, key) : NULL;
}

static const char *meta_str(const cJSON *obj, const char *key)
{
	const cJSON *v = meta(obj, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

const char *kube_obj_name(const cJSON *obj)
{
	return meta_str(obj, "name");
}
const char *kube_obj_namespace(const cJSON *obj)
{
	return meta_str(obj, "namespace");
}
const char *kube_obj_rv(const cJSON *obj)
{
	return meta_str(obj, "resourceVersion");
}

const cJSON *kube_obj_labels(const cJSON *obj)
{
	const cJSON *v = meta(obj, "labels");
	return cJSON_IsObject(v) ? v : NULL;
}

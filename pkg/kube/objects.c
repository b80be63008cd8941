#include "kube/objects.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"

int kube__create_with_fallback(kube_client_t *c, const kube_resource_t *res, const char *ns,
                               const char *body, const kube_resource_t *fb_res, const char *fb_body,
                               kube_cb cb, void *arg, kube_call_t **out);
bool kube__events_core(const kube_client_t *c);

static const cJSON *path2(const cJSON *o, const char *a, const char *b)
{
	const cJSON *x = o ? cJSON_GetObjectItemCaseSensitive(o, a) : NULL;
	return x && b ? cJSON_GetObjectItemCaseSensitive(x, b) : x;
}

static void copy_str(char *dst, size_t cap, const cJSON *v)
{
	snprintf(dst, cap, "%s", cJSON_IsString(v) ? v->valuestring : "");
}

/* An int32 field: absent -> has=false; present but not an int32 -> error. */
static int get_i32(const cJSON *v, bool *has, int32_t *out, const char *name, char *err,
                   size_t errlen)
{
	*has = false;
	if (v == NULL || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) ||
	    v->valuedouble < -2147483648.0 || v->valuedouble > 2147483647.0) {
		snprintf(err, errlen, "%s is not a 32-bit integer", name);
		return KUBE_EDECODE;
	}
	*has = true;
	*out = (int32_t)v->valuedouble;
	return 0;
}

int kube_scale_decode(const cJSON *obj, kube_scale_t *s, char *err, size_t errlen)
{
	int rc;
	memset(s, 0, sizeof(*s));
	if (!cJSON_IsObject(obj)) {
		snprintf(err, errlen, "scale: not an object");
		return KUBE_EDECODE;
	}
	rc = get_i32(path2(obj, "spec", "replicas"), &s->has_spec_replicas, &s->spec_replicas,
	             "spec.replicas", err, errlen);
	if (rc == 0)
		rc = get_i32(path2(obj, "status", "replicas"), &s->has_status_replicas,
		             &s->status_replicas, "status.replicas", err, errlen);
	copy_str(s->selector, sizeof(s->selector), path2(obj, "status", "selector"));
	copy_str(s->resource_version, sizeof(s->resource_version),
	         path2(obj, "metadata", "resourceVersion"));
	return rc;
}

int kube_scale_get(kube_client_t *c, const char *ns, const char *name, kube_cb cb, void *arg,
                   kube_call_t **out)
{
	kube_req_t r = {.verb = KUBE_GET,
	                .res = &KUBE_RES_DEPLOYMENTS,
	                .ns = ns,
	                .name = name,
	                .subresource = "scale"};
	return kube_do(c, &r, cb, arg, out);
}

int kube_scale_patch(kube_client_t *c, const char *ns, const char *name, int32_t replicas,
                     kube_cb cb, void *arg, kube_call_t **out)
{
	char body[64];
	if (replicas < 0)
		return KUBE_EINVAL;
	snprintf(body, sizeof(body), "{\"spec\":{\"replicas\":%d}}", (int)replicas);
	kube_req_t r = {.verb = KUBE_PATCH,
	                .res = &KUBE_RES_DEPLOYMENTS,
	                .ns = ns,
	                .name = name,
	                .subresource = "scale",
	                .body = body,
	                .patch_type = KUBE_PATCH_MERGE};
	return kube_do(c, &r, cb, arg, out);
}

/* ---- time ---- */

char *kube_microtime(int64_t wall_ms, char *buf, size_t cap)
{
	time_t t = (time_t)(wall_ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900, tm.tm_mon + 1,
	         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(wall_ms % 1000) * 1000);
	return buf;
}

int kube_parse_time(const char *s, int64_t *wall_ms)
{
	struct tm tm;
	const char *p;
	int64_t frac_ms = 0;

	if (s == NULL)
		return -1;
	memset(&tm, 0, sizeof(tm));
	p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (p == NULL)
		return -1;
	if (*p == '.') {
		int digits = 0;
		p++;
		while (*p >= '0' && *p <= '9') {
			if (digits < 3)
				frac_ms = frac_ms * 10 + (*p - '0');
			digits++;
			p++;
		}
		if (digits == 0)
			return -1;
		for (int d = digits; d < 3; d++)
			frac_ms *= 10;
	}
	if (strcmp(p, "Z") != 0)
		return -1; /* the API always writes UTC */
	*wall_ms = (int64_t)timegm(&tm) * 1000 + frac_ms;
	return 0;
}

/* ---- Lease ---- */

int kube_lease_decode(const cJSON *obj, kube_lease_t *l, char *err, size_t errlen)
{
	const cJSON *spec = path2(obj, "spec", NULL);
	const cJSON *v;
	int rc;

	memset(l, 0, sizeof(*l));
	if (!cJSON_IsObject(obj)) {
		snprintf(err, errlen, "lease: not an object");
		return KUBE_EDECODE;
	}
	copy_str(l->name, sizeof(l->name), path2(obj, "metadata", "name"));
	copy_str(l->ns, sizeof(l->ns), path2(obj, "metadata", "namespace"));
	copy_str(l->resource_version, sizeof(l->resource_version),
	         path2(obj, "metadata", "resourceVersion"));
	v = path2(spec, "holderIdentity", NULL);
	if (cJSON_IsString(v)) {
		l->has_holder = true;
		copy_str(l->holder, sizeof(l->holder), v);
	}
	rc = get_i32(path2(spec, "leaseDurationSeconds", NULL), &l->has_duration, &l->duration_s,
	             "spec.leaseDurationSeconds", err, errlen);
	if (rc == 0)
		rc = get_i32(path2(spec, "leaseTransitions", NULL), &l->has_transitions,
		             &l->transitions, "spec.leaseTransitions", err, errlen);
	v = path2(spec, "acquireTime", NULL);
	if (cJSON_IsString(v)) {
		l->has_acquire_time = true;
		copy_str(l->acquire_time, sizeof(l->acquire_time), v);
	}
	v = path2(spec, "renewTime", NULL);
	if (cJSON_IsString(v)) {
		l->has_renew_time = true;
		copy_str(l->renew_time, sizeof(l->renew_time), v);
	}
	return rc;
}

char *kube_lease_encode(const kube_lease_t *l)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *m, *s;
	char *out = NULL;
	bool ok;

	if (o == NULL)
		return NULL;
	ok = cJSON_AddStringToObject(o, "apiVersion", "coordination.k8s.io/v1") &&
	     cJSON_AddStringToObject(o, "kind", "Lease");
	m = cJSON_AddObjectToObject(o, "metadata");
	s = cJSON_AddObjectToObject(o, "spec");
	ok = ok && m && s && cJSON_AddStringToObject(m, "name", l->name) &&
	     cJSON_AddStringToObject(m, "namespace", l->ns);
	if (ok && l->resource_version[0])
		ok = cJSON_AddStringToObject(m, "resourceVersion", l->resource_version) != NULL;
	if (ok && l->has_holder)
		ok = cJSON_AddStringToObject(s, "holderIdentity", l->holder) != NULL;
	if (ok && l->has_duration)
		ok = cJSON_AddNumberToObject(s, "leaseDurationSeconds", l->duration_s) != NULL;
	if (ok && l->has_acquire_time)
		ok = cJSON_AddStringToObject(s, "acquireTime", l->acquire_time) != NULL;
	if (ok && l->has_renew_time)
		ok = cJSON_AddStringToObject(s, "renewTime", l->renew_time) != NULL;
	if (ok && l->has_transitions)
		ok = cJSON_AddNumberToObject(s, "leaseTransitions", l->transitions) != NULL;
	if (ok)
		out = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return out;
}

int kube_lease_get(kube_client_t *c, const char *ns, const char *name, kube_cb cb, void *arg,
                   kube_call_t **out)
{
	return kube_get(c, &KUBE_RES_LEASES, ns, name, cb, arg, out);
}

int kube_lease_create(kube_client_t *c, const kube_lease_t *l, kube_cb cb, void *arg,
                      kube_call_t **out)
{
	char *body = kube_lease_encode(l);
	int rc;
	if (body == NULL)
		return KUBE_ENOMEM;
	rc = kube_create(c, &KUBE_RES_LEASES, l->ns, body, cb, arg, out);
	free(body);
	return rc;
}

int kube_lease_update(kube_client_t *c, const kube_lease_t *l, kube_cb cb, void *arg,
                      kube_call_t **out)
{
	char *body;
	int rc;
	if (l->resource_version[0] == '\0')
		return KUBE_EINVAL; /* an update without precondition could clobber a rival */
	body = kube_lease_encode(l);
	if (body == NULL)
		return KUBE_ENOMEM;
	rc = kube_update(c, &KUBE_RES_LEASES, l->ns, l->name, body, cb, arg, out);
	free(body);
	return rc;
}

/* ---- Events ---- */

static void event_name(const kube_event_t *ev, int64_t wall_ms, char *buf, size_t cap)
{
	/* client-go's recorder: "<object>.<unique hex>". */
	static unsigned seq;
	snprintf(buf, cap, "%.200s.%llx%04x", ev->name ? ev->name : "event",
	         (unsigned long long)wall_ms * 1000000ULL, (seq++) & 0xffff);
}

static bool valid_event(const kube_event_t *ev)
{
	return ev && ev->ns && ev->kind && ev->name && ev->reason && ev->type &&
	       (strcmp(ev->type, "Normal") == 0 || strcmp(ev->type, "Warning") == 0);
}

static char *note_cut(const char *note)
{
	size_t n = note ? strlen(note) : 0;
	char *s;
	if (n > 1024)
		n = 1024;
	s = malloc(n + 1);
	if (s == NULL)
		return NULL;
	memcpy(s, note ? note : "", n);
	s[n] = '\0';
	return s;
}

static cJSON *ref_obj(const kube_event_t *ev)
{
	cJSON *r = cJSON_CreateObject();
	if (r == NULL)
		return NULL;
	cJSON_AddStringToObject(r, "kind", ev->kind);
	cJSON_AddStringToObject(r, "namespace", ev->ns);
	cJSON_AddStringToObject(r, "name", ev->name);
	if (ev->api_version)
		cJSON_AddStringToObject(r, "apiVersion", ev->api_version);
	if (ev->uid)
		cJSON_AddStringToObject(r, "uid", ev->uid);
	return r;
}

static char *finish_obj(cJSON *o)
{
	char *s = o ? cJSON_PrintUnformatted(o) : NULL;
	cJSON_Delete(o);
	return s;
}

/* The part both Event bodies share: apiVersion, kind, metadata and the
 * regarding/involvedObject reference (under `ref_key`), and the note cut to the
 * API's limit in *note (caller frees). NULL on a bad event or no memory. */
static cJSON *event_head(const kube_event_t *ev, int64_t wall_ms, const char *api_version,
                         const char *ref_key, char **note)
{
	char name[320];
	cJSON *o, *m;

	*note = NULL;
	if (!valid_event(ev))
		return NULL;
	*note = note_cut(ev->note);
	o = cJSON_CreateObject();
	if (o == NULL || *note == NULL) {
		free(*note);
		*note = NULL;
		cJSON_Delete(o);
		return NULL;
	}
	event_name(ev, wall_ms, name, sizeof(name));
	cJSON_AddStringToObject(o, "apiVersion", api_version);
	cJSON_AddStringToObject(o, "kind", "Event");
	m = cJSON_AddObjectToObject(o, "metadata");
	if (m) {
		cJSON_AddStringToObject(m, "name", name);
		cJSON_AddStringToObject(m, "namespace", ev->ns);
	}
	cJSON_AddItemToObject(o, ref_key, ref_obj(ev));
	cJSON_AddStringToObject(o, "type", ev->type);
	cJSON_AddStringToObject(o, "reason", ev->reason);
	cJSON_AddStringToObject(o, "action", ev->action ? ev->action : ev->reason);
	return o;
}

char *kube_event_body_v1(const kube_event_t *ev, int64_t wall_ms)
{
	char t[40];
	char *note;
	cJSON *o = event_head(ev, wall_ms, "events.k8s.io/v1", "regarding", &note);

	if (o == NULL)
		return NULL;
	cJSON_AddStringToObject(o, "eventTime", kube_microtime(wall_ms, t, sizeof(t)));
	cJSON_AddStringToObject(o, "note", note);
	cJSON_AddStringToObject(o, "reportingController",
	                        ev->reporting_controller ? ev->reporting_controller
	                                                 : "mcp-autoscaler.io/controller");
	cJSON_AddStringToObject(o, "reportingInstance",
	                        ev->reporting_instance ? ev->reporting_instance : "mcp-autoscaler");
	free(note);
	return finish_obj(o);
}

char *kube_event_body_core(const kube_event_t *ev, int64_t wall_ms)
{
	char t[40], t2[40];
	char *note;
	cJSON *src;
	cJSON *o = event_head(ev, wall_ms, "v1", "involvedObject", &note);
	const char *ctl;

	if (o == NULL)
		return NULL;
	ctl = ev->reporting_controller ? ev->reporting_controller : "mcp-autoscaler.io/controller";
	cJSON_AddStringToObject(o, "message", note);
	base_format_rfc3339(wall_ms, t, sizeof(t));
	cJSON_AddStringToObject(o, "firstTimestamp", t);
	cJSON_AddStringToObject(o, "lastTimestamp", t);
	cJSON_AddStringToObject(o, "eventTime", kube_microtime(wall_ms, t2, sizeof(t2)));
	cJSON_AddNumberToObject(o, "count", 1);
	src = cJSON_AddObjectToObject(o, "source");
	if (src)
		cJSON_AddStringToObject(src, "component", ctl);
	cJSON_AddStringToObject(o, "reportingComponent", ctl);
	cJSON_AddStringToObject(o, "reportingInstance",
	                        ev->reporting_instance ? ev->reporting_instance : "mcp-autoscaler");
	free(note);
	return finish_obj(o);
}

int kube_event_create(kube_client_t *c, const kube_event_t *ev, kube_cb cb, void *arg,
                      kube_call_t **out)
{
	int64_t now = base_wall_ms();
	char *core, *v1 = NULL;
	int rc;

	if (!valid_event(ev))
		return KUBE_EINVAL;
	core = kube_event_body_core(ev, now);
	if (core == NULL)
		return KUBE_ENOMEM;
	if (kube__events_core(c)) {
		rc = kube_create(c, &KUBE_RES_CORE_EVENTS, ev->ns, core, cb, arg, out);
		free(core);
		return rc;
	}
	v1 = kube_event_body_v1(ev, now);
	if (v1 == NULL) {
		free(core);
		return KUBE_ENOMEM;
	}
	rc = kube__create_with_fallback(c, &KUBE_RES_EVENTS, ev->ns, v1, &KUBE_RES_CORE_EVENTS,
	                                core, cb, arg, out);
	free(v1);
	free(core);
	return rc;
}

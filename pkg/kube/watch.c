#include "kube/watch.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "kube/kube.h"

struct kube_wdec {
	base_buf_t buf;
	int depth;
	bool in_str;
	bool esc;
};

static const char *const type_names[] = {"ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"};

const char *kube_event_type_name(kube_event_type_t t)
{
	if ((int)t < 0 || t > KUBE_EV_ERROR)
		return "UNKNOWN";
	return type_names[t];
}

kube_wdec_t *kube_wdec_new(size_t max_event)
{
	kube_wdec_t *d = calloc(1, sizeof(*d));
	if (d == NULL)
		return NULL;
	base_buf_init(&d->buf, max_event ? max_event : (16u << 20));
	return d;
}

void kube_wdec_free(kube_wdec_t *d)
{
	if (d == NULL)
		return;
	base_buf_free(&d->buf);
	free(d);
}

void kube_wdec_reset(kube_wdec_t *d)
{
	base_buf_reset(&d->buf);
	d->depth = 0;
	d->in_str = false;
	d->esc = false;
}

int kube_wdec_pending(const kube_wdec_t *d)
{
	return d->buf.len > 0;
}

static int dispatch(kube_wdec_t *d, kube_wdec_emit emit, void *arg, char *err, size_t errlen)
{
	cJSON *root = cJSON_ParseWithLength(d->buf.data, d->buf.len);
	const cJSON *type;
	cJSON *obj;
	int t = -1;
	int rc;

	if (root == NULL) {
		snprintf(err, errlen, "watch event is not valid JSON");
		return KUBE_EDECODE;
	}
	type = cJSON_GetObjectItemCaseSensitive(root, "type");
	obj = cJSON_GetObjectItemCaseSensitive(root, "object");
	if (cJSON_IsString(type)) {
		for (int i = 0; i <= KUBE_EV_ERROR; i++) {
			if (strcmp(type->valuestring, type_names[i]) == 0)
				t = i;
		}
	}
	if (t < 0 || !cJSON_IsObject(obj)) {
		snprintf(err, errlen, "watch event without a known \"type\" and an \"object\"");
		cJSON_Delete(root);
		return KUBE_EDECODE;
	}
	rc = emit((kube_event_type_t)t, obj, arg);
	cJSON_Delete(root);
	return rc;
}

int kube_wdec_feed(kube_wdec_t *d, const char *p, size_t n, kube_wdec_emit emit, void *arg,
                   char *err, size_t errlen)
{
	size_t start = 0;

	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (d->depth == 0) {
			/* Between events only whitespace may appear. */
			if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
				start = i + 1;
				continue;
			}
			if (c != '{') {
				snprintf(err, errlen, "unexpected byte 0x%02x between watch events",
				         (unsigned char)c);
				return KUBE_EDECODE;
			}
			d->depth = 1;
			start = i;
			continue;
		}
		if (d->in_str) {
			if (d->esc)
				d->esc = false;
			else if (c == '\\')
				d->esc = true;
			else if (c == '"')
				d->in_str = false;
			continue;
		}
		if (c == '"') {
			d->in_str = true;
		} else if (c == '{' || c == '[') {
			if (d->depth >= 1000) {
				snprintf(err, errlen, "watch event nested too deeply");
				return KUBE_EDECODE;
			}
			d->depth++;
		} else if (c == '}' || c == ']') {
			d->depth--;
			if (d->depth == 0) {
				int rc = base_buf_append(&d->buf, p + start, i + 1 - start);
				if (rc != 0) {
					snprintf(err, errlen,
					         "watch event too large (cap %zu bytes)",
					         d->buf.max);
					return rc == BASE_ETOOBIG ? KUBE_ETOOBIG : KUBE_ENOMEM;
				}
				rc = dispatch(d, emit, arg, err, errlen);
				base_buf_reset(&d->buf);
				if (rc != 0)
					return rc;
				start = i + 1;
			}
		}
	}
	if (d->depth > 0 && start < n) {
		int rc = base_buf_append(&d->buf, p + start, n - start);
		if (rc != 0) {
			snprintf(err, errlen, "watch event too large (cap %zu bytes)", d->buf.max);
			return rc == BASE_ETOOBIG ? KUBE_ETOOBIG : KUBE_ENOMEM;
		}
	}
	return 0;
}

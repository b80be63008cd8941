#include "podenv.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"

static ssize_t find(const ks_env_t *e, const char *name)
{
	size_t l = strlen(name);
	for (size_t i = 0; i < e->n; i++) {
		if (strncmp(e->v[i], name, l) == 0 && e->v[i][l] == '=')
			return (ssize_t)i;
	}
	return -1;
}

int ks_env_set(ks_env_t *e, const char *name, const char *value)
{
	size_t len = strlen(name) + strlen(value) + 2;
	char *kv = malloc(len);
	if (!kv)
		return -1;
	snprintf(kv, len, "%s=%s", name, value);
	ssize_t i = find(e, name);
	if (i >= 0) {
		free(e->v[i]);
		e->v[i] = kv;
		return 0;
	}
	if (e->n + 1 >= e->cap) {
		size_t nc = e->cap ? e->cap * 2 : 32;
		char **nv = realloc(e->v, nc * sizeof(char *));
		if (!nv) {
			free(kv);
			return -1;
		}
		e->v = nv;
		e->cap = nc;
	}
	e->v[e->n++] = kv;
	e->v[e->n] = NULL;
	return 0;
}

const char *ks_env_get(const ks_env_t *e, const char *name)
{
	ssize_t i = find(e, name);
	return i >= 0 ? e->v[i] + strlen(name) + 1 : NULL;
}

void ks_env_free(ks_env_t *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->v[i]);
	free(e->v);
	e->v = NULL;
	e->n = e->cap = 0;
}

char *const *ks_env_vec(ks_env_t *e)
{
	static char *empty[1] = {NULL};
	return e->v ? e->v : empty;
}

char *ks_expand(const char *in, const ks_env_t *env)
{
	base_buf_t b;
	size_t len;
	base_buf_init(&b, 1u << 20);
	for (const char *p = in; *p;) {
		if (p[0] != '$') {
			base_buf_append(&b, p, 1);
			p++;
			continue;
		}
		if (p[1] == '$') {
			base_buf_append(&b, "$", 1);
			p += 2;
			continue;
		}
		if (p[1] == '(') {
			const char *close = strchr(p + 2, ')');
			if (!close) {
				base_buf_appends(&b, p);
				break;
			}
			char name[256];
			size_t nl = (size_t)(close - (p + 2));
			const char *val = NULL;
			if (nl < sizeof(name)) {
				memcpy(name, p + 2, nl);
				name[nl] = '\0';
				val = ks_env_get(env, name);
			}
			if (val)
				base_buf_appends(&b, val);
			else
				base_buf_append(&b, p, (size_t)(close - p) + 1);
			p = close + 1;
			continue;
		}
		base_buf_append(&b, p, 1);
		p++;
	}
	char *out = base_buf_take(&b, &len);
	return out ? out : strdup("");
}

void ks_service_env_name(const char *svc, char *out, size_t cap)
{
	size_t i = 0;
	for (; svc[i] && i + 1 < cap; i++) {
		char c = svc[i];
		out[i] = c == '-' || c == '.' ? '_' : (char)toupper((unsigned char)c);
	}
	out[i] = '\0';
}

int ks_image_program(const char *image, char *out, size_t cap)
{
	char tmp[512];
	snprintf(tmp, sizeof(tmp), "%s", image ? image : "");
	char *at = strchr(tmp, '@');
	if (at)
		*at = '\0';
	char *last = strrchr(tmp, '/');
	last = last ? last + 1 : tmp;
	char *colon = strchr(last, ':');
	if (colon)
		*colon = '\0';
	if (!*last || strcmp(last, ".") == 0 || strcmp(last, "..") == 0)
		return -1;
	snprintf(out, cap, "%s", last);
	return 0;
}

void ks_fmt(char *buf, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, cap, fmt, ap);
	va_end(ap);
}

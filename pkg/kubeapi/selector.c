/* Label and field selectors, after k8s.io/apimachinery/pkg/labels and
 * pkg/fields: a selector is a conjunction of requirements. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubeapi/kubeapi.h"

#define SEL_MAX_REQS   64
#define SEL_MAX_VALUES 64
#define SEL_MAX_TEXT   4096

typedef enum { OP_EQ, OP_NE, OP_IN, OP_NOTIN, OP_EXISTS, OP_NOTEXISTS, OP_GT, OP_LT } sel_op_t;

typedef struct {
	char *key;
	sel_op_t op;
	size_t nvalues;
	char **values;
} sel_req_t;

struct kubeapi_selector {
	bool field; /* field selector: keys are dotted paths into the object */
	size_t nreqs;
	sel_req_t reqs[SEL_MAX_REQS];
};

const char *kubeapi_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
	case KUBEAPI_EINVAL:
		return "invalid input";
	case KUBEAPI_ENOMEM:
		return "out of memory";
	case KUBEAPI_ETEST:
		return "test operation failed";
	case KUBEAPI_ENOPATH:
		return "path does not exist";
	case KUBEAPI_ETOOBIG:
		return "input too large";
	default:
		return "unknown error";
	}
}

static void req_clear(sel_req_t *r)
{
	free(r->key);
	for (size_t i = 0; i < r->nvalues; i++)
		free(r->values[i]);
	free(r->values);
	memset(r, 0, sizeof(*r));
}

void kubeapi_selector_free(kubeapi_selector_t *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nreqs; i++)
		req_clear(&s->reqs[i]);
	free(s);
}

bool kubeapi_selector_empty(const kubeapi_selector_t *s)
{
	return !s || s->nreqs == 0;
}

/* Characters allowed in label keys (prefix/name) and values. */
static bool is_key_char(int c)
{
	return isalnum(c) || c == '-' || c == '_' || c == '.' || c == '/';
}

static char *dup_n(const char *p, size_t n)
{
	char *s = malloc(n + 1);
	if (!s)
		return NULL;
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

static int add_value(sel_req_t *r, const char *p, size_t n)
{
	if (r->nvalues >= SEL_MAX_VALUES)
		return KUBEAPI_ETOOBIG;
	char **nv = realloc(r->values, (r->nvalues + 1) * sizeof(char *));
	if (!nv)
		return KUBEAPI_ENOMEM;
	r->values = nv;
	r->values[r->nvalues] = dup_n(p, n);
	if (!r->values[r->nvalues])
		return KUBEAPI_ENOMEM;
	r->nvalues++;
	return 0;
}

static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* Valid label value: empty, or up to 63 chars of [A-Za-z0-9._-] starting and
 * ending alphanumeric. Field selector values are free text. */
static bool valid_label_value(const char *p, size_t n)
{
	if (n == 0)
		return true;
	if (n > 63 || !isalnum((unsigned char)p[0]) || !isalnum((unsigned char)p[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)p[i];
		if (!isalnum(c) && c != '-' && c != '_' && c != '.')
			return false;
	}
	return true;
}

/* Valid label key (a Kubernetes qualified name): an optional prefix that is a
 * DNS-1123 subdomain (lowercase alphanumerics, '-' and '.', at most 253,
 * starting and ending alphanumeric) and '/', then a name of 1..63 chars of
 * [A-Za-z0-9._-] starting and ending alphanumeric. */
static bool valid_label_key(const char *p, size_t n)
{
	const char *slash = memchr(p, '/', n);
	if (slash) {
		size_t plen = (size_t)(slash - p);
		if (plen == 0 || plen > 253 || !isalnum((unsigned char)p[0]) ||
		    !isalnum((unsigned char)p[plen - 1]))
			return false;
		for (size_t i = 0; i < plen; i++) {
			int c = (unsigned char)p[i];
			if (!(islower(c) || isdigit(c) || c == '-' || c == '.'))
				return false;
		}
		n -= plen + 1;
		p = slash + 1;
		if (memchr(p, '/', n))
			return false;
	}
	return n > 0 && valid_label_value(p, n);
}

/* Writes "what \"text\"" into err; returns rc. */
static int fail(char *err, size_t errlen, int rc, const char *what, const char *text)
{
	if (err && errlen)
		snprintf(err, errlen, "%s \"%s\"", what, text);
	return rc;
}

/* Reads a plain value (label selector) up to ',' ')' space or end. */
static const char *scan_value(const char *p, bool field)
{
	if (field) {
		/* Field selector values run to the next unescaped comma. */
		while (*p && *p != ',') {
			if (*p == '\\' && p[1])
				p++;
			p++;
		}
		return p;
	}
	while (*p && *p != ',' && *p != ')' && *p != ' ' && *p != '\t')
		p++;
	return p;
}

static int parse_common(const char *text, bool field, kubeapi_selector_t **out, char *err,
                        size_t errlen)
{
	kubeapi_selector_t *s;
	const char *p;
	int rc = 0;

	*out = NULL;
	if (text && strlen(text) > SEL_MAX_TEXT)
		return fail(err, errlen, KUBEAPI_ETOOBIG,
		            "selector longer than 4096 characters:", text);
	s = calloc(1, sizeof(*s));
	if (!s)
		return KUBEAPI_ENOMEM;
	s->field = field;
	p = text ? skip_ws(text) : "";
	while (*p) {
		sel_req_t *r;
		const char *ks;
		if (s->nreqs >= SEL_MAX_REQS) {
			rc = fail(err, errlen, KUBEAPI_ETOOBIG, "more than 64 requirements in",
			          text);
			goto fail;
		}
		r = &s->reqs[s->nreqs];
		bool neg = false;
		if (*p == '!' && !field) {
			neg = true;
			p = skip_ws(p + 1);
		}
		ks = p;
		while (*p && is_key_char((unsigned char)*p))
			p++;
		if (p == ks) {
			rc = fail(err, errlen, KUBEAPI_EINVAL, "expected a key at", ks);
			goto fail;
		}
		if (!field && !valid_label_key(ks, (size_t)(p - ks))) {
			rc = fail(err, errlen, KUBEAPI_EINVAL, "invalid label key at", ks);
			goto fail;
		}
		r->key = dup_n(ks, (size_t)(p - ks));
		if (!r->key) {
			rc = KUBEAPI_ENOMEM;
			goto fail;
		}
		s->nreqs++;
		p = skip_ws(p);
		if (neg) {
			r->op = OP_NOTEXISTS;
		} else if (*p == ',' || *p == '\0') {
			if (field) {
				rc = fail(err, errlen, KUBEAPI_EINVAL,
				          "field selector needs an operator (=, ==, !=) for",
				          r->key);
				goto fail;
			}
			r->op = OP_EXISTS;
		} else if (*p == '=' || (*p == '!' && p[1] == '=') || *p == '>' || *p == '<') {
			if (*p == '=') {
				r->op = OP_EQ;
				p += p[1] == '=' ? 2 : 1;
			} else if (*p == '!') {
				r->op = OP_NE;
				p += 2;
			} else {
				if (field) {
					rc = fail(err, errlen, KUBEAPI_EINVAL,
					          "unsupported field selector operator at", p);
					goto fail;
				}
				r->op = *p == '>' ? OP_GT : OP_LT;
				p++;
			}
			p = field ? p : skip_ws(p);
			const char *vs = p;
			p = scan_value(p, field);
			if (!field && !valid_label_value(vs, (size_t)(p - vs))) {
				rc = fail(err, errlen, KUBEAPI_EINVAL, "invalid label value at",
				          vs);
				goto fail;
			}
			if (r->op == OP_GT || r->op == OP_LT) {
				char *end;
				char tmp[32];
				size_t n = (size_t)(p - vs);
				if (n == 0 || n >= sizeof(tmp)) {
					rc = fail(err, errlen, KUBEAPI_EINVAL,
					          "expected an integer at", vs);
					goto fail;
				}
				memcpy(tmp, vs, n);
				tmp[n] = '\0';
				errno = 0;
				(void)strtoll(tmp, &end, 10);
				if (errno || *end) {
					rc = fail(err, errlen, KUBEAPI_EINVAL,
					          "expected an integer at", vs);
					goto fail;
				}
			}
			rc = add_value(r, vs, (size_t)(p - vs));
			if (rc)
				goto fail;
		} else if (!field && (strncmp(p, "in", 2) == 0 || strncmp(p, "notin", 5) == 0)) {
			r->op = p[0] == 'i' ? OP_IN : OP_NOTIN;
			p = skip_ws(p + (r->op == OP_IN ? 2 : 5));
			if (*p != '(') {
				rc = fail(err, errlen, KUBEAPI_EINVAL, "expected \"(\" at", p);
				goto fail;
			}
			p = skip_ws(p + 1);
			for (;;) {
				const char *vs = p;
				p = scan_value(p, false);
				if (!valid_label_value(vs, (size_t)(p - vs))) {
					rc = fail(err, errlen, KUBEAPI_EINVAL,
					          "invalid label value at", vs);
					goto fail;
				}
				rc = add_value(r, vs, (size_t)(p - vs));
				if (rc)
					goto fail;
				p = skip_ws(p);
				if (*p == ',') {
					p = skip_ws(p + 1);
					continue;
				}
				if (*p == ')') {
					p++;
					break;
				}
				rc = fail(err, errlen, KUBEAPI_EINVAL, "expected \",\" or \")\" at",
				          p);
				goto fail;
			}
		} else {
			rc = fail(err, errlen, KUBEAPI_EINVAL, "unexpected text at", p);
			goto fail;
		}
		p = skip_ws(p);
		if (*p == ',') {
			p = skip_ws(p + 1);
			if (!*p) {
				rc = fail(err, errlen, KUBEAPI_EINVAL, "trailing comma in selector",
				          text);
				goto fail;
			}
		} else if (*p) {
			rc = fail(err, errlen, KUBEAPI_EINVAL, "expected \",\" at", p);
			goto fail;
		}
	}
	*out = s;
	return 0;
fail:
	kubeapi_selector_free(s);
	return rc;
}

int kubeapi_selector_parse(const char *text, kubeapi_selector_t **out, char *err, size_t errlen)
{
	return parse_common(text, false, out, err, errlen);
}

int kubeapi_fieldsel_parse(const char *text, kubeapi_selector_t **out, char *err, size_t errlen)
{
	return parse_common(text, true, out, err, errlen);
}

int kubeapi_selector_from_json(const cJSON *ls, kubeapi_selector_t **out, char *err, size_t errlen)
{
	kubeapi_selector_t *s;
	const cJSON *it;
	int rc = 0;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return KUBEAPI_ENOMEM;
	if (!ls || cJSON_IsNull(ls)) {
		*out = s;
		return 0;
	}
	if (!cJSON_IsObject(ls)) {
		rc = fail(err, errlen, KUBEAPI_EINVAL, "label selector is not an object", "");
		goto fail;
	}
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(ls, "matchLabels"))
	{
		if (s->nreqs >= SEL_MAX_REQS || !cJSON_IsString(it)) {
			rc = fail(err, errlen, KUBEAPI_EINVAL, "matchLabels: bad entry",
			          it->string ? it->string : "");
			goto fail;
		}
		sel_req_t *r = &s->reqs[s->nreqs++];
		r->op = OP_EQ;
		r->key = strdup(it->string);
		if (!r->key || add_value(r, it->valuestring, strlen(it->valuestring))) {
			rc = KUBEAPI_ENOMEM;
			goto fail;
		}
	}
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(ls, "matchExpressions"))
	{
		const cJSON *key = cJSON_GetObjectItemCaseSensitive(it, "key");
		const cJSON *op = cJSON_GetObjectItemCaseSensitive(it, "operator");
		const cJSON *vals = cJSON_GetObjectItemCaseSensitive(it, "values");
		const cJSON *v;
		if (s->nreqs >= SEL_MAX_REQS || !cJSON_IsString(key) || !cJSON_IsString(op)) {
			rc = fail(err, errlen, KUBEAPI_EINVAL,
			          "matchExpressions: each entry needs key and operator", "");
			goto fail;
		}
		sel_req_t *r = &s->reqs[s->nreqs++];
		r->key = strdup(key->valuestring);
		if (!r->key) {
			rc = KUBEAPI_ENOMEM;
			goto fail;
		}
		if (strcmp(op->valuestring, "In") == 0)
			r->op = OP_IN;
		else if (strcmp(op->valuestring, "NotIn") == 0)
			r->op = OP_NOTIN;
		else if (strcmp(op->valuestring, "Exists") == 0)
			r->op = OP_EXISTS;
		else if (strcmp(op->valuestring, "DoesNotExist") == 0)
			r->op = OP_NOTEXISTS;
		else {
			rc = fail(err, errlen, KUBEAPI_EINVAL, "matchExpressions: unknown operator",
			          op->valuestring);
			goto fail;
		}
		cJSON_ArrayForEach(v, vals)
		{
			if (!cJSON_IsString(v)) {
				rc = fail(err, errlen, KUBEAPI_EINVAL,
				          "matchExpressions: a value is not a string for key",
				          r->key);
				goto fail;
			}
			rc = add_value(r, v->valuestring, strlen(v->valuestring));
			if (rc)
				goto fail;
		}
		if ((r->op == OP_IN || r->op == OP_NOTIN) && r->nvalues == 0) {
			rc = fail(err, errlen, KUBEAPI_EINVAL,
			          "matchExpressions: In/NotIn needs values for key", r->key);
			goto fail;
		}
		if ((r->op == OP_EXISTS || r->op == OP_NOTEXISTS) && r->nvalues != 0) {
			rc = fail(err, errlen, KUBEAPI_EINVAL,
			          "matchExpressions: Exists/DoesNotExist takes no values for key",
			          r->key);
			goto fail;
		}
	}
	*out = s;
	return 0;
fail:
	kubeapi_selector_free(s);
	return rc;
}

const cJSON *kubeapi_get_path(const cJSON *obj, const char *dotted)
{
	const char *p = dotted;
	const cJSON *cur = obj;
	char seg[256];

	while (cur && *p) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);
		if (n >= sizeof(seg))
			return NULL;
		memcpy(seg, p, n);
		seg[n] = '\0';
		if (cJSON_IsArray(cur)) {
			char *end;
			long idx = strtol(seg, &end, 10);
			if (!*seg || *end || idx < 0 || idx > 1000000)
				return NULL;
			cur = cJSON_GetArrayItem(cur, (int)idx);
		} else if (cJSON_IsObject(cur)) {
			cur = cJSON_GetObjectItemCaseSensitive(cur, seg);
		} else {
			return NULL;
		}
		p += n;
		if (*p == '.')
			p++;
	}
	return cur;
}

static bool req_matches(const sel_req_t *r, bool has, const char *val)
{
	switch (r->op) {
	case OP_EQ:
		return has && strcmp(val, r->values[0]) == 0;
	case OP_NE:
		return !has || strcmp(val, r->values[0]) != 0;
	case OP_IN:
		if (!has)
			return false;
		for (size_t i = 0; i < r->nvalues; i++) {
			if (strcmp(val, r->values[i]) == 0)
				return true;
		}
		return false;
	case OP_NOTIN:
		if (!has)
			return true;
		for (size_t i = 0; i < r->nvalues; i++) {
			if (strcmp(val, r->values[i]) == 0)
				return false;
		}
		return true;
	case OP_EXISTS:
		return has;
	case OP_NOTEXISTS:
		return !has;
	case OP_GT:
	case OP_LT: {
		char *end;
		long long a, b;
		if (!has)
			return false;
		errno = 0;
		a = strtoll(val, &end, 10);
		if (errno || *end || end == val)
			return false;
		b = strtoll(r->values[0], &end, 10);
		return r->op == OP_GT ? a > b : a < b;
	}
	}
	return false;
}

bool kubeapi_selector_matches(const kubeapi_selector_t *s, const cJSON *labels)
{
	if (!s)
		return true;
	for (size_t i = 0; i < s->nreqs; i++) {
		const cJSON *v =
		        labels ? cJSON_GetObjectItemCaseSensitive(labels, s->reqs[i].key) : NULL;
		bool has = cJSON_IsString(v);
		if (!req_matches(&s->reqs[i], has, has ? v->valuestring : ""))
			return false;
	}
	return true;
}

/* Field selector values may escape ',' '=' '\' with a backslash. */
static void unescape_field(const char *in, char *out, size_t cap)
{
	size_t o = 0;
	for (; *in && o + 1 < cap; in++) {
		if (*in == '\\' && in[1])
			in++;
		out[o++] = *in;
	}
	out[o] = '\0';
}

bool kubeapi_fieldsel_matches(const kubeapi_selector_t *s, const cJSON *obj)
{
	char num[64];
	char want[1024];
	if (!s)
		return true;
	for (size_t i = 0; i < s->nreqs; i++) {
		const sel_req_t *r = &s->reqs[i];
		const cJSON *v = kubeapi_get_path(obj, r->key);
		const char *val = "";
		if (cJSON_IsString(v)) {
			val = v->valuestring;
		} else if (cJSON_IsNumber(v)) {
			snprintf(num, sizeof(num), "%.17g", v->valuedouble);
			val = num;
		} else if (cJSON_IsBool(v)) {
			val = cJSON_IsTrue(v) ? "true" : "false";
		}
		unescape_field(r->values[0], want, sizeof(want));
		bool eq = strcmp(val, want) == 0;
		if ((r->op == OP_EQ && !eq) || (r->op == OP_NE && eq))
			return false;
	}
	return true;
}

char *kubeapi_selector_format(const kubeapi_selector_t *s, char *buf, size_t cap)
{
	size_t o = 0;
	if (cap == 0)
		return buf;
	buf[0] = '\0';
	for (size_t i = 0; s && i < s->nreqs; i++) {
		const sel_req_t *r = &s->reqs[i];
		int n = 0;
		const char *sep = i ? "," : "";
		switch (r->op) {
		case OP_EQ:
			n = snprintf(buf + o, cap - o, "%s%s=%s", sep, r->key, r->values[0]);
			break;
		case OP_NE:
			n = snprintf(buf + o, cap - o, "%s%s!=%s", sep, r->key, r->values[0]);
			break;
		case OP_GT:
		case OP_LT:
			n = snprintf(buf + o, cap - o, "%s%s%c%s", sep, r->key,
			             r->op == OP_GT ? '>' : '<', r->values[0]);
			break;
		case OP_EXISTS:
			n = snprintf(buf + o, cap - o, "%s%s", sep, r->key);
			break;
		case OP_NOTEXISTS:
			n = snprintf(buf + o, cap - o, "%s!%s", sep, r->key);
			break;
		case OP_IN:
		case OP_NOTIN:
			n = snprintf(buf + o, cap - o, "%s%s %s (", sep, r->key,
			             r->op == OP_IN ? "in" : "notin");
			for (size_t j = 0; n >= 0 && o + (size_t)n < cap && j < r->nvalues; j++) {
				int m = snprintf(buf + o + n, cap - o - (size_t)n, "%s%s",
				                 j ? "," : "", r->values[j]);
				if (m < 0)
					break;
				n += m;
			}
			if (n >= 0 && o + (size_t)n < cap)
				n += snprintf(buf + o + n, cap - o - (size_t)n, ")");
			break;
		}
		if (n < 0 || o + (size_t)n >= cap) {
			buf[cap - 1] = '\0';
			return buf;
		}
		o += (size_t)n;
	}
	return buf;
}

int kubeapi_selectors_validate(const char *labels, const char *fields, char *err, size_t errlen)
{
	kubeapi_selector_t *s = NULL;
	int rc = kubeapi_selector_parse(labels, &s, err, errlen);
	kubeapi_selector_free(s);
	if (rc != 0)
		return rc;
	s = NULL;
	rc = kubeapi_fieldsel_parse(fields, &s, err, errlen);
	kubeapi_selector_free(s);
	return rc;
}

#include "kube/selector.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube/kube.h"

#define MAX_REQS   16
#define MAX_VALUES 16

typedef enum { OP_EQ, OP_NE, OP_IN, OP_NOTIN, OP_EXISTS, OP_NOTEXISTS } op_t;

typedef struct {
	char key[320];
	op_t op;
	size_t nvalues;
	char values[MAX_VALUES][64];
} req_t;

struct kube_selector {
	size_t n;
	req_t reqs[];
};

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* A label name or value: <= 63, alnum at both ends, [-_.] inside. */
static bool valid_name(const char *s, size_t n, bool allow_empty)
{
	if (n == 0)
		return allow_empty;
	if (n > 63 || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return false;
	}
	return true;
}

static bool valid_key(const char *s, size_t n)
{
	const char *slash = memchr(s, '/', n);
	if (slash == NULL)
		return valid_name(s, n, false);
	size_t pn = (size_t)(slash - s);
	if (pn == 0 || pn > 253)
		return false;
	for (size_t i = 0; i < pn; i++) {
		char c = s[i];
		if (!(c >= 'a' && c <= 'z') && !(c >= '0' && c <= '9') && c != '-' && c != '.')
			return false;
	}
	return valid_name(slash + 1, n - pn - 1, false);
}

static bool is_word(char c)
{
	return is_alnum(c) || c == '-' || c == '_' || c == '.' || c == '/';
}

typedef struct {
	const char *s;
	size_t i;
} lex_t;

static void skip_ws(lex_t *l)
{
	while (l->s[l->i] == ' ' || l->s[l->i] == '\t')
		l->i++;
}

static size_t word(lex_t *l, const char **start)
{
	skip_ws(l);
	*start = l->s + l->i;
	size_t n = 0;
	while (is_word(l->s[l->i])) {
		l->i++;
		n++;
	}
	return n;
}

static int fail(char *err, size_t errlen, const lex_t *l, const char *what)
{
	snprintf(err, errlen, "label selector: %s at position %zu", what, l->i);
	return KUBE_EINVAL;
}

static int parse_values(lex_t *l, req_t *r, char *err, size_t errlen)
{
	skip_ws(l);
	if (l->s[l->i] != '(')
		return fail(err, errlen, l, "expected '('");
	l->i++;
	for (;;) {
		const char *v;
		size_t n = word(l, &v);
		if (!valid_name(v, n, true))
			return fail(err, errlen, l, "invalid value");
		if (r->nvalues >= MAX_VALUES)
			return fail(err, errlen, l, "too many values");
		memcpy(r->values[r->nvalues], v, n);
		r->values[r->nvalues][n] = '\0';
		r->nvalues++;
		skip_ws(l);
		if (l->s[l->i] == ',') {
			l->i++;
			continue;
		}
		if (l->s[l->i] == ')') {
			l->i++;
			return 0;
		}
		return fail(err, errlen, l, "expected ',' or ')'");
	}
}

int kube_selector_parse(const char *s, kube_selector_t **out, char *err, size_t errlen)
{
	lex_t l = {s ? s : "", 0};
	kube_selector_t *sel = calloc(1, sizeof(*sel) + MAX_REQS * sizeof(req_t));
	int rc;

	*out = NULL;
	if (sel == NULL)
		return KUBE_ENOMEM;
	skip_ws(&l);
	if (l.s[l.i] == '\0')
		goto done;
	for (;;) {
		req_t *r;
		const char *k;
		size_t kn;
		bool neg = false;

		if (sel->n >= MAX_REQS) {
			rc = fail(err, errlen, &l, "too many requirements");
			goto bad;
		}
		r = &sel->reqs[sel->n];
		skip_ws(&l);
		if (l.s[l.i] == '!') {
			neg = true;
			l.i++;
		}
		kn = word(&l, &k);
		if (!valid_key(k, kn)) {
			rc = fail(err, errlen, &l, "invalid key");
			goto bad;
		}
		memcpy(r->key, k, kn);
		r->key[kn] = '\0';
		skip_ws(&l);
		char c = l.s[l.i];
		if (neg) {
			r->op = OP_NOTEXISTS;
		} else if (c == ',' || c == '\0') {
			r->op = OP_EXISTS;
		} else if (c == '=' || c == '!') {
			if (c == '!') {
				if (l.s[l.i + 1] != '=') {
					rc = fail(err, errlen, &l, "expected '!='");
					goto bad;
				}
				r->op = OP_NE;
				l.i += 2;
			} else {
				r->op = OP_EQ;
				l.i += l.s[l.i + 1] == '=' ? 2 : 1;
			}
			const char *v;
			size_t vn = word(&l, &v);
			if (!valid_name(v, vn, true)) {
				rc = fail(err, errlen, &l, "invalid value");
				goto bad;
			}
			memcpy(r->values[0], v, vn);
			r->values[0][vn] = '\0';
			r->nvalues = 1;
		} else {
			const char *w;
			size_t wn = word(&l, &w);
			if (wn == 2 && strncmp(w, "in", 2) == 0) {
				r->op = OP_IN;
			} else if (wn == 5 && strncmp(w, "notin", 5) == 0) {
				r->op = OP_NOTIN;
			} else {
				rc = fail(err, errlen, &l, "expected an operator");
				goto bad;
			}
			rc = parse_values(&l, r, err, errlen);
			if (rc != 0)
				goto bad;
		}
		sel->n++;
		skip_ws(&l);
		if (l.s[l.i] == '\0')
			break;
		if (l.s[l.i] != ',') {
			rc = fail(err, errlen, &l, "expected ','");
			goto bad;
		}
		l.i++;
	}
done:
	*out = sel;
	return 0;
bad:
	free(sel);
	return rc;
}

static const char *label(const cJSON *labels, const char *key)
{
	const cJSON *v = labels ? cJSON_GetObjectItemCaseSensitive(labels, key) : NULL;
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool in_values(const req_t *r, const char *v)
{
	for (size_t i = 0; i < r->nvalues; i++) {
		if (strcmp(r->values[i], v) == 0)
			return true;
	}
	return false;
}

bool kube_selector_match(const kube_selector_t *sel, const cJSON *labels)
{
	for (size_t i = 0; sel && i < sel->n; i++) {
		const req_t *r = &sel->reqs[i];
		const char *v = label(labels, r->key);
		switch (r->op) {
		case OP_EQ:
		case OP_IN:
			if (v == NULL || !in_values(r, v))
				return false;
			break;
		case OP_NE:
		case OP_NOTIN:
			if (v != NULL && in_values(r, v))
				return false;
			break;
		case OP_EXISTS:
			if (v == NULL)
				return false;
			break;
		case OP_NOTEXISTS:
			if (v != NULL)
				return false;
			break;
		}
	}
	return true;
}

size_t kube_selector_count(const kube_selector_t *sel)
{
	return sel ? sel->n : 0;
}

void kube_selector_free(kube_selector_t *sel)
{
	free(sel);
}

int kube_field_selector_validate(const char *s, char *err, size_t errlen)
{
	const char *p = s ? s : "";
	if (*p == '\0')
		return 0;
	for (;;) {
		const char *start = p;
		while (is_alnum(*p) || *p == '.' || *p == '-' || *p == '_')
			p++;
		if (p == start) {
			snprintf(err, errlen,
			         "field selector: expected a field name at position %zu",
			         (size_t)(p - s));
			return KUBE_EINVAL;
		}
		if (p[0] == '!' && p[1] == '=')
			p += 2;
		else if (p[0] == '=' && p[1] == '=')
			p += 2;
		else if (p[0] == '=')
			p += 1;
		else {
			snprintf(err, errlen,
			         "field selector: expected '=', '==' or '!=' at position %zu",
			         (size_t)(p - s));
			return KUBE_EINVAL;
		}
		while (*p && *p != ',') {
			if (*p == ' ' || *p == '(' || *p == ')' || (unsigned char)*p < 0x20) {
				snprintf(err, errlen,
				         "field selector: invalid character in value at position "
				         "%zu",
				         (size_t)(p - s));
				return KUBE_EINVAL;
			}
			p++;
		}
		if (*p == '\0')
			return 0;
		p++;
	}
}

#include "prom/prom.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"

#define DEFAULT_MAX_BODY (16u * 1024u * 1024u)

const char *prom_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
	case PROM_ESYNTAX:
		return "malformed exposition text";
	case PROM_ETOOBIG:
		return "too large";
	case PROM_ENOMEM:
		return "out of memory";
	case PROM_ESTOPPED:
		return "stopped by the caller";
	case PROM_EMISSING:
		return "required metric missing";
	case PROM_EINVAL:
		return "invalid value";
	}
	return "unknown prom error";
}

static void seterr(char *err, size_t errlen, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* ---- metric families (for # TYPE / # HELP bookkeeping) -------------------- */

typedef struct {
	char *name; /* NULL = empty slot */
	uint32_t hash;
	prom_type_t type;
	bool has_type, has_help, has_samples;
} family_t;

typedef struct {
	family_t *slots;
	size_t cap, used;
} famtab_t;

static void famtab_free(famtab_t *t)
{
	for (size_t i = 0; i < t->cap; i++)
		free(t->slots[i].name);
	free(t->slots);
	t->slots = NULL;
	t->cap = t->used = 0;
}

static family_t *famtab_find(famtab_t *t, const char *name, size_t n)
{
	uint32_t h;
	if (t->cap == 0)
		return NULL;
	h = base_fnv1a(name, n);
	for (size_t i = h & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
		family_t *f = &t->slots[i];
		if (f->name == NULL)
			return NULL;
		if (f->hash == h && strncmp(f->name, name, n) == 0 && f->name[n] == '\0')
			return f;
	}
}

static family_t *famtab_add(famtab_t *t, const char *name, size_t n)
{
	family_t *f = famtab_find(t, name, n);
	uint32_t h;
	if (f)
		return f;
	if ((t->used + 1) * 2 > t->cap) {
		size_t ncap = t->cap ? t->cap * 2 : 16;
		family_t *ns = calloc(ncap, sizeof(*ns));
		if (ns == NULL)
			return NULL;
		for (size_t i = 0; i < t->cap; i++) {
			family_t *o = &t->slots[i];
			if (o->name == NULL)
				continue;
			size_t j = o->hash & (ncap - 1);
			while (ns[j].name)
				j = (j + 1) & (ncap - 1);
			ns[j] = *o;
		}
		free(t->slots);
		t->slots = ns;
		t->cap = ncap;
	}
	h = base_fnv1a(name, n);
	size_t i = h & (t->cap - 1);
	while (t->slots[i].name)
		i = (i + 1) & (t->cap - 1);
	f = &t->slots[i];
	f->name = strndup(name, n);
	if (f->name == NULL)
		return NULL;
	f->hash = h;
	f->type = PROM_UNTYPED;
	f->has_type = f->has_help = f->has_samples = false;
	t->used++;
	return f;
}

/* ---- lexing helpers ------------------------------------------------------ */

static bool is_name_start(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}
static bool is_name_char(int c)
{
	return is_name_start(c) || (c >= '0' && c <= '9');
}
static bool is_lname_start(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
static bool is_lname_char(int c)
{
	return is_lname_start(c) || (c >= '0' && c <= '9');
}
static bool is_blank(int c)
{
	return c == ' ' || c == '\t';
}

static char *skip_blanks(char *p)
{
	while (is_blank(*p))
		p++;
	return p;
}

/* Parses a Go-style float token (NUL-terminated). 0 or -1. */
static int parse_value(const char *tok, double *out)
{
	const char *p = tok;
	bool neg = false;
	char *end;

	/* Fast path: plain integers, the common case for counters and gauges. */
	if (*p == '-') {
		neg = true;
		p++;
	}
	if (*p >= '0' && *p <= '9') {
		uint64_t v = 0;
		int digits = 0;
		while (*p >= '0' && *p <= '9' && digits < 16) {
			v = v * 10 + (uint64_t)(*p - '0');
			p++;
			digits++;
		}
		if (*p == '\0') {
			*out = neg ? -(double)v : (double)v;
			return 0;
		}
	}
	p = tok;
	if (*p == '+' || *p == '-')
		p++;
	if (strcasecmp(p, "inf") == 0 || strcasecmp(p, "infinity") == 0) {
		*out = tok[0] == '-' ? -INFINITY : INFINITY;
		return 0;
	}
	if (strcasecmp(p, "nan") == 0) {
		*out = NAN;
		return 0;
	}
	/* strtod would also take "nan(...)", "infinity" prefixes and hex floats:
	 * only digits, sign, point and exponent go to it. */
	for (const char *q = p; *q; q++) {
		if (!((*q >= '0' && *q <= '9') || *q == '.' || *q == 'e' || *q == 'E' ||
		      *q == '+' || *q == '-'))
			return -1;
	}
	if (*p == '\0')
		return -1;
	errno = 0;
	*out = strtod(tok, &end);
	if (*end != '\0' || end == tok)
		return -1;
	if (errno == ERANGE && !isinf(*out) && *out != 0)
		return -1;
	return 0;
}

static int parse_timestamp(const char *tok, int64_t *out)
{
	char *end;
	long long v;
	if (!((*tok >= '0' && *tok <= '9') || (*tok == '-' && tok[1] >= '0' && tok[1] <= '9')))
		return -1;
	errno = 0;
	v = strtoll(tok, &end, 10);
	if (*end != '\0' || errno != 0)
		return -1;
	*out = (int64_t)v;
	return 0;
}

static prom_type_t family_type_of(famtab_t *ft, const char *name, size_t n)
{
	static const struct {
		const char *suffix;
		size_t len;
	} sfx[] = {{"_bucket", 7}, {"_sum", 4}, {"_count", 6}};
	family_t *f = famtab_find(ft, name, n);
	if (f && f->has_type)
		return f->type;
	for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		if (n > sfx[i].len &&
		    memcmp(name + n - sfx[i].len, sfx[i].suffix, sfx[i].len) == 0) {
			family_t *b = famtab_find(ft, name, n - sfx[i].len);
			if (b && b->has_type &&
			    (b->type == PROM_HISTOGRAM || (b->type == PROM_SUMMARY && i > 0)))
				return b->type;
		}
	}
	return PROM_UNTYPED;
}

/* ---- the parser ------------------------------------------------------------ */

typedef struct {
	famtab_t fams;
	char *scratch; /* one line, NUL-terminated, unescaped in place */
	prom_label_t labels[PROM_MAX_LABELS];
	/* last sample's family, to skip the hash lookup on runs of one family */
	char lastname[256];
	prom_type_t lasttype;
	bool has_last;
} parser_t;

static int parse_meta(parser_t *ps, char *p, size_t lineno, char *err, size_t errlen)
{
	bool is_type;
	char *name;
	size_t n;
	family_t *f;

	/* p points after '#'. */
	p = skip_blanks(p);
	if (strncmp(p, "HELP", 4) == 0 && is_blank(p[4]))
		is_type = false;
	else if (strncmp(p, "TYPE", 4) == 0 && is_blank(p[4]))
		is_type = true;
	else
		return 0; /* another comment */
	p = skip_blanks(p + 4);
	name = p;
	if (!is_name_start(*p)) {
		seterr(err, errlen, "line %zu: %s: missing or invalid metric name", lineno,
		       is_type ? "TYPE" : "HELP");
		return PROM_ESYNTAX;
	}
	while (is_name_char(*p))
		p++;
	n = (size_t)(p - name);
	if (*p != '\0' && !is_blank(*p)) {
		seterr(err, errlen, "line %zu: invalid character '%c' in metric name", lineno, *p);
		return PROM_ESYNTAX;
	}
	f = famtab_add(&ps->fams, name, n);
	if (f == NULL)
		return PROM_ENOMEM;
	if (!is_type) {
		if (f->has_help) {
			seterr(err, errlen, "line %zu: second HELP for %s", lineno, f->name);
			return PROM_ESYNTAX;
		}
		f->has_help = true;
		return 0;
	}
	p = skip_blanks(p);
	{
		static const char *const types[] = {"untyped", "counter", "gauge", "histogram",
		                                    "summary"};
		char *word = p;
		size_t wl;
		int found = -1;
		while (*p && !is_blank(*p))
			p++;
		wl = (size_t)(p - word);
		if (*skip_blanks(p) != '\0') {
			seterr(err, errlen, "line %zu: TYPE %s: unexpected text after the type",
			       lineno, f->name);
			return PROM_ESYNTAX;
		}
		for (int i = 0; i < 5; i++) {
			if (strlen(types[i]) == wl && strncmp(word, types[i], wl) == 0)
				found = i;
		}
		if (found < 0) {
			seterr(err, errlen, "line %zu: TYPE %s: unknown type \"%.*s\"", lineno,
			       f->name, (int)(wl > 32 ? 32 : wl), word);
			return PROM_ESYNTAX;
		}
		if (f->has_type) {
			seterr(err, errlen, "line %zu: second TYPE for %s", lineno, f->name);
			return PROM_ESYNTAX;
		}
		if (f->has_samples) {
			seterr(err, errlen, "line %zu: TYPE for %s after its samples", lineno,
			       f->name);
			return PROM_ESYNTAX;
		}
		f->has_type = true;
		f->type = (prom_type_t)found;
		ps->has_last = false;
	}
	return 0;
}

static int parse_sample(parser_t *ps, char *p, size_t lineno, prom_sample_fn fn, void *ud,
                        char *err, size_t errlen)
{
	prom_sample_t s;
	char *name = p;
	char *name_end;
	char *tok;
	size_t n;

	memset(&s, 0, sizeof(s));
	s.line = lineno;
	if (!is_name_start(*p)) {
		seterr(err, errlen, "line %zu: expected a metric name, found '%c'", lineno, *p);
		return PROM_ESYNTAX;
	}
	while (is_name_char(*p))
		p++;
	name_end = p;
	n = (size_t)(name_end - name);
	if (*skip_blanks(p) == '{') {
		p = skip_blanks(p) + 1;
		for (;;) {
			char *lname, *val, *w;
			p = skip_blanks(p);
			if (*p == '}') {
				p++;
				break;
			}
			if (!is_lname_start(*p)) {
				seterr(err, errlen, "line %zu: invalid label name at '%c'", lineno,
				       *p ? *p : ' ');
				return PROM_ESYNTAX;
			}
			lname = p;
			while (is_lname_char(*p))
				p++;
			{
				char *lend = p;
				p = skip_blanks(p);
				if (*p != '=') {
					seterr(err, errlen,
					       "line %zu: expected '=' after label name %.*s",
					       lineno, (int)(lend - lname), lname);
					return PROM_ESYNTAX;
				}
				*lend = '\0';
			}
			p = skip_blanks(p + 1);
			if (*p != '"') {
				seterr(err, errlen, "line %zu: label %s: value must be quoted",
				       lineno, lname);
				return PROM_ESYNTAX;
			}
			val = w = ++p;
			for (;;) {
				if (*p == '\0') {
					seterr(err, errlen,
					       "line %zu: label %s: unterminated quoted value",
					       lineno, lname);
					return PROM_ESYNTAX;
				}
				if (*p == '"')
					break;
				if (*p == '\\') {
					p++;
					if (*p == '\\' || *p == '"')
						*w++ = *p++;
					else if (*p == 'n') {
						*w++ = '\n';
						p++;
					} else {
						seterr(err, errlen,
						       "line %zu: label %s: invalid escape \\%c",
						       lineno, lname, *p ? *p : ' ');
						return PROM_ESYNTAX;
					}
					continue;
				}
				*w++ = *p++;
			}
			p++; /* the closing quote; w <= p - 1 so the NUL fits */
			*w = '\0';
			for (size_t i = 0; i < s.nlabels; i++) {
				if (strcmp(ps->labels[i].name, lname) == 0) {
					seterr(err, errlen, "line %zu: duplicate label %s", lineno,
					       lname);
					return PROM_ESYNTAX;
				}
			}
			if (s.nlabels == PROM_MAX_LABELS) {
				seterr(err, errlen, "line %zu: more than %d labels", lineno,
				       PROM_MAX_LABELS);
				return PROM_ESYNTAX;
			}
			ps->labels[s.nlabels].name = lname;
			ps->labels[s.nlabels].value = val;
			s.nlabels++;
			p = skip_blanks(p);
			if (*p == ',') {
				p++;
				continue;
			}
			if (*p == '}') {
				p++;
				break;
			}
			seterr(err, errlen, "line %zu: expected ',' or '}' after label %s", lineno,
			       lname);
			return PROM_ESYNTAX;
		}
	} else if (*p != '\0' && !is_blank(*p)) {
		seterr(err, errlen, "line %zu: invalid character '%c' in metric name", lineno, *p);
		return PROM_ESYNTAX;
	}
	if (!is_blank(*p)) {
		seterr(err, errlen, "line %zu: %s: missing value", lineno,
		       *p ? "expected a blank before the value" : "sample");
		return PROM_ESYNTAX;
	}
	p = skip_blanks(p);
	tok = p;
	while (*p && !is_blank(*p))
		p++;
	if (p == tok) {
		seterr(err, errlen, "line %zu: sample: missing value", lineno);
		return PROM_ESYNTAX;
	}
	{
		char save = *p;
		*p = '\0';
		*name_end = '\0'; /* safe now: the name is fully consumed */
		if (parse_value(tok, &s.value) != 0) {
			seterr(err, errlen, "line %zu: %s: invalid value \"%.40s\"", lineno, name,
			       tok);
			return PROM_ESYNTAX;
		}
		*p = save;
	}
	p = skip_blanks(p);
	if (*p) {
		tok = p;
		while (*p && !is_blank(*p))
			p++;
		if (*p) {
			*p++ = '\0';
			if (*skip_blanks(p) != '\0') {
				seterr(err, errlen,
				       "line %zu: %s: unexpected text after the timestamp", lineno,
				       name);
				return PROM_ESYNTAX;
			}
		}
		if (parse_timestamp(tok, &s.timestamp_ms) != 0) {
			seterr(err, errlen, "line %zu: %s: invalid timestamp \"%.40s\"", lineno,
			       name, tok);
			return PROM_ESYNTAX;
		}
		s.has_timestamp = true;
	}
	s.name = name;
	s.labels = ps->labels;
	if (ps->has_last && strcmp(ps->lastname, name) == 0) {
		s.type = ps->lasttype;
	} else {
		family_t *f = famtab_add(&ps->fams, name, n);
		if (f == NULL)
			return PROM_ENOMEM;
		f->has_samples = true;
		s.type = family_type_of(&ps->fams, name, n);
		if (n < sizeof(ps->lastname)) {
			memcpy(ps->lastname, name, n + 1);
			ps->lasttype = s.type;
			ps->has_last = true;
		} else {
			ps->has_last = false;
		}
	}
	if (fn && fn(&s, ud) != 0) {
		seterr(err, errlen, "line %zu: stopped by the caller", lineno);
		return PROM_ESTOPPED;
	}
	return 0;
}

int prom_parse(const char *body, size_t len, size_t max_len, prom_sample_fn fn, void *ud, char *err,
               size_t errlen)
{
	parser_t ps;
	const char *p = body;
	const char *end;
	size_t lineno = 0;
	int rc = 0;

	if (max_len == 0)
		max_len = DEFAULT_MAX_BODY;
	if (len > max_len) {
		seterr(err, errlen, "body too large (%zu bytes, at most %zu)", len, max_len);
		return PROM_ETOOBIG;
	}
	if (body == NULL && len > 0) {
		seterr(err, errlen, "NULL body");
		return PROM_EINVAL;
	}
	if (len == 0)
		return 0;
	end = body + len;
	memset(&ps, 0, sizeof(ps));
	ps.scratch = malloc(PROM_MAX_LINE + 1);
	if (ps.scratch == NULL)
		return PROM_ENOMEM;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		size_t ll = (size_t)(le - p);
		char *line;

		lineno++;
		if (ll > 0 && p[ll - 1] == '\r') {
			seterr(err, errlen, "line %zu: carriage return (lines end with \\n only)",
			       lineno);
			rc = PROM_ESYNTAX;
			break;
		}
		if (ll > PROM_MAX_LINE) {
			seterr(err, errlen, "line %zu: too long (%zu bytes, at most %d)", lineno,
			       ll, PROM_MAX_LINE);
			rc = PROM_ETOOBIG;
			break;
		}
		if (memchr(p, '\0', ll) != NULL) {
			seterr(err, errlen, "line %zu: NUL byte", lineno);
			rc = PROM_ESYNTAX;
			break;
		}
		memcpy(ps.scratch, p, ll);
		ps.scratch[ll] = '\0';
		line = skip_blanks(ps.scratch);
		if (*line == '#')
			rc = parse_meta(&ps, line + 1, lineno, err, errlen);
		else if (*line != '\0')
			rc = parse_sample(&ps, line, lineno, fn, ud, err, errlen);
		if (rc != 0)
			break;
		p = nl ? nl + 1 : end;
	}
	famtab_free(&ps.fams);
	free(ps.scratch);
	return rc;
}

const char *prom_label(const prom_sample_t *s, const char *name)
{
	for (size_t i = 0; i < s->nlabels; i++) {
		if (strcmp(s->labels[i].name, name) == 0)
			return s->labels[i].value;
	}
	return NULL;
}

/* ---- histogram_quantile (promql/quantile.go bucketQuantile) --------------- */

static int bucket_cmp(const void *a, const void *b)
{
	double x = ((const prom_bucket_t *)a)->le;
	double y = ((const prom_bucket_t *)b)->le;
	return (x > y) - (x < y);
}

double prom_histogram_quantile(double q, prom_bucket_t *b, size_t n)
{
	size_t k, i, idx;
	double observations, rank, start, bend, count, maxc;

	if (isnan(q))
		return NAN;
	if (q < 0)
		return -INFINITY;
	if (q > 1)
		return INFINITY;
	if (b == NULL || n == 0)
		return NAN;
	qsort(b, n, sizeof(*b), bucket_cmp);
	if (!isinf(b[n - 1].le) || b[n - 1].le < 0)
		return NAN;
	/* coalesce equal bounds */
	k = 0;
	for (i = 0; i < n; i++) {
		if (k > 0 && b[k - 1].le == b[i].le) {
			b[k - 1].count += b[i].count;
			continue;
		}
		b[k++] = b[i];
	}
	n = k;
	/* ensure monotonic counts */
	maxc = -INFINITY;
	for (i = 0; i < n; i++) {
		if (isnan(b[i].count))
			return NAN;
		if (b[i].count < maxc)
			b[i].count = maxc;
		else
			maxc = b[i].count;
	}
	if (n < 2)
		return NAN;
	observations = b[n - 1].count;
	if (!(observations > 0))
		return NAN;
	rank = q * observations;
	/* first bucket (excluding +Inf) whose count >= rank */
	idx = n - 1;
	for (i = 0; i < n - 1; i++) {
		if (b[i].count >= rank) {
			idx = i;
			break;
		}
	}
	if (idx == n - 1)
		return b[n - 2].le;
	if (idx == 0 && b[0].le <= 0)
		return b[0].le;
	start = 0;
	bend = b[idx].le;
	count = b[idx].count;
	if (idx > 0) {
		start = b[idx - 1].le;
		count -= b[idx - 1].count;
		rank -= b[idx - 1].count;
	}
	if (count <= 0)
		return bend;
	return start + (bend - start) * (rank / count);
}

/* ---- worker extraction --------------------------------------------------- */

int prom_worker_add_bucket(prom_worker_metrics_t *m, double le, double count)
{
	size_t i;
	if (isnan(le) || isnan(count))
		return PROM_EINVAL;
	for (i = 0; i < m->nbuckets; i++) {
		if (m->buckets[i].le == le) {
			m->buckets[i].count += count;
			return 0;
		}
		if (m->buckets[i].le > le)
			break;
	}
	if (m->nbuckets == PROM_MAX_BUCKETS)
		return PROM_EINVAL;
	memmove(&m->buckets[i + 1], &m->buckets[i], (m->nbuckets - i) * sizeof(m->buckets[0]));
	m->buckets[i].le = le;
	m->buckets[i].count = count;
	m->nbuckets++;
	return 0;
}

enum {
	SEEN_SIZE = 1,
	SEEN_TARGET = 2,
	SEEN_INUSE = 4,
	SEEN_WAITERS = 8,
	SEEN_SUM = 16,
	SEEN_COUNT = 32,
};

typedef struct {
	prom_worker_metrics_t *m;
	unsigned seen;
	char *err;
	size_t errlen;
	int rc;
} extract_t;

static int set_gauge(extract_t *x, const prom_sample_t *s, unsigned bit, double *dst)
{
	if (x->seen & bit) {
		seterr(x->err, x->errlen, "line %zu: duplicate sample for %s", s->line, s->name);
		x->rc = PROM_EINVAL;
		return 1;
	}
	if (!(s->value >= 0) || isinf(s->value)) {
		seterr(x->err, x->errlen, "line %zu: %s: value %g is not a finite number >= 0",
		       s->line, s->name, s->value);
		x->rc = PROM_EINVAL;
		return 1;
	}
	x->seen |= bit;
	*dst = s->value;
	return 0;
}

static int extract_cb(const prom_sample_t *s, void *ud)
{
	extract_t *x = ud;
	prom_worker_metrics_t *m = x->m;
	const char *n = s->name;

	if (strncmp(n, "mcp_", 4) != 0)
		return 0;
	if (strcmp(n, "mcp_pool_size") == 0)
		return set_gauge(x, s, SEEN_SIZE, &m->pool_size);
	if (strcmp(n, "mcp_pool_target_size") == 0) {
		m->has_pool_target_size = true;
		return set_gauge(x, s, SEEN_TARGET, &m->pool_target_size);
	}
	if (strcmp(n, "mcp_pool_waiters") == 0)
		return set_gauge(x, s, SEEN_WAITERS, &m->waiters);
	if (strcmp(n, "mcp_pool_connections") == 0) {
		const char *st = prom_label(s, "state");
		if (st && strcmp(st, "in_use") == 0)
			return set_gauge(x, s, SEEN_INUSE, &m->pool_in_use);
		return 0;
	}
	if (strcmp(n, "mcp_request_duration_seconds_bucket") == 0) {
		const char *les = prom_label(s, "le");
		double le;
		char tmp[64];
		size_t l;
		if (les == NULL || (l = strlen(les)) == 0 || l >= sizeof(tmp)) {
			seterr(x->err, x->errlen, "line %zu: %s without a valid le label", s->line,
			       n);
			x->rc = PROM_EINVAL;
			return 1;
		}
		memcpy(tmp, les, l + 1);
		if (parse_value(tmp, &le) != 0 || isnan(le)) {
			seterr(x->err, x->errlen, "line %zu: le=\"%s\" is not a number", s->line,
			       les);
			x->rc = PROM_EINVAL;
			return 1;
		}
		for (size_t i = 0; i < m->nbuckets; i++) {
			if (m->buckets[i].le == le) {
				seterr(x->err, x->errlen, "line %zu: duplicate bucket le=\"%s\"",
				       s->line, les);
				x->rc = PROM_EINVAL;
				return 1;
			}
		}
		if (!(s->value >= 0)) {
			seterr(x->err, x->errlen, "line %zu: bucket count %g is not >= 0", s->line,
			       s->value);
			x->rc = PROM_EINVAL;
			return 1;
		}
		if (prom_worker_add_bucket(m, le, s->value) != 0) {
			seterr(x->err, x->errlen, "line %zu: more than %d histogram buckets",
			       s->line, PROM_MAX_BUCKETS);
			x->rc = PROM_EINVAL;
			return 1;
		}
		return 0;
	}
	if (strcmp(n, "mcp_request_duration_seconds_sum") == 0)
		return set_gauge(x, s, SEEN_SUM, &m->latency_sum);
	if (strcmp(n, "mcp_request_duration_seconds_count") == 0)
		return set_gauge(x, s, SEEN_COUNT, &m->latency_count);
	if (strcmp(n, "mcp_requests_total") == 0) {
		if (!(s->value >= 0) || isinf(s->value)) {
			seterr(x->err, x->errlen, "line %zu: %s: bad counter value %g", s->line, n,
			       s->value);
			x->rc = PROM_EINVAL;
			return 1;
		}
		m->requests_total += s->value;
	}
	return 0;
}

int prom_worker_extract(const char *body, size_t len, size_t max_len, prom_worker_metrics_t *out,
                        char *err, size_t errlen)
{
	extract_t x;
	int rc;

	if (out == NULL)
		return PROM_EINVAL;
	memset(out, 0, sizeof(*out));
	memset(&x, 0, sizeof(x));
	x.m = out;
	x.err = err;
	x.errlen = errlen;
	{
		char perr[256];
		rc = prom_parse(body, len, max_len, extract_cb, &x, perr, sizeof(perr));
		if (rc == PROM_ESTOPPED)
			return x.rc; /* extract_cb wrote err */
		if (rc != 0) {
			seterr(err, errlen, "%s", perr);
			return rc;
		}
	}
	if (!(x.seen & SEEN_SIZE)) {
		seterr(err, errlen, "mcp_pool_size missing");
		return PROM_EMISSING;
	}
	if (!(x.seen & SEEN_INUSE)) {
		seterr(err, errlen, "mcp_pool_connections{state=\"in_use\"} missing");
		return PROM_EMISSING;
	}
	if (!(x.seen & SEEN_WAITERS)) {
		seterr(err, errlen, "mcp_pool_waiters missing");
		return PROM_EMISSING;
	}
	if (out->nbuckets > 0 && !isinf(out->buckets[out->nbuckets - 1].le)) {
		seterr(err, errlen, "mcp_request_duration_seconds has no le=\"+Inf\" bucket");
		return PROM_EINVAL;
	}
	out->has_latency_sum = (x.seen & (SEEN_SUM | SEEN_COUNT)) == (SEEN_SUM | SEEN_COUNT);
	return 0;
}

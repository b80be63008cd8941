#include "base/opt.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"

size_t base_opt_count(const base_opt_t *tab)
{
	size_t n = 0;
	while (tab[n].name)
		n++;
	return n;
}

const base_opt_t *base_opt_find(const base_opt_t *tab, const char *name)
{
	for (; tab->name; tab++) {
		if (strcmp(tab->name, name) == 0)
			return tab;
	}
	return NULL;
}

static bool has_bounds(const base_opt_t *o)
{
	return o->min != 0 || o->max != 0;
}

static int check_bounds(const base_opt_t *o, double v, const char *prefix, const char *value,
                        char *err, size_t errlen)
{
	const char *unit = o->type == BASE_OPT_DURATION ? "ms" : "";
	if (has_bounds(o) && (v < o->min || v > o->max)) {
		snprintf(err, errlen, "%s%s: %s is out of range [%g%s, %g%s]", prefix, o->name,
		         value, o->min, unit, o->max, unit);
		return -1;
	}
	return 0;
}

static int set_string(const base_opt_t *o, char *dst, const char *value, const char *prefix,
                      char *err, size_t errlen)
{
	size_t n = strlen(value);
	if (n >= o->size) {
		snprintf(err, errlen, "%s%s: value is too long (%zu bytes, at most %zu)", prefix,
		         o->name, n, o->size - 1);
		return -1;
	}
	memcpy(dst, value, n + 1);
	return 0;
}

static int check_hostport(const base_opt_t *o, const char *value, const char *prefix, char *err,
                          size_t errlen)
{
	const char *colon = strrchr(value, ':');
	char *end;
	long port;

	if (colon == NULL || colon == value) {
		snprintf(err, errlen, "%s%s: \"%s\" is not HOST:PORT", prefix, o->name, value);
		return -1;
	}
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || errno != 0 || port < 1 || port > 65535) {
		snprintf(err, errlen, "%s%s: \"%s\" has no valid port (1-65535)", prefix, o->name,
		         value);
		return -1;
	}
	return 0;
}

static int check_enum(const base_opt_t *o, const char *value, const char *prefix, char *err,
                      size_t errlen)
{
	const char *p = o->choices;
	size_t n = strlen(value);
	while (p && *p) {
		const char *bar = strchr(p, '|');
		size_t len = bar ? (size_t)(bar - p) : strlen(p);
		if (len == n && strncmp(p, value, n) == 0)
			return 0;
		p = bar ? bar + 1 : NULL;
	}
	snprintf(err, errlen, "%s%s: \"%s\" is not one of %s", prefix, o->name, value, o->choices);
	return -1;
}

int base_opt_set(const base_opt_t *o, void *obj, const char *value, const char *prefix, char *err,
                 size_t errlen)
{
	char *field = (char *)obj + o->offset;
	char *end;

	switch (o->type) {
	case BASE_OPT_INT: {
		long long v;
		errno = 0;
		v = strtoll(value, &end, 10);
		if (*value == '\0' || *end != '\0' || errno != 0) {
			snprintf(err, errlen, "%s%s: \"%s\" is not an integer", prefix, o->name,
			         value);
			return -1;
		}
		if (check_bounds(o, (double)v, prefix, value, err, errlen) != 0)
			return -1;
		memcpy(field, &v, sizeof(v));
		return 0;
	}
	case BASE_OPT_DOUBLE: {
		double v;
		errno = 0;
		v = strtod(value, &end);
		if (*value == '\0' || *end != '\0' || errno != 0 || !isfinite(v)) {
			snprintf(err, errlen, "%s%s: \"%s\" is not a number", prefix, o->name,
			         value);
			return -1;
		}
		if (check_bounds(o, v, prefix, value, err, errlen) != 0)
			return -1;
		memcpy(field, &v, sizeof(v));
		return 0;
	}
	case BASE_OPT_DURATION: {
		int64_t ms;
		char why[160];
		if (base_parse_duration_ms(value, &ms, why, sizeof(why)) != 0) {
			snprintf(err, errlen, "%s%s: %s", prefix, o->name, why);
			return -1;
		}
		if (check_bounds(o, (double)ms, prefix, value, err, errlen) != 0)
			return -1;
		memcpy(field, &ms, sizeof(ms));
		return 0;
	}
	case BASE_OPT_BOOL: {
		bool v;
		if (strcmp(value, "true") == 0 || strcmp(value, "1") == 0 ||
		    strcmp(value, "yes") == 0) {
			v = true;
		} else if (strcmp(value, "false") == 0 || strcmp(value, "0") == 0 ||
		           strcmp(value, "no") == 0) {
			v = false;
		} else {
			snprintf(err, errlen, "%s%s: \"%s\" is not true or false", prefix, o->name,
			         value);
			return -1;
		}
		memcpy(field, &v, sizeof(v));
		return 0;
	}
	case BASE_OPT_HOSTPORT:
		if (check_hostport(o, value, prefix, err, errlen) != 0)
			return -1;
		return set_string(o, field, value, prefix, err, errlen);
	case BASE_OPT_ENUM:
		if (check_enum(o, value, prefix, err, errlen) != 0)
			return -1;
		return set_string(o, field, value, prefix, err, errlen);
	case BASE_OPT_STRING:
		return set_string(o, field, value, prefix, err, errlen);
	}
	snprintf(err, errlen, "%s%s: unknown option type", prefix, o->name);
	return -1;
}

int base_opt_defaults(const base_opt_t *tab, void *obj, bool *seen, char *err, size_t errlen)
{
	size_t n = base_opt_count(tab);
	for (size_t i = 0; i < n; i++) {
		const base_opt_t *o = &tab[i];
		const char *ev;
		if (seen)
			seen[i] = false;
		/* A field without a default starts zeroed (empty string, 0, false),
		 * so callers can tell "not given" from garbage. */
		if (o->def == NULL)
			memset((char *)obj + o->offset, 0, o->size);
		else if (base_opt_set(o, obj, o->def, "--", err, errlen) != 0)
			return -1;
		ev = o->env ? getenv(o->env) : NULL;
		if (ev && *ev) {
			char why[256];
			if (base_opt_set(o, obj, ev, "--", why, sizeof(why)) != 0) {
				snprintf(err, errlen, "environment %s: %s", o->env, why);
				return -1;
			}
		}
	}
	return 0;
}

int base_opt_parse_argv(const base_opt_t *tab, void *obj, bool *seen, int argc, char **argv,
                        int *argi, char *err, size_t errlen)
{
	int i = *argi;
	while (i < argc) {
		const char *a = argv[i];
		const char *eq;
		char name[64];
		size_t nlen;
		const base_opt_t *o;
		const char *value;

		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (strncmp(a, "--", 2) != 0)
			break;
		a += 2;
		eq = strchr(a, '=');
		nlen = eq ? (size_t)(eq - a) : strlen(a);
		if (nlen >= sizeof(name)) {
			snprintf(err, errlen, "unknown flag --%.40s...", a);
			return -1;
		}
		memcpy(name, a, nlen);
		name[nlen] = '\0';
		o = base_opt_find(tab, name);
		if (o == NULL) {
			snprintf(err, errlen, "unknown flag --%s (see --help)", name);
			return -1;
		}
		if (eq) {
			value = eq + 1;
		} else if (o->type == BASE_OPT_BOOL) {
			value = "true";
		} else if (i + 1 < argc) {
			value = argv[++i];
		} else {
			snprintf(err, errlen, "flag --%s needs a value", name);
			return -1;
		}
		if (base_opt_set(o, obj, value, "--", err, errlen) != 0)
			return -1;
		if (seen)
			seen[o - tab] = true;
		i++;
	}
	*argi = i;
	return 0;
}

int base_opt_main(const base_opt_t *tab, void *obj, bool *seen, int argc, char **argv, int *argi,
                  const char *prog, const char *usage, const char *version)
{
	char err[512];
	int i = 1;

	for (int k = 1; k < argc; k++) {
		if (strcmp(argv[k], "--") == 0)
			break;
		if (strcmp(argv[k], "--help") == 0 || strcmp(argv[k], "-h") == 0) {
			base_opt_help(tab, usage, stdout);
			return 1;
		}
		if (strcmp(argv[k], "--version") == 0) {
			printf("%s %s\n", prog, version);
			return 1;
		}
	}
	if (base_opt_defaults(tab, obj, seen, err, sizeof(err)) != 0 ||
	    base_opt_parse_argv(tab, obj, seen, argc, argv, &i, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: %s\n", prog, err);
		return 2;
	}
	if (argi) {
		*argi = i;
	} else if (i < argc) {
		fprintf(stderr, "%s: unexpected argument \"%s\" (see --help)\n", prog, argv[i]);
		return 2;
	}
	return 0;
}

static const char *type_word(const base_opt_t *o)
{
	switch (o->type) {
	case BASE_OPT_INT:
		return "N";
	case BASE_OPT_DOUBLE:
		return "X";
	case BASE_OPT_DURATION:
		return "DUR";
	case BASE_OPT_BOOL:
		return "";
	case BASE_OPT_STRING:
		return "S";
	case BASE_OPT_HOSTPORT:
		return "ADDR:PORT";
	case BASE_OPT_ENUM:
		return o->choices;
	}
	return "";
}

void base_opt_help(const base_opt_t *tab, const char *usage, void *fpv)
{
	FILE *fp = fpv;
	fprintf(fp, "%s\n\nFlags:\n", usage);
	for (const base_opt_t *o = tab; o->name; o++) {
		char left[96];
		const char *t = type_word(o);
		snprintf(left, sizeof(left), "--%s%s%s", o->name, *t ? " " : "", t);
		fprintf(fp, "  %-34s %s", left, o->help ? o->help : "");
		if (o->def && *o->def)
			fprintf(fp, " (default %s)", o->def);
		if (o->env)
			fprintf(fp, " [env %s]", o->env);
		if (has_bounds(o)) {
			if (o->type == BASE_OPT_DURATION)
				fprintf(fp, " [%gms..%gms]", o->min, o->max);
			else
				fprintf(fp, " [%g..%g]", o->min, o->max);
		}
		fputc('\n', fp);
	}
	fprintf(fp, "  %-34s %s\n  %-34s %s\n", "--help", "print this help and exit", "--version",
	        "print the version and exit");
}

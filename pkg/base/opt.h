/* pkg/base/opt: table-driven options, in the manner of nginx's ngx_command_t.
 * One table of {name, type, offsetof(field), bounds, default, env, help} drives
 * command-line parsing, environment fallbacks, --help output, and validation
 * of key/value maps (the policy ConfigMap), so the three never drift.
 *
 * Fields live in a caller struct; the table says where. Strings are stored in
 * fixed char arrays inside that struct (size = sizeof the array), so nothing
 * here allocates and there is nothing to free. */
#ifndef MCP_BASE_OPT_H
#define MCP_BASE_OPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
	BASE_OPT_INT,      /* long long, bounds min..max */
	BASE_OPT_DOUBLE,   /* double, bounds min..max */
	BASE_OPT_DURATION, /* int64_t milliseconds, bounds min..max in ms */
	BASE_OPT_BOOL,     /* bool; "true/false/1/0/yes/no"; a bare flag means true */
	BASE_OPT_STRING,   /* char[size] */
	BASE_OPT_HOSTPORT, /* char[size], "HOST:PORT" with port 1..65535 */
	BASE_OPT_ENUM,     /* char[size], one of the '|'-separated words in `choices` */
} base_opt_type_t;

typedef struct {
	const char *name; /* flag name without dashes, or ConfigMap key */
	base_opt_type_t type;
	size_t offset;       /* offsetof(struct, field) */
	size_t size;         /* sizeof the field (strings: the array size) */
	double min, max;     /* bounds for numbers and durations (ms); both 0 = none */
	const char *def;     /* default as text, or NULL: no default */
	const char *env;     /* environment fallback, or NULL */
	const char *choices; /* BASE_OPT_ENUM: "a|b|c" */
	const char *help;
} base_opt_t;

#define BASE_OPT_END                                                                               \
	{                                                                                          \
		NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL                                        \
	}

/* Number of entries before BASE_OPT_END. */
size_t base_opt_count(const base_opt_t *tab);
/* Finds an entry by name, or NULL. */
const base_opt_t *base_opt_find(const base_opt_t *tab, const char *name);

/* Parses value into the field of entry o in obj. 0, or -1 with err set to a
 * sentence naming the option and the problem (e.g. "--pool-size: \"x\" is not
 * an integer"). `prefix` is put before the name ("--" for flags, "" for keys). */
int base_opt_set(const base_opt_t *o, void *obj, const char *value, const char *prefix, char *err,
                 size_t errlen);

/* Applies every default (then environment fallbacks) to obj; a field with no
 * default is zeroed. `seen`, when not
 * NULL, is cleared (one bool per entry). 0, or -1 when a default or an
 * environment value is invalid (err names it). */
int base_opt_defaults(const base_opt_t *tab, void *obj, bool *seen, char *err, size_t errlen);

/* Parses argv[*argi..] in the forms --name=value, --name value and, for
 * booleans, --name. Stops at the first non-flag argument or after "--",
 * leaving *argi there. Marks seen[i]. Returns 0, or -1 with err naming the
 * flag (unknown flag, missing value, bad value). --help and --version are not
 * handled here: see base_opt_main_flags. */
int base_opt_parse_argv(const base_opt_t *tab, void *obj, bool *seen, int argc, char **argv,
                        int *argi, char *err, size_t errlen);

/* Standard front door for a daemon: defaults + env + argv. Returns 0 to go
 * on, 1 when --help or --version was printed (exit 0), or 2 after printing
 * "PROG: ERROR" to stderr (exit 2). Positional arguments are refused unless
 * argi is not NULL, in which case *argi is the first one. */
int base_opt_main(const base_opt_t *tab, void *obj, bool *seen, int argc, char **argv, int *argi,
                  const char *prog, const char *usage, const char *version);

/* Prints usage and every option with its type, default, env and help. */
void base_opt_help(const base_opt_t *tab, const char *usage, void *fp);

#endif

/* pkg/base/log: a leveled, structured logger writing one line per record,
 * as logfmt (default) or JSON lines, to stderr (or a FILE set by the owner).
 *
 * A record is an event name plus key/value string pairs:
 *   base_log(BASE_LOG_INFO, "scale", "policy", "mcp/worker", "replicas", "3->6", NULL);
 * prints
 *   ts=2026-12-04T16:00:00.123Z level=info event=scale policy=mcp/worker replicas=3->6
 * Values are quoted and escaped as needed, so any string is safe to pass.
 *
 * Thread safe: a record is formatted into a local buffer and written with one
 * fwrite under a mutex, so lines from several threads never interleave.
 * The logger is process-global state owned by this module. */
#ifndef MCP_BASE_LOG_H
#define MCP_BASE_LOG_H

#include <stdarg.h>
#include <stdio.h>

typedef enum {
	BASE_LOG_DEBUG = 0,
	BASE_LOG_INFO = 1,
	BASE_LOG_WARN = 2,
	BASE_LOG_ERROR = 3,
	BASE_LOG_OFF = 4,
} base_log_level_t;

typedef enum {
	BASE_LOG_LOGFMT = 0,
	BASE_LOG_JSON = 1,
} base_log_format_t;

/* Sets the minimum level written (default info). */
void base_log_set_level(base_log_level_t level);
base_log_level_t base_log_get_level(void);
void base_log_set_format(base_log_format_t format);
/* Redirects output; NULL restores stderr. The FILE stays owned by the caller. */
void base_log_set_output(FILE *out);
/* Parses "debug|info|warn|error|off" and "logfmt|json"; 0 or -1. */
int base_log_parse_level(const char *s, base_log_level_t *out);
int base_log_parse_format(const char *s, base_log_format_t *out);
/* A program's logging from its --log-level and --log-format values: parses
 * and sets both, and adds component=NAME to every record (NULL: none).
 * Returns 0, or -1 (nothing changed) when either value does not parse. */
int base_log_setup(const char *level, const char *format, const char *component);
/* Adds a key/value pair printed on every record (e.g. "component"); at most 4.
 * Both strings are copied. */
void base_log_set_static(const char *key, const char *value);

/* Writes one record: event name then (key, value) string pairs ended by NULL.
 * A NULL event name omits the "event" key (the caller may pass it as a pair).
 * A NULL value prints as an empty string. Lines longer than 4 KiB are cut. */
void base_log(base_log_level_t level, const char *event, ...);
void base_logv(base_log_level_t level, const char *event, va_list ap);
/* Writes one record with a printf-formatted "msg" field. */
void base_logf(base_log_level_t level, const char *event, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Formats a record into buf (no trailing newline) without writing it; used by
 * tests and by callers that keep the line. Returns the length written. */
size_t base_log_format_record(char *buf, size_t cap, base_log_format_t format,
                              base_log_level_t level, const char *event, va_list ap);

#endif

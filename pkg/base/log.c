#include "base/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#define LOG_LINE_MAX   4096
#define LOG_STATIC_MAX 4

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static base_log_level_t log_level = BASE_LOG_INFO;
static base_log_format_t log_format = BASE_LOG_LOGFMT;
static FILE *log_out;
static char static_kv[LOG_STATIC_MAX][2][64];
static int static_n;

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

void base_log_set_level(base_log_level_t level)
{
	log_level = level;
}
base_log_level_t base_log_get_level(void)
{
	return log_level;
}
void base_log_set_format(base_log_format_t format)
{
	log_format = format;
}

void base_log_set_output(FILE *out)
{
	pthread_mutex_lock(&log_mu);
	log_out = out;
	pthread_mutex_unlock(&log_mu);
}

int base_log_parse_level(const char *s, base_log_level_t *out)
{
	for (int i = 0; i <= BASE_LOG_OFF; i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (base_log_level_t)i;
			return 0;
		}
	}
	return -1;
}

int base_log_parse_format(const char *s, base_log_format_t *out)
{
	if (strcmp(s, "logfmt") == 0) {
		*out = BASE_LOG_LOGFMT;
		return 0;
	}
	if (strcmp(s, "json") == 0) {
		*out = BASE_LOG_JSON;
		return 0;
	}
	return -1;
}

int base_log_setup(const char *level, const char *format, const char *component)
{
	base_log_level_t l;
	base_log_format_t f;
	if (base_log_parse_level(level, &l) != 0 || base_log_parse_format(format, &f) != 0)
		return -1;
	base_log_set_level(l);
	base_log_set_format(f);
	if (component)
		base_log_set_static("component", component);
	return 0;
}

void base_log_set_static(const char *key, const char *value)
{
	pthread_mutex_lock(&log_mu);
	if (static_n < LOG_STATIC_MAX) {
		snprintf(static_kv[static_n][0], sizeof(static_kv[0][0]), "%s", key);
		snprintf(static_kv[static_n][1], sizeof(static_kv[0][1]), "%s", value);
		static_n++;
	}
	pthread_mutex_unlock(&log_mu);
}

/* Bounded appender: once full, further appends are dropped. */
typedef struct {
	char *p;
	size_t len, cap;
} sbuf_t;

static void put(sbuf_t *b, const char *s, size_t n)
{
	if (b->len + n >= b->cap)
		n = b->cap - 1 - b->len;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void putc_(sbuf_t *b, char c)
{
	put(b, &c, 1);
}
static void puts_(sbuf_t *b, const char *s)
{
	put(b, s, strlen(s));
}

static bool needs_quote(const char *v)
{
	if (*v == '\0')
		return true;
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		if (*p <= ' ' || *p == '"' || *p == '=' || *p == '\\' || *p >= 0x7f)
			return true;
	}
	return false;
}

static void put_escaped(sbuf_t *b, const char *v, bool json)
{
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		char tmp[8];
		switch (*p) {
		case '"':
			puts_(b, "\\\"");
			break;
		case '\\':
			puts_(b, "\\\\");
			break;
		case '\n':
			puts_(b, "\\n");
			break;
		case '\r':
			puts_(b, "\\r");
			break;
		case '\t':
			puts_(b, "\\t");
			break;
		default:
			if (*p < 0x20 || (*p == 0x7f)) {
				snprintf(tmp, sizeof(tmp), json ? "\\u%04x" : "\\x%02x", *p);
				puts_(b, tmp);
			} else {
				putc_(b, (char)*p);
			}
		}
	}
}

static void put_kv(sbuf_t *b, base_log_format_t f, const char *k, const char *v, bool first)
{
	if (v == NULL)
		v = "";
	if (f == BASE_LOG_JSON) {
		if (!first)
			putc_(b, ',');
		putc_(b, '"');
		put_escaped(b, k, true);
		puts_(b, "\":\"");
		put_escaped(b, v, true);
		putc_(b, '"');
		return;
	}
	if (!first)
		putc_(b, ' ');
	puts_(b, k);
	putc_(b, '=');
	if (needs_quote(v)) {
		putc_(b, '"');
		put_escaped(b, v, false);
		putc_(b, '"');
	} else {
		puts_(b, v);
	}
}

size_t base_log_format_record(char *buf, size_t cap, base_log_format_t format,
                              base_log_level_t level, const char *event, va_list ap)
{
	sbuf_t b = {buf, 0, cap};
	char ts[96];
	struct timespec now;
	struct tm tm;

	if (cap == 0)
		return 0;
	buf[0] = '\0';
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
	         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	         now.tv_nsec / 1000000);
	if (format == BASE_LOG_JSON)
		putc_(&b, '{');
	put_kv(&b, format, "ts", ts, true);
	put_kv(&b, format, "level", level_names[level <= BASE_LOG_OFF ? level : BASE_LOG_ERROR],
	       false);
	for (int i = 0; i < static_n; i++)
		put_kv(&b, format, static_kv[i][0], static_kv[i][1], false);
	/* A NULL event leaves the key out, for callers that place "event"
	 * among their own pairs (the controller's decision lines). */
	if (event)
		put_kv(&b, format, "event", event, false);
	for (;;) {
		const char *k = va_arg(ap, const char *);
		if (k == NULL)
			break;
		const char *v = va_arg(ap, const char *);
		put_kv(&b, format, k, v, false);
	}
	if (format == BASE_LOG_JSON)
		putc_(&b, '}');
	return b.len;
}

void base_logv(base_log_level_t level, const char *event, va_list ap)
{
	char line[LOG_LINE_MAX];
	size_t n;

	if (level < log_level || level >= BASE_LOG_OFF)
		return;
	n = base_log_format_record(line, sizeof(line) - 1, log_format, level, event, ap);
	line[n++] = '\n';
	pthread_mutex_lock(&log_mu);
	fwrite(line, 1, n, log_out ? log_out : stderr);
	fflush(log_out ? log_out : stderr);
	pthread_mutex_unlock(&log_mu);
}

void base_log(base_log_level_t level, const char *event, ...)
{
	va_list ap;
	va_start(ap, event);
	base_logv(level, event, ap);
	va_end(ap);
}

static void log_msg(base_log_level_t level, const char *event, const char *msg, ...)
{
	va_list ap;
	va_start(ap, msg);
	(void)msg;
	base_logv(level, event, ap);
	va_end(ap);
}

void base_logf(base_log_level_t level, const char *event, const char *fmt, ...)
{
	char msg[LOG_LINE_MAX / 2];
	va_list ap;

	if (level < log_level || level >= BASE_LOG_OFF)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_msg(level, event, NULL, "msg", msg, (const char *)NULL);
}

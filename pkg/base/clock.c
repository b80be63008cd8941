#include "base/clock.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t base_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t base_now_ms(void)
{
	return base_now_ns() / 1000000;
}

int64_t base_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void base_sleep_ms(int64_t ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

void base_abs_timespec(void *out, int64_t ms_from_now)
{
	struct timespec *ts = out;
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms_from_now / 1000;
	ts->tv_nsec += (ms_from_now % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

static const struct {
	const char *name;
	double ns;
} units[] = {
        {"ns", 1}, {"us", 1e3}, {"µs", 1e3}, {"ms", 1e6}, {"s", 1e9}, {"m", 60e9}, {"h", 3600e9},
};

int base_parse_duration_ns(const char *s, int64_t *out, char *err, size_t errlen)
{
	const char *p = s;
	double total = 0;

	if (s == NULL || *s == '\0') {
		snprintf(err, errlen, "empty duration");
		return -1;
	}
	if (strcmp(s, "0") == 0) {
		*out = 0;
		return 0;
	}
	while (*p) {
		char *end;
		double v;
		size_t best = 0;
		double mult = 0;

		if (!((*p >= '0' && *p <= '9') || *p == '.')) {
			snprintf(err, errlen,
			         "invalid duration \"%s\": expected a number at \"%s\"", s, p);
			return -1;
		}
		errno = 0;
		v = strtod(p, &end);
		if (end == p || errno != 0 || !isfinite(v)) {
			snprintf(err, errlen, "invalid duration \"%s\"", s);
			return -1;
		}
		p = end;
		for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
			size_t n = strlen(units[i].name);
			if (strncmp(p, units[i].name, n) == 0 && n > best) {
				best = n;
				mult = units[i].ns;
			}
		}
		if (best == 0) {
			if (*p == '\0')
				snprintf(err, errlen,
				         "invalid duration \"%s\": missing unit (ms, s, m, h)", s);
			else
				snprintf(err, errlen,
				         "invalid duration \"%s\": unknown unit at \"%s\"", s, p);
			return -1;
		}
		p += best;
		total += v * mult;
		if (total > 9.2e18) {
			snprintf(err, errlen, "invalid duration \"%s\": too large", s);
			return -1;
		}
	}
	*out = (int64_t)total;
	return 0;
}

int base_parse_duration_ms(const char *s, int64_t *out, char *err, size_t errlen)
{
	int64_t ns;
	if (base_parse_duration_ns(s, &ns, err, errlen) != 0)
		return -1;
	*out = ns / 1000000;
	return 0;
}

char *base_format_duration_ms(int64_t ms, char *buf, size_t cap)
{
	if (ms < 1000)
		snprintf(buf, cap, "%lldms", (long long)ms);
	else if (ms < 60000 && ms % 1000 == 0)
		snprintf(buf, cap, "%llds", (long long)(ms / 1000));
	else if (ms < 60000)
		snprintf(buf, cap, "%.3gs", (double)ms / 1000.0);
	else
		snprintf(buf, cap, "%lldm%llds", (long long)(ms / 60000),
		         (long long)((ms % 60000) / 1000));
	return buf;
}

char *base_format_rfc3339(int64_t wall_ms, char *buf, size_t cap)
{
	time_t t = (time_t)(wall_ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

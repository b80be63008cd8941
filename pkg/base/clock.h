/* pkg/base/clock: monotonic and wall time helpers and duration strings.
 * Durations in flags and ConfigMaps are written as Go/Kubernetes writes them:
 * "500ms", "15s", "2m", "1m30s", "1.5s", "250us"; a bare "0" is zero. */
#ifndef MCP_BASE_CLOCK_H
#define MCP_BASE_CLOCK_H

#include <stddef.h>
#include <stdint.h>

/* Monotonic clock (CLOCK_MONOTONIC), for deadlines and intervals. */
int64_t base_now_ns(void);
int64_t base_now_ms(void);
/* Wall clock (CLOCK_REALTIME) in milliseconds since the epoch. */
int64_t base_wall_ms(void);
/* Sleeps, resuming after signals, until ms have passed. */
void base_sleep_ms(int64_t ms);
/* Fills ts (struct timespec *) with the CLOCK_REALTIME instant `ms_from_now`
 * ahead, for pthread_cond_timedwait. */
void base_abs_timespec(void *ts, int64_t ms_from_now);

/* Parses a duration string into nanoseconds. Returns 0, or -1 with a reason
 * in err (e.g. "unknown unit \"x\"", "missing unit"). Negative durations and
 * values above ~292 years are rejected. */
int base_parse_duration_ns(const char *s, int64_t *out, char *err, size_t errlen);
/* Same, in milliseconds (sub-millisecond remainders are truncated). */
int base_parse_duration_ms(const char *s, int64_t *out, char *err, size_t errlen);
/* Writes a short form ("1.5s", "250ms", "2m0s") into buf; returns buf. */
char *base_format_duration_ms(int64_t ms, char *buf, size_t cap);
/* RFC 3339 UTC timestamp with seconds ("2026-12-04T16:00:00Z") of wall ms. */
char *base_format_rfc3339(int64_t wall_ms, char *buf, size_t cap);

#endif

/* pkg/kube/retry: the pure parts of request retries: which failures may be
 * retried, exponential backoff with jitter, and a client-side token bucket.
 * No I/O and no clock reads: time and randomness are passed in, so tests
 * drive them directly.
 *
 * Retry policy (decided as client-go does, stricter for blind retries):
 *  - 429 Too Many Requests: retried for every verb; the server refused the
 *    request before doing anything (API Priority and Fairness).
 *  - any 5xx that carries Retry-After: retried for every verb; client-go
 *    treats Retry-After as the server's statement that a retry is safe.
 *  - 500/502/503/504 without Retry-After, and transport errors or timeouts
 *    (no answer at all): retried only for idempotent requests: GET, PUT (an
 *    update carries resourceVersion, so a replay yields 409, never a double
 *    write), DELETE and merge patches. POST (create) and JSON patches are
 *    not replayed blindly: the first attempt may have been applied.
 *  - 409 Conflict and every other 4xx go to the caller (re-read, retry).
 *  - TLS verification failures are never retried. */
#ifndef MCP_KUBE_RETRY_H
#define MCP_KUBE_RETRY_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
	int64_t base_ms;            /* first delay (default 250 ms) */
	int64_t max_ms;             /* cap on one delay (default 30 s) */
	int max_retries;            /* retries after the first attempt (default 5) */
	int64_t max_retry_after_ms; /* cap on an honoured Retry-After (default 60 s) */
} kube_backoff_t;

/* Fills b with the defaults above. */
void kube_backoff_default(kube_backoff_t *b);

/* Should a finished attempt be retried? err is the transport error (0 when a
 * response arrived), status the HTTP status. `retry` is how many retries have
 * been made already; false once it reaches b->max_retries. */
bool kube_retry_allowed(const kube_backoff_t *b, int retry, bool idempotent, int err, long status,
                        bool has_retry_after);

/* Delay before retry number `retry` (1 = first retry). With a Retry-After
 * (>= 0) the server's value is used, capped at max_retry_after_ms, never less
 * than the server asked unless capped. Otherwise d = min(max, base * 2^(retry-1))
 * with "equal jitter": a value in [d/2, d), rnd being uniform in [0,1). */
int64_t kube_retry_delay(const kube_backoff_t *b, int retry, int64_t retry_after_ms, double rnd);

/* Token bucket (as client-go's flowcontrol / x/time/rate): qps tokens per
 * second, at most burst saved. qps <= 0 disables limiting. */
typedef struct {
	double qps;
	double burst;
	double tokens;
	int64_t last_ms;
} kube_ratelimit_t;

void kube_ratelimit_init(kube_ratelimit_t *rl, double qps, int burst, int64_t now_ms);
/* Reserves one token and returns how long (ms) the caller must wait before
 * sending; 0 = now. Reservations queue: the bucket may go negative, so N
 * callers arriving together are spaced 1/qps apart in arrival order. */
int64_t kube_ratelimit_reserve(kube_ratelimit_t *rl, int64_t now_ms);

#endif

/* pkg/mcppool: a pool of libmodbus TCP connections to one device.
 *
 * Shape (after nginx's upstream keepalive cache): `max_size` preallocated
 * slots, each holding at most one libmodbus context and moving through the
 * states below; a FIFO of waiters with deadlines; background threads that
 * open connections (never under the pool lock) and do housekeeping.
 *
 * Ownership:
 * - The pool owns every slot and every modbus_t. mcppool_acquire() lends one
 *   connection to exactly one borrower (a libmodbus context is not thread
 *   safe); the borrower may use mcppool_conn_modbus()/mcppool_conn_fd() until
 *   it calls mcppool_release(), and must not close or free them.
 * - Every successful acquire must be followed by exactly one release.
 * - mcppool_free() must only be called once every borrowed connection has
 *   been released; it stops the background threads and closes everything.
 *
 * Thread safety: all functions may be called from any thread, except
 * mcppool_free() (once, by the owner, after all other calls have returned).
 *
 * Resources: the pool holds max_size + 1 file descriptors below FD_SETSIZE
 * for its whole life (placeholders the device sockets are moved onto, since
 * libmodbus uses select()), plus `openers` + 1 threads. A thread that uses
 * any pool takes one of 64 process-wide stats indices (given back by a
 * thread-exit destructor; threads beyond 64 share 8 atomic ones). Design,
 * breaker, tuning and benchmark figures: docs/mcppool.md.
 *
 * Errors: functions return 0 or a negative MCPPOOL_E* code;
 * mcppool_strerror() names it. Human detail goes to the caller's err buffer
 * where there is one, or to the log (pkg/base/log). */
#ifndef MCP_MCPPOOL_POOL_H
#define MCP_MCPPOOL_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <modbus.h>

typedef struct mcppool mcppool_t;
typedef struct mcppool_conn mcppool_conn_t;

#define MCPPOOL_EINVAL    (-1) /* bad argument or configuration */
#define MCPPOOL_ENOMEM    (-2) /* allocation failed */
#define MCPPOOL_ETIMEDOUT (-3) /* no connection became free before the deadline */
#define MCPPOOL_EBREAKER  (-4) /* circuit breaker open: device considered down, failed fast */
#define MCPPOOL_ECLOSED   (-5) /* pool is shutting down */
#define MCPPOOL_ESYS      (-6) /* a system call failed (thread creation, ...) */

/* Connection lifecycle. A slot with no connection is DISCONNECTED. */
typedef enum {
	MCPPOOL_DISCONNECTED = 0,
	MCPPOOL_CONNECTING,
	MCPPOOL_IDLE,
	MCPPOOL_IN_USE,
	MCPPOOL_BROKEN,
	MCPPOOL_CLOSING,
	MCPPOOL_STATE_COUNT,
} mcppool_state_t;

/* How a borrower's use of a connection ended. */
typedef enum {
	MCPPOOL_OK = 0,    /* healthy: back to idle (or retired if over size/age) */
	MCPPOOL_BROKEN_IO, /* I/O error or peer closed: close and replace */
	MCPPOOL_TIMEOUT,   /* device did not answer in time: the stream may be out of
	                      step, so close and replace; counts toward the breaker */
} mcppool_outcome_t;

typedef enum {
	MCPPOOL_BREAKER_CLOSED = 0,
	MCPPOOL_BREAKER_OPEN,
	MCPPOOL_BREAKER_HALF_OPEN,
} mcppool_breaker_t;

typedef struct {
	char host[256];
	int port;
	int unit_id;                 /* slave id set on every context */
	int size;                    /* initial target size */
	int min_idle;                /* keep at least this many idle connections open (<= size) */
	int max_size;                /* hard cap on slots; set_size clamps to it */
	int64_t connect_timeout_ms;  /* TCP connect */
	int64_t response_timeout_ms; /* libmodbus response timeout on every context */
	int64_t byte_timeout_ms;     /* libmodbus byte timeout */
	int64_t keepalive_ms;        /* validate a connection idle longer than this (0: never) */
	int validate_addr;           /* holding register read (FC 3, 1 register) to validate;
	                                an exception reply also proves the link (-1: TCP check only) */
	int64_t max_lifetime_ms;     /* retire connections older than this (0: no limit) */
	int64_t max_idle_ms;         /* retire idle connections older than this beyond min_idle
	                                (0: no limit) */
	int64_t leak_threshold_ms;   /* log a connection held longer than this, once (0: off) */
	int breaker_threshold;       /* consecutive connect/IO failures that open the breaker */
	int64_t breaker_open_ms;     /* how long it stays open before a half-open probe */
	int64_t backoff_initial_ms;  /* reconnect backoff, doubled per failure, with jitter */
	int64_t backoff_max_ms;
	int64_t housekeeping_ms; /* housekeeping period */
	int openers;             /* background connect threads (1..16): how many
	                            connects run in parallel when the pool grows */
	int coarse_clock;        /* 1: time acquire/release with CLOCK_MONOTONIC_COARSE
	                            (~5 ns a read, but the wait/request histograms get
	                            the kernel tick's resolution, 1-4 ms); 0 (default):
	                            precise (see tsc_clock) */
	int tsc_clock;           /* 1 (default): precise timestamps from the CPU's
	                            time-stamp counter (x86, ~16-20 ns a read) when it is
	                            invariant (constant_tsc, nonstop_tsc) and the kernel's
	                            clocksource is "tsc", calibrated once per process
	                            against CLOCK_MONOTONIC; otherwise, or with 0,
	                            CLOCK_MONOTONIC (~25-30 ns). mcppool_clock_source()
	                            tells which one a pool uses. */
} mcppool_config_t;

/* Fills c with defaults: 127.0.0.1:502, unit 1, size 4, min_idle 0, max_size
 * 64, connect 1 s, response 1 s, byte 500 ms, keepalive 30 s, validate_addr 0,
 * max lifetime 0, max idle 5 min, leak 10 s, breaker 5 failures / 5 s, backoff
 * 100 ms..10 s, housekeeping 1 s, 2 openers, precise clock (TSC when
 * usable). */
void mcppool_config_default(mcppool_config_t *c);

/* Creates a pool and starts its background threads; connections up to
 * `size` start opening at once. Does not wait for them. On error returns
 * MCPPOOL_EINVAL (err says which field) / ENOMEM / ESYS and *out is NULL. */
int mcppool_new(const mcppool_config_t *c, mcppool_t **out, char *err, size_t errlen);

/* Stops the threads, closes every connection, frees the pool. NULL is fine. */
void mcppool_free(mcppool_t *p);

/* Borrows an idle connection, waiting in FIFO order up to timeout_ms (0: do
 * not wait). A connection idle longer than keepalive_ms is validated first.
 * `tag` (copied, may be NULL) names the borrower in leak reports.
 * Returns 0 and *out, or MCPPOOL_ETIMEDOUT (the waiter leaves no trace),
 * MCPPOOL_EBREAKER (breaker open: fails fast), MCPPOOL_ECLOSED. */
int mcppool_acquire(mcppool_t *p, int64_t timeout_ms, const char *tag, mcppool_conn_t **out);

/* Returns a borrowed connection with the outcome of its use. Never fails.
 * The held time is recorded in the request-latency histogram. */
void mcppool_release(mcppool_t *p, mcppool_conn_t *c, mcppool_outcome_t outcome);

/* mcppool_release() for a caller that times its exchanges itself:
 * latency_ns (>= 0; the caller's own measurement, e.g. request written to
 * reply read) goes into the request-latency histogram instead of the held
 * time; negative is plain mcppool_release(). With coarse_clock = 1 the pool
 * then reads only the coarse clock (for idle, lifetime and leak times, where
 * a tick is plenty) and its request histogram is as precise as the caller's
 * clock: mcp-worker runs its pool this way. */
void mcppool_release_timed(mcppool_t *p, mcppool_conn_t *c, mcppool_outcome_t outcome,
                           int64_t latency_ns);

/* The borrowed connection's libmodbus context / socket. Borrowed pointers:
 * valid until release. The fd is always below FD_SETSIZE (libmodbus uses
 * select()). */
modbus_t *mcppool_conn_modbus(mcppool_conn_t *c);
int mcppool_conn_fd(mcppool_conn_t *c);
/* How long the borrowed connection sat unused before this borrow: since its
 * last release by anyone, or since it was opened (the pool's clock; with
 * coarse_clock a tick or two of slack). For callers that validate idle
 * connections themselves (keepalive_ms 0). */
int64_t mcppool_conn_idle_ns(const mcppool_conn_t *c);

/* Changes the target size live (clamped to 1..max_size; returns the value
 * applied). Grows at once in the background; shrinks by closing idle
 * connections first and in-use ones when they are released. */
int mcppool_set_size(mcppool_t *p, int n);

/* Histogram buckets (upper bounds in seconds) shared by the stats. */
#define MCPPOOL_HIST_BUCKETS 14
extern const double mcppool_hist_bounds[MCPPOOL_HIST_BUCKETS];

typedef struct {
	uint64_t buckets[MCPPOOL_HIST_BUCKETS]; /* non-cumulative counts per bucket */
	uint64_t overflow;                      /* above the last bound (+Inf) */
	uint64_t count;
	double sum; /* seconds */
} mcppool_hist_t;

typedef struct {
	int size;        /* connections that exist or are being opened (not DISCONNECTED) */
	int target_size; /* what set_size last asked for */
	int max_size;
	int states[MCPPOOL_STATE_COUNT];
	int waiters; /* borrowers waiting in acquire now */
	uint64_t acquires, acquire_timeouts, acquire_rejected;
	uint64_t connects, connect_failures, validations_failed;
	uint64_t retired_lifetime, retired_idle, broken, leaks_reported;
	mcppool_breaker_t breaker;
	mcppool_hist_t wait;    /* time spent in acquire */
	mcppool_hist_t request; /* time from acquire to release */
} mcppool_stats_t;

/* Copies a consistent snapshot of the counters. */
void mcppool_stats(mcppool_t *p, mcppool_stats_t *s);

const char *mcppool_strerror(int err);
/* Static lower-case names: "disconnected", "in_use", ...; "closed",
 * "open", "half_open". Unknown values give "unknown" / "?". */
const char *mcppool_state_name(mcppool_state_t s);
const char *mcppool_breaker_name(mcppool_breaker_t b);
/* The clock a pool times acquire/release with: "tsc", "monotonic" or
 * "monotonic_coarse" (static strings); NULL gives "unknown". */
const char *mcppool_clock_source(const mcppool_t *p);

#endif

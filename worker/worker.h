/* mcp-worker internals shared by its files (not a library interface).
 *
 * Threads:
 * - --threads event loops (loop.c + forward.c). Each owns its clients, their
 *   requests, its borrowed device connections and its epoll set: client and
 *   device I/O both run in one loop (nginx upstream style), so a request
 *   costs no thread hand-off. Loop 0 also owns the listening socket (it
 *   hands each new client to the loop serving the fewest), the signalfd and
 *   the pool size file's inotify watch. Loops talk only through their lane
 *   (below): a pipe for handed-over clients and wake-ups, and atomics;
 * - the libmicrohttpd thread (metrics.c) reads the metrics under their lock,
 *   the lanes' atomics and the pool's stats;
 * - the pool's own opener and housekeeping threads (pkg/mcppool) open and
 *   retire connections; the loops only borrow idle ones without waiting. */
#ifndef MCP_WORKER_WORKER_H
#define MCP_WORKER_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "mbap/mbap.h"
#include "mcppool/pool.h"

typedef struct {
	char listen[300];
	char device[300];
	char http[300];
	long long pool_size;
	long long pool_max;
	char pool_size_file[1024];
	long long unit_id;
	bool unit_filter;
	long long queue_max;
	int64_t request_timeout_ms;
	int64_t connect_timeout_ms;
	long long max_clients;
	long long client_max_inflight;
	int64_t max_client_age_ms;
	int64_t drain_grace_ms;
	bool connect_per_request;
	long long forwarders;
	long long threads; /* event loops; 0: one per CPU the process may use */
	long long breaker_threshold;
	int64_t breaker_open_ms;
	int64_t keepalive_ms;
	char log_level[8];
	char log_format[8];
} worker_opts_t;

/* Request outcomes, as mcp_requests_total{result=...}. */
typedef enum {
	RES_OK = 0,      /* the device answered (normal reply) */
	RES_EXCEPTION,   /* the device or the gateway's validation answered an exception */
	RES_TIMEOUT,     /* device did not answer in time: 0x0B */
	RES_BUSY,        /* queue full: 0x06 */
	RES_UNAVAILABLE, /* no connection / breaker open: 0x0A */
	RES_COUNT,
} result_t;

struct client;
struct dconn;

/* A client request from the moment it is read until its answer is handed
 * back to the loop. While it is inside forward.c it sits on the timer list
 * (arrival order, which is deadline order since every request gets the same
 * --request-timeout) and either on the wait queue or on one device
 * connection. */
typedef struct req {
	struct req *next;          /* wait queue / done list */
	struct req *tprev, *tnext; /* timer list */
	struct client *client;     /* loop-owned; forward.c never dereferences it */
	struct dconn *dc;          /* device connection serving it; NULL while queued */
	uint8_t adu[MBAP_MAX_ADU]; /* the request as the client sent it */
	size_t len;
	uint8_t rep[MBAP_MAX_ADU]; /* the answer, under the client's transaction id */
	size_t rlen;
	int64_t arrival_ns;
	int64_t deadline_ns;
	int attempts; /* times sent to the device */
	bool queued;
	result_t result;
} req_t;

#define HIST_N 13
extern const double worker_hist_bounds[HIST_N];

typedef struct {
	pthread_mutex_t lock;
	uint64_t results[RES_COUNT];
	uint64_t buckets[HIST_N + 1]; /* non-cumulative; last is +Inf */
	uint64_t count;
	double sum;
	uint64_t malformed; /* clients closed for a malformed frame */
	uint64_t clients_accepted;
	uint64_t clients_retired; /* closed by --max-client-age */
	uint64_t cpr_connects;    /* connect-per-request mode: connections opened */
	atomic_int clients;       /* mcp_client_connections */
	atomic_int waiting;       /* requests queued for a connection: mcp_pool_waiters */
	atomic_int target_size;   /* mcp_pool_target_size */
	atomic_int cpr_up;        /* connect-per-request: last connect worked */
	atomic_bool draining;
} metrics_t;

typedef struct fwd fwd_t;

/* What one loop shares with the others (and /healthz). */
typedef struct {
	atomic_llong head_ns;      /* arrival of its oldest queued request; 0: none */
	atomic_llong heartbeat_ns; /* its last iteration, for /healthz */
	atomic_int nclients;       /* clients it serves (loop 0 balances on this) */
	atomic_bool kicked;        /* a wake-up is in its pipe already */
	int pipe_rd, pipe_wr;      /* handed-over clients and wake-ups (lane_msg_t) */
} lane_t;

typedef struct {
	worker_opts_t *o;
	mcppool_t *pool; /* NULL in connect-per-request mode */
	metrics_t m;
	int nlanes; /* event loops (--threads) */
	lane_t *lanes;
	atomic_bool drain;   /* SIGTERM seen: every loop drains */
	atomic_int cpr_open; /* connect-per-request: connections open, all loops */
} worker_t;

/* forward.c: the device side of the loop.
 *
 * fwd_new() makes the forwarder for w, registering device sockets in the
 * loop's epoll set ep. Requests go in with fwd_submit() (ownership passes to
 * the forwarder) and come out, answered, from fwd_take_done() (ownership
 * back to the caller); nothing completes inside fwd_submit's caller's stack
 * frame, so callers need not fear re-entry. Device sockets carry a dconn
 * pointer in epoll data; the loop recognises it with fwd_owns() and passes
 * its events to fwd_event(). fwd_run_timers() handles deadlines and new pool
 * connections; fwd_next_ms() says when it wants to run next. */
int fwd_new(worker_t *w, int ep, int lane, fwd_t **out, char *err, size_t errlen);
/* Releases every device connection and frees f; every request must have
 * been taken back first (fwd_abort + fwd_take_done). NULL is fine. */
void fwd_free(fwd_t *f);
/* Takes ownership of r (adu, len, client, arrival_ns, deadline_ns set). */
void fwd_submit(fwd_t *f, req_t *r);
/* True when an epoll data pointer names one of f's device connections. */
bool fwd_owns(const fwd_t *f, const void *ptr);
void fwd_event(fwd_t *f, void *ptr, uint32_t events);
void fwd_run_timers(fwd_t *f, int64_t now_ns);
/* Milliseconds until fwd_run_timers wants to run (at most cap_ms). */
int fwd_next_ms(const fwd_t *f, int64_t now_ns, int cap_ms);
/* Answered requests, a list linked by next (caller owns them); NULL if none. */
req_t *fwd_take_done(fwd_t *f);
/* Starts queued requests now if connections can be had (the loop was
 * woken: another loop gave a connection back for this loop's queue). */
void fwd_poke(fwd_t *f);
/* Requests inside the forwarder (queued or at the device). */
int fwd_inflight(const fwd_t *f);
/* Ends every request now (exception 0x0B; connections released as broken),
 * for shutdown past the drain deadline. */
void fwd_abort(fwd_t *f);

/* metrics.c */
void metrics_init(metrics_t *m);
void metrics_observe(metrics_t *m, result_t res, double seconds, bool timed);
void metrics_count(metrics_t *m, uint64_t *field);
/* Registers /metrics, /healthz, /readyz on h for w. */
struct httpd;
int metrics_routes(struct httpd *h, worker_t *w);
bool worker_ready(worker_t *w);

/* loop.c. loop_lanes_init() makes w's n lanes (before anything reads them:
 * the HTTP thread does); loop_run() runs the loops until SIGTERM/SIGINT and
 * the drain end, 0 on a clean exit; loop_kick() wakes loop i (any thread).
 * loop_heartbeat_ns() is the oldest loop's last iteration. */
int loop_lanes_init(worker_t *w, int n, char *err, size_t errlen);
/* --threads 0: the CPUs this process may run on, capped by the cgroup v2
 * CPU limit in the file cpu_max (rounded up: 1.5 CPUs give 2), 1..64. */
int loop_auto_threads(const char *cpu_max);
void loop_lanes_free(worker_t *w);
int loop_run(worker_t *w);
void loop_kick(worker_t *w, int lane);
/* The lane's own loop, when its pipe is readable: reads it dry, giving each
 * handed-over client to take (NULL: closed), and re-arms loop_kick. The
 * caller then looks at why it was woken (drain, its queue: fwd_poke). */
void loop_lane_read(lane_t *ln, void (*take)(void *ud, int fd, uint64_t id, const char *peer),
                    void *ud);
int64_t loop_heartbeat_ns(worker_t *w);

#endif

/* mcp-worker internals shared by its files (not a library interface).
 *
 * Threads:
 * - the loop thread (loop.c) owns every client, the listening socket, the
 *   inotify watch and the signalfd; only it touches a client_t;
 * - forwarder threads (forward.c) take requests from the bounded queue,
 *   borrow a pooled device connection, do one exchange, and hand the
 *   request back to the loop through the completion list + eventfd;
 * - the libmicrohttpd thread (metrics.c) reads the metrics under their lock
 *   and the pool's stats.
 * A req_t belongs to the loop until it is queued, then to one forwarder,
 * then to the loop again once completed. */
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
	long long breaker_threshold;
	int64_t breaker_open_ms;
	int64_t keepalive_ms;
	char log_level[8];
	char log_format[8];
} worker_opts_t;

/* Request outcomes, as mcp_requests_total{result=...}. */
typedef enum {
	RES_OK = 0,	 /* the device answered (normal reply) */
	RES_EXCEPTION,	 /* the device or the gateway's validation answered an exception */
	RES_TIMEOUT,	 /* device did not answer in time: 0x0B */
	RES_BUSY,	 /* queue full: 0x06 */
	RES_UNAVAILABLE, /* no connection / breaker open: 0x0A */
	RES_COUNT,
} result_t;

struct client;

typedef struct req {
	struct req *next;
	struct client *client; /* loop-owned; forwarders never dereference it */
	uint8_t adu[MBAP_MAX_ADU];
	size_t len;
	uint8_t rep[MBAP_MAX_ADU];
	size_t rlen;
	int64_t arrival_ns;
	int64_t deadline_ns;
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
	uint64_t malformed;	     /* clients closed for a malformed frame */
	uint64_t clients_accepted;
	uint64_t clients_retired;    /* closed by --max-client-age */
	uint64_t cpr_connects;	     /* connect-per-request mode: connections opened */
	atomic_int clients;	     /* mcp_client_connections */
	atomic_int waiting;	     /* queued + acquiring: mcp_pool_waiters */
	atomic_int target_size;	     /* mcp_pool_target_size */
	atomic_int cpr_up;	     /* connect-per-request: last connect worked */
	atomic_llong heartbeat_ns;   /* loop iteration time, for /healthz */
	atomic_bool draining;
} metrics_t;

typedef struct {
	worker_opts_t *o;
	mcppool_t *pool; /* NULL in connect-per-request mode */
	metrics_t m;

	/* request queue (loop -> forwarders) */
	pthread_mutex_t qlock;
	pthread_cond_t qcond;
	req_t *qhead, *qtail;
	int qlen;
	bool qclosed;

	/* completions (forwarders -> loop) */
	pthread_mutex_t clock;
	req_t *chead, *ctail;
	int efd; /* eventfd */

	pthread_t *threads;
	int nthreads;
	atomic_uint tid_seq;
	atomic_int inflight; /* forwarded, not yet completed */
} worker_t;

/* forward.c */
int forward_start(worker_t *w, char *err, size_t errlen);
/* Queues r; false when the queue is full (caller answers 0x06). */
bool forward_submit(worker_t *w, req_t *r);
/* Takes every completed request (a list linked by next), clearing the eventfd. */
req_t *forward_take_completed(worker_t *w);
/* Closes the queue (pending requests are still served) and joins the threads. */
void forward_stop(worker_t *w);

/* metrics.c */
void metrics_init(metrics_t *m);
void metrics_observe(metrics_t *m, result_t res, double seconds, bool timed);
void metrics_count(metrics_t *m, uint64_t *field);
/* Registers /metrics, /healthz, /readyz on h for w. */
struct httpd;
int metrics_routes(struct httpd *h, worker_t *w);
bool worker_ready(worker_t *w);

/* loop.c */
int loop_run(worker_t *w);

#endif

/* The device side of the worker's event loop (nginx upstream style).
 *
 * A request is served on a pooled device connection borrowed without waiting
 * (mcppool_acquire with timeout 0) and driven by the loop's epoll set: the
 * request is written under the gateway's own transaction id, the reply is
 * framed by its MBAP length, checked against the request, put back under the
 * client's id and handed to the loop; the connection goes back to the pool
 * at once. One request is outstanding per device connection: Modbus devices
 * serve one request at a time per connection, and many answer pipelined
 * requests out of step or not at all.
 *
 * Requests that find no idle connection wait in a FIFO (bounded by
 * --queue-max; full: 0x06) and are started when the loop releases a
 * connection, or, while the loop holds fewer connections than the pool's
 * target size, by polling the pool every millisecond (a connection the pool
 * has just opened). Every request inside is also on the timer list in
 * arrival order; as every deadline is arrival + --request-timeout, that list
 * is in deadline order, so expiry is a walk from its head.
 *
 * Device sockets are registered EPOLLONESHOT with the dconn as data: one
 * epoll_ctl per step re-arms them and no event can arrive for a connection
 * that is back in the pool. The pool moves each slot's sockets onto a fixed
 * descriptor, so the re-arm tries MOD first and ADDs only when the pool has
 * opened a new socket there (the old one left the epoll set when closed).
 *
 * Connect-per-request mode uses the same machinery with a fresh non-blocking
 * connection per request (at most the target pool size at once). */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "worker.h"

#define POLL_NS      1000000LL    /* pool poll period while requests wait */
#define PEEK_IDLE_NS 1000000000LL /* check for a peer close after this much idle */

typedef enum {
	DC_FREE = 0,
	DC_CONNECTING, /* connect-per-request: non-blocking connect under way */
	DC_VALIDATING, /* keepalive: validation read before the request */
	DC_SENDING,    /* request (or validation) partly written */
	DC_WAITING,    /* request written, reading the reply */
} dc_state_t;

typedef struct dconn {
	dc_state_t st;
	bool validating; /* the exchange under way is the keepalive read */
	bool got_bytes;  /* some reply bytes arrived */
	mcppool_conn_t *pc;
	int fd;
	req_t *r;
	uint8_t out[MBAP_MAX_ADU];
	size_t olen, ooff;
	uint8_t in[MBAP_MAX_ADU];
	size_t ilen;
	int64_t connect_deadline_ns;
	int64_t sent_ns;         /* when the exchange under way was started */
	int64_t dev_deadline_ns; /* sent_ns + the device's response timeout */
	bool on_dl;              /* on the device deadline list */
	struct dconn *dprev, *dnext;
	struct dconn *next_free;
} dconn_t;

struct fwd {
	worker_t *w;
	int ep;
	int lane; /* index of this loop in w->lanes */
	dconn_t *dcs;
	int ndcs;
	dconn_t *free_dcs;
	int nbusy; /* dconns not free */
	int nconnecting;
	req_t *qhead, *qtail;
	req_t *thead, *ttail; /* timer list */
	int inside;
	req_t *dhead, *dtail; /* done */
	uint16_t tid;
	int64_t next_poll_ns;
	bool pumping;
	/* Exchanges under way in start order, which is device deadline order
	 * (every one gets the same response timeout). */
	dconn_t *dlhead, *dltail;
	int64_t svc_ewma_ns; /* smoothed device exchange time (EWMA, 1/8) */
	/* connect-per-request */
	struct sockaddr_storage dev_sa;
	socklen_t dev_salen;
};

static const int64_t NS_PER_MS = 1000000LL;

/* ---- bookkeeping -------------------------------------------------------- */

static void timer_remove(fwd_t *f, req_t *r)
{
	if (r->tprev)
		r->tprev->tnext = r->tnext;
	else
		f->thead = r->tnext;
	if (r->tnext)
		r->tnext->tprev = r->tprev;
	else
		f->ttail = r->tprev;
	r->tprev = r->tnext = NULL;
}

/* After the queue changed by delta: the worker-wide count (mcp_pool_waiters,
 * --queue-max) and this loop's oldest waiter, which the other loops read. */
static void set_waiting(fwd_t *f, int delta)
{
	atomic_fetch_add_explicit(&f->w->m.waiting, delta, memory_order_relaxed);
	atomic_store_explicit(&f->w->lanes[f->lane].head_ns, f->qhead ? f->qhead->arrival_ns : 0,
	                      memory_order_relaxed);
}

/* The loop whose oldest waiter arrived before t (the oldest such), or -1.
 * A connection goes to the oldest request of the whole worker, not to the
 * loop that happened to give it back: each loop only borrows without
 * waiting, so without this a loop that holds no connection under overload
 * would see none (its 1 ms polls find the pool empty). */
static int older_elsewhere(const fwd_t *f, int64_t t)
{
	const worker_t *w = f->w;
	int best = -1;
	for (int i = 0; i < w->nlanes; i++) {
		int64_t h;
		if (i == f->lane)
			continue;
		h = atomic_load_explicit(&w->lanes[i].head_ns, memory_order_relaxed);
		if (h != 0 && h < t) {
			t = h;
			best = i;
		}
	}
	return best;
}

static void enqueue(fwd_t *f, req_t *r, bool front)
{
	r->queued = true;
	r->dc = NULL;
	r->next = NULL;
	if (front) {
		r->next = f->qhead;
		f->qhead = r;
		if (f->qtail == NULL)
			f->qtail = r;
	} else {
		if (f->qtail)
			f->qtail->next = r;
		else
			f->qhead = r;
		f->qtail = r;
	}
	set_waiting(f, 1);
}

static req_t *dequeue(fwd_t *f)
{
	req_t *r = f->qhead;
	if (r == NULL)
		return NULL;
	f->qhead = r->next;
	if (f->qhead == NULL)
		f->qtail = NULL;
	r->queued = false;
	r->next = NULL;
	set_waiting(f, -1);
	return r;
}

/* Unlinks a queued request from anywhere in the queue. */
static void queue_remove(fwd_t *f, req_t *r)
{
	req_t *prev = NULL;
	for (req_t *q = f->qhead; q; prev = q, q = q->next) {
		if (q != r)
			continue;
		if (prev)
			prev->next = q->next;
		else
			f->qhead = q->next;
		if (f->qtail == q)
			f->qtail = prev;
		r->queued = false;
		r->next = NULL;
		set_waiting(f, -1);
		return;
	}
}

/* Hands r back to the loop. */
static void finish(fwd_t *f, req_t *r)
{
	timer_remove(f, r);
	f->inside--;
	r->dc = NULL;
	r->next = NULL;
	if (f->dtail)
		f->dtail->next = r;
	else
		f->dhead = r;
	f->dtail = r;
}

static void finish_exception(fwd_t *f, req_t *r, uint8_t code, result_t res)
{
	int n = mbap_build_exception(r->adu, r->len, code, r->rep, sizeof(r->rep));
	r->rlen = n > 0 ? (size_t)n : 0;
	r->result = res;
	finish(f, r);
}

static void dl_remove(fwd_t *f, dconn_t *dc)
{
	if (!dc->on_dl)
		return;
	if (dc->dprev)
		dc->dprev->dnext = dc->dnext;
	else
		f->dlhead = dc->dnext;
	if (dc->dnext)
		dc->dnext->dprev = dc->dprev;
	else
		f->dltail = dc->dprev;
	dc->dprev = dc->dnext = NULL;
	dc->on_dl = false;
}

static void dl_append(fwd_t *f, dconn_t *dc)
{
	dc->dnext = NULL;
	dc->dprev = f->dltail;
	if (f->dltail)
		f->dltail->dnext = dc;
	else
		f->dlhead = dc;
	f->dltail = dc;
	dc->on_dl = true;
}

static dconn_t *dc_get(fwd_t *f)
{
	dconn_t *dc = f->free_dcs;
	if (dc == NULL)
		return NULL;
	f->free_dcs = dc->next_free;
	f->nbusy++;
	memset(dc, 0, sizeof(*dc));
	dc->fd = -1;
	return dc;
}

static void dc_put(fwd_t *f, dconn_t *dc)
{
	if (dc->st == DC_CONNECTING)
		f->nconnecting--;
	dl_remove(f, dc);
	dc->st = DC_FREE;
	dc->r = NULL;
	dc->pc = NULL;
	dc->fd = -1;
	dc->next_free = f->free_dcs;
	f->free_dcs = dc;
	f->nbusy--;
	if (f->w->pool == NULL)
		atomic_fetch_sub(&f->w->cpr_open, 1); /* reserved in start_cpr */
}

/* Gives dc's connection back (pool) or closes it (connect-per-request). */
static void dc_release(fwd_t *f, dconn_t *dc, mcppool_outcome_t outcome)
{
	if (dc->pc) {
		int64_t now = base_now_ns();
		/* The pool runs on the coarse clock (worker/main.c): the exchange's
		 * time, from the loop's clock, goes into its request histogram. */
		mcppool_release_timed(f->w->pool, dc->pc, outcome,
		                      dc->sent_ns > 0 ? now - dc->sent_ns : 0);
	} else if (dc->fd >= 0) {
		close(dc->fd); /* also leaves the epoll set */
	}
	dc_put(f, dc);
}

/* (Re)arms dc's socket for one event. */
static int dc_arm(fwd_t *f, dconn_t *dc, uint32_t events)
{
	struct epoll_event ev = {.events = events | EPOLLONESHOT, .data.ptr = dc};
	if (epoll_ctl(f->ep, EPOLL_CTL_MOD, dc->fd, &ev) == 0)
		return 0;
	if (errno == ENOENT && epoll_ctl(f->ep, EPOLL_CTL_ADD, dc->fd, &ev) == 0)
		return 0;
	base_logf(BASE_LOG_WARN, "device_epoll", "%s", strerror(errno));
	return -1;
}

static bool is_read_only(uint8_t fc)
{
	return fc == 1 || fc == 2 || fc == 3 || fc == 4 || fc == 20 || fc == 24 || fc == 43;
}

/* ---- the exchange ------------------------------------------------------- */

static bool try_start(fwd_t *f, req_t *r);
static void pump(fwd_t *f);

/* Puts the request, or the keepalive read, into dc->out under a new tid. */
static void load_out(fwd_t *f, dconn_t *dc, bool validation)
{
	dc->validating = validation;
	/* Once anything is written the device gets its whole response timeout,
	 * whatever is left of the client's deadline (see fwd_run_timers). */
	dc->sent_ns = base_now_ns();
	dc->dev_deadline_ns = dc->sent_ns + f->w->o->request_timeout_ms * NS_PER_MS;
	dl_remove(f, dc);
	dl_append(f, dc);
	dc->ooff = 0;
	dc->ilen = 0;
	dc->got_bytes = false;
	if (validation) {
		/* FC 3, one register at 0; an exception answer proves the link too. */
		static const uint8_t v[12] = {0, 0, 0, 0, 0, 6, 0, 3, 0, 0, 0, 1};
		memcpy(dc->out, v, sizeof(v));
		dc->out[6] = (uint8_t)f->w->o->unit_id;
		dc->olen = sizeof(v);
	} else {
		memcpy(dc->out, dc->r->adu, dc->r->len);
		dc->olen = dc->r->len;
		dc->r->attempts++;
	}
	mbap_set_tid(dc->out, f->tid++);
}

/* The link failed. `sent` says whether the request itself (not a keepalive
 * read) may have reached the device. */
static void dc_failed(fwd_t *f, dconn_t *dc, mcppool_outcome_t outcome, bool sent, const char *why)
{
	req_t *r = dc->r;
	bool cpr = dc->pc == NULL;
	if (r == NULL) { /* its client was answered at its deadline already */
		base_log(BASE_LOG_DEBUG, "device_io", "error", why, "phase", "orphan",
		         (char *)NULL);
		dc_release(f, dc, outcome);
		pump(f);
		return;
	}
	/* Safe to try again elsewhere: nothing of it reached the device, or a
	 * read met a connection the device had closed (no reply byte came). */
	bool retry = !cpr && (!sent || (outcome == MCPPOOL_BROKEN_IO && !dc->got_bytes &&
	                                is_read_only(r->adu[7]) && r->attempts < 2));
	base_log(dc->validating ? BASE_LOG_DEBUG : BASE_LOG_WARN, "device_io", "error", why,
	         "phase", dc->validating ? "keepalive" : "request", "retry", retry ? "yes" : "no",
	         (char *)NULL);
	dc_release(f, dc, outcome);
	r->dc = NULL;
	if (retry)
		enqueue(f, r, true);
	else
		finish_exception(f, r, MBAP_EXC_GW_TARGET, RES_TIMEOUT);
	pump(f);
}

/* Writes what is left of dc->out; then waits for the reply. */
static void dc_send(fwd_t *f, dconn_t *dc)
{
	while (dc->ooff < dc->olen) {
		ssize_t n = send(dc->fd, dc->out + dc->ooff, dc->olen - dc->ooff,
		                 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			dc->ooff += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			dc->st = DC_SENDING;
			if (dc_arm(f, dc, EPOLLOUT) != 0)
				dc_failed(f, dc, MCPPOOL_BROKEN_IO, dc->ooff > 0, "epoll");
			return;
		}
		dc_failed(f, dc, MCPPOOL_BROKEN_IO, dc->ooff > 0 && !dc->validating,
		          "write failed");
		return;
	}
	dc->st = dc->validating ? DC_VALIDATING : DC_WAITING;
	if (dc_arm(f, dc, EPOLLIN) != 0)
		dc_failed(f, dc, MCPPOOL_BROKEN_IO, !dc->validating, "epoll");
}

/* A whole reply is in dc->in[0..n). */
static void dc_reply(fwd_t *f, dconn_t *dc, size_t n)
{
	req_t *r = dc->r;
	int rc = mbap_match_reply(dc->out, dc->olen, dc->in, n);
	/* Bytes beyond one reply: the device is out of step; do not reuse. */
	bool extra = dc->ilen > n;
	if (rc != 0) {
		dc_failed(f, dc, MCPPOOL_BROKEN_IO, !dc->validating, mbap_strerror(rc));
		return;
	}
	if (!dc->validating) {
		/* The device's service time, for the dispatch check in pump(). */
		int64_t took = base_now_ns() - dc->sent_ns;
		f->svc_ewma_ns =
		        f->svc_ewma_ns == 0 ? took : f->svc_ewma_ns + (took - f->svc_ewma_ns) / 8;
	}
	if (r == NULL) {
		/* The client had its answer at its deadline; the device answered
		 * within its own timeout, so it is healthy and the stream in step. */
		dc_release(f, dc, extra ? MCPPOOL_BROKEN_IO : MCPPOOL_OK);
		pump(f);
		return;
	}
	if (dc->validating) {
		if (extra) {
			dc_failed(f, dc, MCPPOOL_BROKEN_IO, false, "extra bytes after a reply");
			return;
		}
		load_out(f, dc, false);
		dc_send(f, dc);
		return;
	}
	memcpy(r->rep, dc->in, n);
	r->rlen = n;
	mbap_set_tid(r->rep, mbap_get_tid(r->adu));
	r->result = mbap_is_exception(r->rep, r->rlen, NULL) ? RES_EXCEPTION : RES_OK;
	dc_release(f, dc, extra ? MCPPOOL_BROKEN_IO : MCPPOOL_OK);
	finish(f, r);
	pump(f);
}

static void dc_read(fwd_t *f, dconn_t *dc)
{
	for (;;) {
		ssize_t n =
		        recv(dc->fd, dc->in + dc->ilen, sizeof(dc->in) - dc->ilen, MSG_DONTWAIT);
		int fl;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (dc_arm(f, dc, EPOLLIN) != 0)
				dc_failed(f, dc, MCPPOOL_BROKEN_IO, !dc->validating, "epoll");
			return;
		}
		if (n <= 0) {
			dc_failed(f, dc, MCPPOOL_BROKEN_IO, !dc->validating,
			          n == 0 ? "device closed the connection" : "read failed");
			return;
		}
		dc->got_bytes = true;
		dc->ilen += (size_t)n;
		fl = mbap_frame(dc->in, dc->ilen);
		if (fl < 0) {
			dc_failed(f, dc, MCPPOOL_BROKEN_IO, !dc->validating, mbap_strerror(fl));
			return;
		}
		if (fl > 0) {
			dc_reply(f, dc, (size_t)fl);
			return;
		}
		/* A short read emptied the socket: wait for the rest. */
	}
}

/* Starts r on a freshly borrowed or opened connection. */
static void dc_begin(fwd_t *f, dconn_t *dc, req_t *r, bool validate)
{
	dc->r = r;
	r->dc = dc;
	load_out(f, dc, validate);
	dc_send(f, dc);
}

/* Pooled: borrows an idle connection and starts r on it. False when none
 * is idle (r untouched); true when r was started or answered. */
static bool start_pooled(fwd_t *f, req_t *r)
{
	worker_t *w = f->w;
	int64_t keepalive = w->o->keepalive_ms * NS_PER_MS;
	for (int tries = 0; tries <= f->ndcs; tries++) {
		mcppool_conn_t *pc = NULL;
		dconn_t *dc;
		int64_t idle;
		bool validate = false;
		int rc = mcppool_acquire(w->pool, 0, "worker", &pc);
		if (rc == MCPPOOL_ETIMEDOUT)
			return false;
		if (rc != 0) {
			finish_exception(f, r, MBAP_EXC_GW_PATH, RES_UNAVAILABLE);
			return true;
		}
		dc = dc_get(f);
		if (dc == NULL) { /* more borrowed than slots: cannot happen */
			mcppool_release(w->pool, pc, MCPPOOL_OK);
			return false;
		}
		dc->pc = pc;
		dc->fd = mcppool_conn_fd(pc);
		/* Since anyone (any loop) last gave it back. */
		idle = mcppool_conn_idle_ns(pc);
		if (idle > PEEK_IDLE_NS || (keepalive > 0 && idle > keepalive)) {
			/* Idle a while: the device may have closed it meanwhile. */
			char b;
			ssize_t n = recv(dc->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
			if (!(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))) {
				base_log(BASE_LOG_DEBUG, "device_stale", "reason",
				         n == 0 ? "closed by the device" : "unexpected bytes",
				         (char *)NULL);
				dc_release(f, dc, MCPPOOL_BROKEN_IO);
				continue;
			}
			validate = keepalive > 0 && idle > keepalive;
		}
		dc_begin(f, dc, r, validate);
		return true;
	}
	return false;
}

/* Connect-per-request: opens a connection for r. */
static bool start_cpr(fwd_t *f, req_t *r)
{
	worker_t *w = f->w;
	dconn_t *dc;
	int fd;
	int one = 1;
	int64_t now = base_now_ns();
	struct epoll_event ev;
	int open = atomic_load(&w->cpr_open);
	/* At most the target size open at once over all loops: reserve one
	 * (given back by dc_put, or below when it is not used). */
	do {
		if (open >= atomic_load(&w->m.target_size))
			return false;
	} while (!atomic_compare_exchange_weak(&w->cpr_open, &open, open + 1));
	if (f->dev_salen == 0) {
		char host[256];
		const char *colon = strrchr(w->o->device, ':');
		struct addrinfo hints = {0}, *ai = NULL;
		snprintf(host, sizeof(host), "%.*s", (int)(colon - w->o->device), w->o->device);
		hints.ai_socktype = SOCK_STREAM;
		if (getaddrinfo(host, colon + 1, &hints, &ai) != 0) {
			atomic_fetch_sub(&w->cpr_open, 1);
			atomic_store(&w->m.cpr_up, 0);
			finish_exception(f, r, MBAP_EXC_GW_PATH, RES_UNAVAILABLE);
			return true;
		}
		memcpy(&f->dev_sa, ai->ai_addr, ai->ai_addrlen);
		f->dev_salen = ai->ai_addrlen;
		freeaddrinfo(ai);
	}
	metrics_count(&w->m, &w->m.cpr_connects);
	fd = socket(f->dev_sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || (connect(fd, (struct sockaddr *)&f->dev_sa, f->dev_salen) != 0 &&
	               errno != EINPROGRESS)) {
		if (fd >= 0)
			close(fd);
		atomic_fetch_sub(&w->cpr_open, 1);
		atomic_store(&w->m.cpr_up, 0);
		finish_exception(f, r, MBAP_EXC_GW_PATH, RES_UNAVAILABLE);
		return true;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	dc = dc_get(f);
	if (dc == NULL) {
		close(fd);
		atomic_fetch_sub(&w->cpr_open, 1);
		return false;
	}
	dc->fd = fd;
	dc->r = r;
	r->dc = dc;
	dc->st = DC_CONNECTING;
	f->nconnecting++;
	dc->connect_deadline_ns = now + w->o->connect_timeout_ms * NS_PER_MS;
	ev.events = EPOLLOUT | EPOLLONESHOT;
	ev.data.ptr = dc;
	if (epoll_ctl(f->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
		dc_release(f, dc, MCPPOOL_BROKEN_IO);
		finish_exception(f, r, MBAP_EXC_GW_PATH, RES_UNAVAILABLE);
	}
	return true;
}

static bool try_start(fwd_t *f, req_t *r)
{
	return f->w->pool ? start_pooled(f, r) : start_cpr(f, r);
}

/* Starts queued requests while connections can be had. A failure while
 * starting one may call back in here; the outer call carries on. */
static void pump(fwd_t *f)
{
	int64_t now;
	if (f->pumping)
		return;
	f->pumping = true;
	now = base_now_ns();
	while (f->qhead) {
		req_t *r = dequeue(f);
		int older;
		if (r->deadline_ns - now <= f->svc_ewma_ns) {
			/* Too little deadline left for the device to answer: it
			 * would only be answered late and hold a connection. */
			finish_exception(f, r, MBAP_EXC_GW_PATH, RES_UNAVAILABLE);
			continue;
		}
		older = older_elsewhere(f, r->arrival_ns);
		if (older >= 0) {
			/* Another loop has waited longer: let it take the
			 * connection; this loop tries again when woken, on its
			 * next give-back or poll. */
			enqueue(f, r, true);
			loop_kick(f->w, older);
			break;
		}
		if (!try_start(f, r)) {
			enqueue(f, r, true);
			break;
		}
	}
	f->pumping = false;
	if (f->qhead == NULL && f->w->nlanes > 1) {
		/* This loop wants nothing more: a loop whose requests queued
		 * behind ours (fwd_submit) may take what is idle now, without
		 * waiting for its next poll. */
		int older = older_elsewhere(f, INT64_MAX);
		if (older >= 0)
			loop_kick(f->w, older);
	}
}

/* ---- interface ---------------------------------------------------------- */

void fwd_submit(fwd_t *f, req_t *r)
{
	r->attempts = 0;
	r->dc = NULL;
	r->queued = false;
	r->tnext = NULL;
	r->tprev = f->ttail;
	if (f->ttail)
		f->ttail->tnext = r;
	else
		f->thead = r;
	f->ttail = r;
	f->inside++;
	if (f->qhead == NULL) {
		int older = older_elsewhere(f, r->arrival_ns);
		if (older < 0 && try_start(f, r))
			return;
		if (older >= 0)
			loop_kick(f->w, older);
	}
	if (atomic_load_explicit(&f->w->m.waiting, memory_order_relaxed) >= f->w->o->queue_max) {
		finish_exception(f, r, MBAP_EXC_BUSY, RES_BUSY);
		return;
	}
	enqueue(f, r, false);
}

void fwd_poke(fwd_t *f)
{
	pump(f);
}

bool fwd_owns(const fwd_t *f, const void *ptr)
{
	const dconn_t *d = ptr;
	return d >= f->dcs && d < f->dcs + f->ndcs;
}

void fwd_event(fwd_t *f, void *ptr, uint32_t events)
{
	dconn_t *dc = ptr;
	switch (dc->st) {
	case DC_FREE:
		return; /* stale: the connection was given back meanwhile */
	case DC_CONNECTING: {
		int err = 0;
		socklen_t sl = sizeof(err);
		req_t *r = dc->r;
		if (getsockopt(dc->fd, SOL_SOCKET, SO_ERROR, &err, &sl) != 0 || err != 0 ||
		    (events & (EPOLLERR | EPOLLHUP))) {
			atomic_store(&f->w->m.cpr_up, 0);
			dc_release(f, dc, MCPPOOL_BROKEN_IO);
			finish_exception(f, r, MBAP_EXC_GW_PATH, RES_UNAVAILABLE);
			pump(f);
			return;
		}
		atomic_store(&f->w->m.cpr_up, 1);
		f->nconnecting--;
		dc->st = DC_SENDING;
		load_out(f, dc, false);
		dc_send(f, dc);
		return;
	}
	case DC_SENDING:
		dc_send(f, dc);
		return;
	case DC_VALIDATING:
	case DC_WAITING:
		dc_read(f, dc);
		return;
	}
}

/* Whether queued requests may find a connection the loop was not told
 * about: only while it holds fewer than the target size. With every
 * connection busy, a queued request is started by the release that frees
 * one (pump() from dc_reply/dc_failed), so there is nothing to poll for. */
static bool want_poll(const fwd_t *f)
{
	int target = atomic_load(&f->w->m.target_size);
	if (f->qhead == NULL)
		return false;
	return f->w->pool ? f->nbusy < target : atomic_load(&f->w->cpr_open) < target;
}

void fwd_run_timers(fwd_t *f, int64_t now)
{
	while (f->thead && f->thead->deadline_ns <= now) {
		req_t *r = f->thead;
		dconn_t *dc = r->dc;
		if (r->queued) {
			/* No connection before the deadline: path unavailable. */
			queue_remove(f, r);
			finish_exception(f, r, MBAP_EXC_GW_PATH, RES_UNAVAILABLE);
		} else if (dc && dc->st == DC_CONNECTING) {
			atomic_store(&f->w->m.cpr_up, 0);
			dc_release(f, dc, MCPPOOL_BROKEN_IO);
			finish_exception(f, r, MBAP_EXC_GW_PATH, RES_UNAVAILABLE);
		} else if (dc && dc->pc == NULL) {
			/* Connect-per-request: the connection is not reused. */
			dc_release(f, dc, MCPPOOL_BROKEN_IO);
			finish_exception(f, r, MBAP_EXC_GW_TARGET, RES_TIMEOUT);
		} else if (dc) {
			/* The client's deadline passed at the device: answer the
			 * client now, but leave the exchange running until the
			 * device answers or its own response timeout passes (the
			 * loop below), so a healthy slow device is not counted as
			 * failed and the stream stays in step. */
			bool sent = !dc->validating;
			dc->r = NULL;
			if (sent)
				finish_exception(f, r, MBAP_EXC_GW_TARGET, RES_TIMEOUT);
			else
				finish_exception(f, r, MBAP_EXC_GW_PATH, RES_UNAVAILABLE);
		} else {
			finish_exception(f, r, MBAP_EXC_GW_TARGET, RES_TIMEOUT);
		}
	}
	while (f->dlhead && f->dlhead->dev_deadline_ns <= now) {
		/* The device did not answer within its response timeout: a real
		 * device failure (counts toward the breaker); a late reply would
		 * put the stream out of step, so the connection is replaced. */
		dconn_t *dc = f->dlhead;
		req_t *r = dc->r;
		bool sent = !dc->validating;
		base_log(BASE_LOG_WARN, "device_timeout", "phase",
		         r == NULL ? "orphan" : (sent ? "request" : "keepalive"), (char *)NULL);
		dc_release(f, dc, dc->pc ? MCPPOOL_TIMEOUT : MCPPOOL_BROKEN_IO);
		if (r) {
			r->dc = NULL;
			if (sent)
				finish_exception(f, r, MBAP_EXC_GW_TARGET, RES_TIMEOUT);
			else
				enqueue(f, r, true); /* the request itself never left */
		}
		pump(f);
	}
	if (f->nconnecting > 0) {
		for (int i = 0; i < f->ndcs; i++) {
			dconn_t *dc = &f->dcs[i];
			req_t *r = dc->r;
			if (dc->st != DC_CONNECTING || now < dc->connect_deadline_ns)
				continue;
			atomic_store(&f->w->m.cpr_up, 0);
			dc_release(f, dc, MCPPOOL_BROKEN_IO);
			finish_exception(f, r, MBAP_EXC_GW_PATH, RES_UNAVAILABLE);
		}
	}
	/* A connection the pool opened since (or one the loop does not hold)
	 * may be idle now. */
	if (want_poll(f) && now >= f->next_poll_ns) {
		f->next_poll_ns = now + POLL_NS;
		pump(f);
	}
}

int fwd_next_ms(const fwd_t *f, int64_t now, int cap_ms)
{
	int64_t next = now + (int64_t)cap_ms * NS_PER_MS;
	if (f->thead && f->thead->deadline_ns < next)
		next = f->thead->deadline_ns;
	if (f->dlhead && f->dlhead->dev_deadline_ns < next)
		next = f->dlhead->dev_deadline_ns;
	/* Only when polling is wanted: next_poll_ns lies in the past while
	 * every connection is busy, and a 0 ms epoll_wait would spin. */
	if (want_poll(f) && f->next_poll_ns < next)
		next = f->next_poll_ns;
	if (f->nconnecting > 0) {
		for (int i = 0; i < f->ndcs; i++)
			if (f->dcs[i].st == DC_CONNECTING && f->dcs[i].connect_deadline_ns < next)
				next = f->dcs[i].connect_deadline_ns;
	}
	if (next <= now)
		return 0;
	return (int)((next - now + NS_PER_MS - 1) / NS_PER_MS);
}

req_t *fwd_take_done(fwd_t *f)
{
	req_t *r = f->dhead;
	f->dhead = f->dtail = NULL;
	return r;
}

int fwd_inflight(const fwd_t *f)
{
	return f->inside;
}

void fwd_abort(fwd_t *f)
{
	while (f->thead) {
		req_t *r = f->thead;
		if (r->queued)
			queue_remove(f, r);
		if (r->dc)
			dc_release(f, r->dc, MCPPOOL_BROKEN_IO);
		finish_exception(f, r, MBAP_EXC_GW_TARGET, RES_TIMEOUT);
	}
	/* Exchanges whose client was answered at its deadline. */
	for (int i = 0; i < f->ndcs; i++)
		if (f->dcs[i].st != DC_FREE)
			dc_release(f, &f->dcs[i], MCPPOOL_BROKEN_IO);
}

int fwd_new(worker_t *w, int ep, int lane, fwd_t **out, char *err, size_t errlen)
{
	fwd_t *f = calloc(1, sizeof(*f));
	*out = NULL;
	if (f == NULL)
		goto fail;
	f->w = w;
	f->ep = ep;
	f->lane = lane;
	f->ndcs = (int)w->o->pool_max;
	f->dcs = calloc((size_t)f->ndcs, sizeof(*f->dcs));
	if (f->dcs == NULL)
		goto fail;
	for (int i = f->ndcs - 1; i >= 0; i--) {
		f->dcs[i].fd = -1;
		f->dcs[i].next_free = f->free_dcs;
		f->free_dcs = &f->dcs[i];
	}
	f->nbusy = 0;
	f->tid = (uint16_t)(base_now_ns() & 0xFFFF);
	*out = f;
	return 0;
fail:
	snprintf(err, errlen, "forwarder: out of memory");
	if (f) {
		free(f->dcs);
		free(f);
	}
	return -1;
}

void fwd_free(fwd_t *f)
{
	if (f == NULL)
		return;
	fwd_abort(f);
	/* Requests aborted here were never taken back: free them. */
	for (req_t *r = fwd_take_done(f), *next; r; r = next) {
		next = r->next;
		free(r);
	}
	free(f->dcs);
	free(f);
}

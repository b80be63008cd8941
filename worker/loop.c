/* The worker's event loops: clients, framing, validation, answers, pool size
 * file, signals, drain. Device I/O runs in the same loop (forward.c).
 *
 * --threads loops run the same code, each with its own epoll set, clients
 * and forwarder. Loop 0 (the main thread) also accepts: each new client goes
 * to the loop serving the fewest, through that loop's lane pipe, and stays
 * there. Loop 0 alone reads the signalfd and the pool size file; on SIGTERM
 * it sets w->drain and wakes the others, and each loop drains its own
 * clients. One loop tops out near one core, and on a machine shared with
 * busy clients a single loop also loses the CPU to them at every wake-up it
 * causes: see docs/worker.md, "Several loops". */
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/log.h"
#include "worker.h"

#define CLIENT_IN_CAP  1024 /* room for several pipelined max-size ADUs */
#define CLIENT_OUT_CAP (256 * 1024)
#define TICK_MS        250
#define DRAIN_TICK_MS  10
#define DRAIN_QUIET_NS 50000000LL /* a draining client this quiet is closed */
#define LINGER_NS      2000000000LL
#define AGE_SLACK_NS   1000000000LL /* --max-client-age: close busy clients this late */

typedef struct client {
	int fd;
	uint64_t id;
	char peer[64];
	uint8_t in[CLIENT_IN_CAP];
	size_t inlen;
	base_buf_t out;
	int inflight;
	bool reading;   /* EPOLLIN armed */
	bool writing;   /* EPOLLOUT armed */
	bool closed;    /* socket closed; freed when inflight drops to 0 */
	bool retiring;  /* no more reads: close once idle (max age, drain) */
	bool lingering; /* FIN sent after the last answer; discarding input until EOF */
	int64_t linger_deadline_ns;
	int64_t born_ns;
	int64_t last_rx_ns;         /* last bytes received */
	struct client *prev, *next; /* live clients */
} client_t;

/* epoll tags: small integers for the fixed fds, pointers for clients. */
enum { TAG_LISTEN = 1, TAG_SIGNAL, TAG_INOTIFY, TAG_LANE, TAG_MAX };

/* Through a lane's pipe: a client handed over by loop 0 (fd >= 0) or a
 * wake-up (fd -1). Below PIPE_BUF, so writes are atomic and whole. */
typedef struct {
	int fd;
	uint64_t id;
	char peer[64];
} lane_msg_t;

typedef struct {
	worker_t *w;
	int idx; /* this loop's lane */
	lane_t *lane;
	pthread_t th;
	int rc;
	fwd_t *f;
	int ep;
	int64_t now; /* time of the last epoll_wait return */
	int lfd;
	int sfd;
	int ifd;
	int iwd;
	char dir[1024];
	char base[1024];
	char last_file[64];
	client_t *clients;
	client_t *dead; /* closed, nothing in flight: freed after the event batch */
	uint64_t next_id;
	mbap_unit_policy_t pol;
	bool draining;
	int64_t drain_start_ns;
	int64_t drain_deadline_ns;
	int64_t next_tick_ns;
	int64_t next_file_check_ns;
	uint64_t answered, abandoned;
} loop_t;

static void ep_mod(loop_t *l, client_t *c)
{
	struct epoll_event ev = {.data.ptr = c};
	if (c->closed)
		return;
	ev.events = (c->reading ? EPOLLIN : 0) | (c->writing ? EPOLLOUT : 0) | EPOLLRDHUP;
	epoll_ctl(l->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Events of the current batch may still name c: free it only afterwards. */
static void bury(loop_t *l, client_t *c)
{
	c->next = l->dead;
	l->dead = c;
}

static void free_dead(loop_t *l)
{
	while (l->dead) {
		client_t *c = l->dead;
		l->dead = c->next;
		base_buf_free(&c->out);
		free(c);
	}
}

static void client_close(loop_t *l, client_t *c, const char *why)
{
	char id[24];
	if (c->closed)
		return;
	snprintf(id, sizeof(id), "%llu", (unsigned long long)c->id);
	base_log(BASE_LOG_DEBUG, "client_close", "client", id, "peer", c->peer, "reason", why,
	         (char *)NULL);
	epoll_ctl(l->ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	c->closed = true;
	if (c->prev)
		c->prev->next = c->next;
	else
		l->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	atomic_fetch_sub(&l->lane->nclients, 1);
	atomic_fetch_sub(&l->w->m.clients, 1);
	if (c->inflight == 0)
		bury(l, c);
}

/* Ends a retiring client gracefully: every answer is written, so send FIN and
 * read (discarding) until the peer closes. Closing with unread input would
 * send a RST, which can make the peer's kernel drop answers it has not read
 * yet. */
static void client_linger(loop_t *l, client_t *c)
{
	if (c->closed || c->lingering)
		return;
	shutdown(c->fd, SHUT_WR);
	c->lingering = true;
	c->linger_deadline_ns = base_now_ns() + LINGER_NS;
	if (l->draining && c->linger_deadline_ns > l->drain_deadline_ns)
		c->linger_deadline_ns = l->drain_deadline_ns;
	c->reading = true;
	ep_mod(l, c);
}

/* Writes what is buffered; arms EPOLLOUT when the socket is full. */
static void client_flush(loop_t *l, client_t *c)
{
	while (c->out.len > 0) {
		ssize_t n = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			base_buf_consume(&c->out, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (!c->writing) {
				c->writing = true;
				ep_mod(l, c);
			}
			return;
		}
		client_close(l, c, "write failed");
		return;
	}
	if (c->writing) {
		c->writing = false;
		ep_mod(l, c);
	}
	/* A retiring client goes once nothing is owed to it. */
	if (c->retiring && c->inflight == 0)
		client_linger(l, c);
}

static void client_send(loop_t *l, client_t *c, const uint8_t *p, size_t n)
{
	if (base_buf_append(&c->out, p, n) != 0) {
		client_close(l, c, "output buffer full (client not reading)");
		return;
	}
	l->answered++;
	client_flush(l, c);
}

static void client_reply_exception(loop_t *l, client_t *c, const uint8_t *adu, size_t n,
                                   uint8_t code, result_t res)
{
	uint8_t out[16];
	int len = mbap_build_exception(adu, n, code, out, sizeof(out));
	metrics_observe(&l->w->m, res, 0, false);
	if (len > 0)
		client_send(l, c, out, (size_t)len);
}

/* Handles one framed request; false when the client was closed. */
static bool handle_frame(loop_t *l, client_t *c, const uint8_t *adu, size_t n)
{
	worker_t *w = l->w;
	mbap_verdict_t v;
	req_t *r;

	mbap_validate_request(adu, n, &l->pol, &v);
	if (v.action == MBAP_MALFORMED) {
		char id[24], fc[8];
		snprintf(id, sizeof(id), "%llu", (unsigned long long)c->id);
		snprintf(fc, sizeof(fc), "%u", n > 7 ? (unsigned)adu[7] : 0u);
		base_log(BASE_LOG_WARN, "malformed_frame", "client", id, "peer", c->peer, "fc", fc,
		         "reason", v.reason, (char *)NULL);
		metrics_count(&w->m, &w->m.malformed);
		client_close(l, c, "malformed frame");
		return false;
	}
	if (v.action == MBAP_EXCEPTION) {
		client_reply_exception(l, c, adu, n, v.exception, RES_EXCEPTION);
		return !c->closed;
	}
	r = malloc(sizeof(*r));
	if (r == NULL) {
		client_reply_exception(l, c, adu, n, MBAP_EXC_BUSY, RES_BUSY);
		return !c->closed;
	}
	memcpy(r->adu, adu, n);
	r->len = n;
	r->rlen = 0;
	r->client = c;
	r->arrival_ns = base_now_ns();
	r->deadline_ns = r->arrival_ns + w->o->request_timeout_ms * 1000000;
	c->inflight++;
	fwd_submit(l->f, r); /* answers come back through fwd_take_done */
	return true;
}

/* Handles the complete frames in c->in (all of them when ignore_cap, else up
 * to the in-flight cap); false when the client was closed. */
static bool process_input(loop_t *l, client_t *c, bool ignore_cap)
{
	size_t off = 0;
	int f = 0;
	while ((ignore_cap || c->inflight < l->w->o->client_max_inflight) &&
	       (f = mbap_frame(c->in + off, c->inlen - off)) > 0) {
		if (!handle_frame(l, c, c->in + off, (size_t)f))
			return false;
		off += (size_t)f;
	}
	if (f < 0) {
		char id[24];
		snprintf(id, sizeof(id), "%llu", (unsigned long long)c->id);
		base_log(BASE_LOG_WARN, "malformed_frame", "client", id, "peer", c->peer, "reason",
		         mbap_strerror(f), (char *)NULL);
		metrics_count(&l->w->m, &l->w->m.malformed);
		client_close(l, c, "malformed header");
		return false;
	}
	memmove(c->in, c->in + off, c->inlen - off);
	c->inlen -= off;
	return true;
}

static void client_read(loop_t *l, client_t *c)
{
	bool short_read = false;
	if (c->lingering) {
		uint8_t sink[1024];
		for (;;) {
			ssize_t n = recv(c->fd, sink, sizeof(sink), MSG_DONTWAIT);
			if (n > 0)
				continue;
			if (n < 0 && errno == EINTR)
				continue;
			if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
				client_close(l, c, "retired");
			return;
		}
	}
	for (;;) {
		ssize_t n;
		size_t want;
		if (!process_input(l, c, false))
			return;
		if (c->inflight >= l->w->o->client_max_inflight || c->inlen == sizeof(c->in)) {
			/* Back-pressure: stop reading until answers go out. */
			if (c->reading) {
				c->reading = false;
				ep_mod(l, c);
			}
			return;
		}
		want = sizeof(c->in) - c->inlen;
		if (short_read) {
			/* The socket was emptied: epoll (level-triggered) says
			 * when more comes, which saves a recv per request. */
			return;
		}
		n = recv(c->fd, c->in + c->inlen, want, MSG_DONTWAIT);
		if (n == 0) {
			client_close(l, c, "peer closed");
			return;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				client_close(l, c, "read failed");
			return;
		}
		c->inlen += (size_t)n;
		c->last_rx_ns = l->now;
		short_read = (size_t)n < want;
	}
}

/* Takes a client: from loop 0's accept or from this loop's lane. The lane's
 * and the worker's client counts were raised by the acceptor; undone here
 * when the client cannot be taken. */
static void adopt(loop_t *l, int fd, uint64_t id, const char *peer)
{
	client_t *c = calloc(1, sizeof(*c));
	struct epoll_event ev;
	const char *why = "out of memory";
	if (c != NULL) {
		c->fd = fd;
		c->id = id;
		c->born_ns = base_now_ns();
		c->last_rx_ns = c->born_ns;
		c->reading = true;
		snprintf(c->peer, sizeof(c->peer), "%s", peer);
		base_buf_init(&c->out, CLIENT_OUT_CAP);
		ev.events = EPOLLIN | EPOLLRDHUP;
		ev.data.ptr = c;
		if (epoll_ctl(l->ep, EPOLL_CTL_ADD, fd, &ev) == 0) {
			c->next = l->clients;
			if (l->clients)
				l->clients->prev = c;
			l->clients = c;
			if (base_log_get_level() <= BASE_LOG_DEBUG) {
				char ids[24], loop[12];
				snprintf(ids, sizeof(ids), "%llu", (unsigned long long)id);
				snprintf(loop, sizeof(loop), "%d", l->idx);
				base_log(BASE_LOG_DEBUG, "client_open", "client", ids, "peer", peer,
				         "loop", loop, (char *)NULL);
			}
			return;
		}
		why = strerror(errno);
		base_buf_free(&c->out);
		free(c);
	}
	base_logf(BASE_LOG_WARN, "client_refused", "cannot take client %s: %s", peer, why);
	close(fd);
	atomic_fetch_sub(&l->lane->nclients, 1);
	atomic_fetch_sub(&l->w->m.clients, 1);
}

/* Loop 0: accepts and hands each client to the loop serving the fewest. */
static void accept_clients(loop_t *l)
{
	worker_t *w = l->w;
	for (;;) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int one = 1;
		int to = 0;
		lane_msg_t msg = {0};
		char host[48], port[8];
		int fd = accept4(l->lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				base_logf(BASE_LOG_WARN, "accept", "%s", strerror(errno));
			return;
		}
		if (atomic_load(&w->m.clients) >= w->o->max_clients) {
			base_log(BASE_LOG_WARN, "client_refused", "reason", "max-clients reached",
			         (char *)NULL);
			close(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		msg.fd = fd;
		msg.id = ++l->next_id;
		if (getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), port, sizeof(port),
		                NI_NUMERICHOST | NI_NUMERICSERV) == 0)
			snprintf(msg.peer, sizeof(msg.peer), "%s:%s", host, port);
		for (int i = 1; i < w->nlanes; i++)
			if (atomic_load(&w->lanes[i].nclients) <
			    atomic_load(&w->lanes[to].nclients))
				to = i;
		atomic_fetch_add(&w->lanes[to].nclients, 1);
		atomic_fetch_add(&w->m.clients, 1);
		metrics_count(&w->m, &w->m.clients_accepted);
		if (to == l->idx) {
			adopt(l, fd, msg.id, msg.peer);
		} else if (write(w->lanes[to].pipe_wr, &msg, sizeof(msg)) != (ssize_t)sizeof(msg)) {
			/* Only when that loop has thousands of hand-overs unread. */
			base_log(BASE_LOG_WARN, "client_refused", "peer", msg.peer, "reason",
			         "event loop not taking clients", (char *)NULL);
			close(fd);
			atomic_fetch_sub(&w->lanes[to].nclients, 1);
			atomic_fetch_sub(&w->m.clients, 1);
		}
	}
}

void loop_kick(worker_t *w, int lane)
{
	lane_msg_t msg = {.fd = -1};
	lane_t *ln = &w->lanes[lane];
	/* One wake-up in the pipe is enough; a full pipe wakes it anyway. */
	if (!atomic_exchange(&ln->kicked, true) &&
	    write(ln->pipe_wr, &msg, sizeof(msg)) != (ssize_t)sizeof(msg))
		atomic_store(&ln->kicked, false);
}

int64_t loop_heartbeat_ns(worker_t *w)
{
	int64_t oldest = INT64_MAX;
	for (int i = 0; i < w->nlanes; i++) {
		int64_t h = atomic_load(&w->lanes[i].heartbeat_ns);
		if (h < oldest)
			oldest = h;
	}
	return oldest;
}

/* Sends the forwarder's answers to their clients. A client that reads again
 * may submit requests that are answered at once (queue full), so this runs
 * until the done list stays empty. */
static void on_completions(loop_t *l)
{
	for (;;) {
		req_t *r = fwd_take_done(l->f);
		int64_t now = base_now_ns();
		if (r == NULL)
			return;
		while (r) {
			req_t *next = r->next;
			client_t *c = r->client;
			double secs = (double)(now - r->arrival_ns) / 1e9;
			/* Only requests the device answered are timed: a 0x0A/0x0B
			 * the gateway gives while the device is gone says nothing
			 * about load, and more pods would not make it faster. */
			metrics_observe(&l->w->m, r->result, secs,
			                r->result == RES_OK || r->result == RES_EXCEPTION);
			c->inflight--;
			if (c->closed) {
				l->abandoned++;
				if (c->inflight == 0)
					bury(l, c);
			} else {
				client_send(l, c, r->rep, r->rlen);
				if (!c->closed && !c->reading && !c->retiring &&
				    c->inflight < l->w->o->client_max_inflight) {
					c->reading = true;
					ep_mod(l, c);
					/* Frames may already wait in the buffer. */
					client_read(l, c);
				}
			}
			free(r);
			r = next;
		}
	}
}

/* ---- pool size file ------------------------------------------------------ */

static void split_path(loop_t *l, const char *path)
{
	const char *slash = strrchr(path, '/');
	if (slash == NULL) {
		snprintf(l->dir, sizeof(l->dir), ".");
		snprintf(l->base, sizeof(l->base), "%s", path);
	} else {
		snprintf(l->dir, sizeof(l->dir), "%.*s", (int)(slash - path),
		         slash == path ? "/" : path);
		if (slash == path)
			snprintf(l->dir, sizeof(l->dir), "/");
		snprintf(l->base, sizeof(l->base), "%s", slash + 1);
	}
}

static void watch_dir(loop_t *l)
{
	if (l->ifd < 0 || l->iwd >= 0)
		return;
	/* kubelet swaps the ..data symlink by rename: IN_MOVED_TO; a plain
	 * rewrite shows as IN_CLOSE_WRITE; new files as IN_CREATE. */
	l->iwd = inotify_add_watch(l->ifd, l->dir,
	                           IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE |
	                                   IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF);
}

/* Reads the pool size file and applies a changed, valid value. */
static void apply_size_file(loop_t *l)
{
	worker_t *w = l->w;
	char buf[64];
	char shown[64];
	FILE *f;
	size_t n;
	char *s, *end;
	long v;

	if (w->o->pool_size_file[0] == '\0')
		return;
	f = fopen(w->o->pool_size_file, "re");
	if (f == NULL) {
		if (strcmp(l->last_file, "<missing>") != 0) {
			base_log(BASE_LOG_INFO, "pool_size_file", "path", w->o->pool_size_file,
			         "state", "missing", "action", "keep current size", (char *)NULL);
			snprintf(l->last_file, sizeof(l->last_file), "<missing>");
		}
		return;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	s = buf;
	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n' || end[-1] == '\r'))
		*--end = '\0';
	if (strcmp(s, l->last_file) == 0)
		return;
	snprintf(l->last_file, sizeof(l->last_file), "%s", s);
	snprintf(shown, sizeof(shown), "%.40s", s);
	errno = 0;
	v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || v < 1 || v > w->o->pool_max) {
		char why[96];
		snprintf(why, sizeof(why), "not an integer in 1..%lld", w->o->pool_max);
		base_log(BASE_LOG_WARN, "pool_size_file", "path", w->o->pool_size_file, "value",
		         shown, "error", why, "action", "ignored", (char *)NULL);
		return;
	}
	{
		char from[24], to[24];
		snprintf(from, sizeof(from), "%d", atomic_load(&w->m.target_size));
		snprintf(to, sizeof(to), "%ld", v);
		atomic_store(&w->m.target_size, (int)v);
		if (w->pool)
			mcppool_set_size(w->pool, (int)v);
		base_log(BASE_LOG_INFO, "pool_resize", "from", from, "to", to, "source",
		         w->o->pool_size_file, (char *)NULL);
	}
}

static void on_inotify(loop_t *l)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool gone = false;
	for (;;) {
		ssize_t n = read(l->ifd, buf, sizeof(buf));
		if (n <= 0)
			break;
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *e = (struct inotify_event *)p;
			if (e->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF))
				gone = true;
			p += sizeof(*e) + e->len;
		}
	}
	if (gone && l->iwd >= 0) {
		inotify_rm_watch(l->ifd, l->iwd);
		l->iwd = -1;
	}
	apply_size_file(l);
}

/* ---- timers, drain -------------------------------------------------------- */

/* Stops reading c, answers what it has already sent (also frames still in
 * its buffer), then FIN once nothing is owed (client_flush/client_linger). */
static void client_retire(loop_t *l, client_t *c)
{
	if (c->closed || c->retiring)
		return;
	c->retiring = true;
	c->reading = false;
	ep_mod(l, c);
	if (!process_input(l, c, true))
		return;
	if (c->inflight == 0 && c->out.len == 0)
		client_linger(l, c);
}

static void tick(loop_t *l)
{
	int64_t now = l->now;
	worker_t *w = l->w;
	int64_t age_ns = w->o->max_client_age_ms * 1000000;
	/* Draining: a client is closed between its requests once it has been
	 * quiet a moment; past a quarter of the grace a gap is enough; past
	 * half of it busy clients go too (their answers and their close get
	 * the rest). */
	int64_t grace = l->drain_deadline_ns - l->drain_start_ns;
	bool any_gap = l->draining && now >= l->drain_start_ns + grace / 4;
	bool drain_all = l->draining && now >= l->drain_start_ns + grace / 2;

	for (client_t *c = l->clients, *next; c; c = next) {
		next = c->next;
		if (c->lingering) {
			if (now >= c->linger_deadline_ns)
				client_close(l, c, "linger timeout");
			continue;
		}
		if (c->retiring)
			continue;
		if (l->draining) {
			/* Close a client between its requests: nothing owed, nothing
			 * half-read, and quiet for a moment. A request it sends as
			 * the FIN crosses is not read; it sees the close with that
			 * request unanswered and sends it again elsewhere. */
			bool gap = c->inflight == 0 && c->out.len == 0 && c->inlen == 0;
			if ((gap && (any_gap || now - c->last_rx_ns >= DRAIN_QUIET_NS)) ||
			    drain_all)
				client_retire(l, c);
		} else if (age_ns > 0 && now - c->born_ns >= age_ns) {
			/* Same for age: between requests, or at most AGE_SLACK
			 * late. */
			bool gap = c->inflight == 0 && c->out.len == 0 && c->inlen == 0 &&
			           now - c->last_rx_ns >= DRAIN_QUIET_NS;
			if (gap || now - c->born_ns >= age_ns + AGE_SLACK_NS) {
				metrics_count(&w->m, &w->m.clients_retired);
				client_retire(l, c);
			}
		}
	}
	if (l->idx == 0 && now >= l->next_file_check_ns) {
		/* Belt and braces: re-arm a lost watch and re-read now and then. */
		watch_dir(l);
		apply_size_file(l);
		l->next_file_check_ns = now + 5000000000LL;
	}
}

static void start_drain(loop_t *l)
{
	char grace[32], inflight[16], loop[12];
	worker_t *w = l->w;
	l->draining = true;
	atomic_store(&w->m.draining, true);
	l->drain_start_ns = base_now_ns();
	l->drain_deadline_ns = l->drain_start_ns + w->o->drain_grace_ms * 1000000;
	if (l->lfd >= 0) {
		epoll_ctl(l->ep, EPOLL_CTL_DEL, l->lfd, NULL);
		close(l->lfd);
		l->lfd = -1;
	}
	if (l->idx == 0) {
		atomic_store(&w->drain, true);
		for (int i = 1; i < w->nlanes; i++)
			loop_kick(w, i);
	}
	snprintf(grace, sizeof(grace), "%lldms", (long long)w->o->drain_grace_ms);
	snprintf(inflight, sizeof(inflight), "%d", fwd_inflight(l->f));
	snprintf(loop, sizeof(loop), "%d", l->idx);
	base_log(BASE_LOG_INFO, "drain_start", "loop", loop, "grace", grace, "inflight", inflight,
	         (char *)NULL);
	/* Clients keep being read and answered; tick() closes each one
	 * gracefully between its requests. */
	l->next_tick_ns = 0;
}

/* A lane's pipe: handed-over clients, then the reason for the wake-up
 * (drain, or a connection given back for this loop's queue). */
void loop_lane_read(lane_t *ln, void (*take)(void *ud, int fd, uint64_t id, const char *peer),
                    void *ud)
{
	lane_msg_t msgs[32];
	for (;;) {
		ssize_t n = read(ln->pipe_rd, msgs, sizeof(msgs));
		if (n <= 0)
			break;
		for (size_t i = 0; i < (size_t)n / sizeof(msgs[0]); i++) {
			if (msgs[i].fd < 0)
				continue;
			if (take)
				take(ud, msgs[i].fd, msgs[i].id, msgs[i].peer);
			else
				close(msgs[i].fd);
		}
	}
	/* Cleared after the pipe is empty and before the caller looks at why
	 * it was woken: a kicker that found it set wrote nothing, and its
	 * change (set before its kick) is seen by the caller; a later one
	 * writes again. Cleared first, a wake-up written between the clear and
	 * the read would be eaten here and leave the flag set with an empty
	 * pipe: every later kick lost. */
	atomic_exchange(&ln->kicked, false);
}

static void take_client(void *ud, int fd, uint64_t id, const char *peer)
{
	adopt(ud, fd, id, peer);
}

static void on_lane(loop_t *l)
{
	loop_lane_read(l->lane, take_client, l);
	if (atomic_load(&l->w->drain) && !l->draining)
		start_drain(l);
	fwd_poke(l->f);
}

/* One loop until its drain ends (or a fatal error); frees what it owns. */
static int loop_body(loop_t *l)
{
	int rc = 1;
	for (;;) {
		struct epoll_event evs[64];
		int64_t now = base_now_ns();
		int wait_ms = l->next_tick_ns > now
		                      ? (int)((l->next_tick_ns - now + 999999) / 1000000)
		                      : 0;
		int n = epoll_wait(l->ep, evs, 64, fwd_next_ms(l->f, now, wait_ms));
		if (n < 0 && errno != EINTR) {
			base_logf(BASE_LOG_ERROR, "loop", "epoll_wait: %s", strerror(errno));
			goto out;
		}
		l->now = base_now_ns();
		atomic_store_explicit(&l->lane->heartbeat_ns, l->now, memory_order_relaxed);
		for (int i = 0; i < n; i++) {
			uint64_t tag = evs[i].data.u64;
			if (tag == TAG_LISTEN) {
				if (l->lfd >= 0)
					accept_clients(l);
			} else if (tag == TAG_SIGNAL) {
				struct signalfd_siginfo si;
				while (read(l->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
					if (!l->draining)
						start_drain(l);
				}
			} else if (tag == TAG_INOTIFY) {
				on_inotify(l);
			} else if (tag == TAG_LANE) {
				on_lane(l);
			} else if (fwd_owns(l->f, evs[i].data.ptr)) {
				fwd_event(l->f, evs[i].data.ptr, evs[i].events);
			} else {
				client_t *c = evs[i].data.ptr;
				if (c->closed)
					continue;
				if (evs[i].events & EPOLLOUT)
					client_flush(l, c);
				if (!c->closed && c->reading &&
				    (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
					client_read(l, c);
				else if (!c->closed && (evs[i].events & (EPOLLHUP | EPOLLERR)))
					client_close(l, c, "hangup");
			}
			on_completions(l);
		}
		fwd_run_timers(l->f, base_now_ns());
		on_completions(l);
		free_dead(l);
		if (l->now >= l->next_tick_ns) {
			tick(l);
			free_dead(l);
			l->next_tick_ns =
			        l->now + (l->draining ? DRAIN_TICK_MS : TICK_MS) * 1000000LL;
		}
		if (l->draining) {
			if (fwd_inflight(l->f) == 0 && l->clients == NULL)
				break;
			if (l->now >= l->drain_deadline_ns) {
				char left[16], loop[12];
				snprintf(left, sizeof(left), "%d", fwd_inflight(l->f));
				snprintf(loop, sizeof(loop), "%d", l->idx);
				base_log(BASE_LOG_WARN, "drain_timeout", "loop", loop, "inflight",
				         left, (char *)NULL);
				break;
			}
		}
	}
	rc = 0;
out:
	/* Close the remaining clients; requests still inside end as 0x0B into
	 * closed clients and are freed here. */
	while (l->clients)
		client_close(l, l->clients, "shutdown");
	if (l->f) {
		fwd_abort(l->f);
		on_completions(l);
	}
	free_dead(l);
	fwd_free(l->f);
	l->f = NULL;
	/* Gone from /healthz's view: the loops still draining speak for it. */
	atomic_store(&l->lane->heartbeat_ns, INT64_MAX);
	return rc;
}

static void *loop_thread(void *arg)
{
	loop_t *l = arg;
	l->rc = loop_body(l);
	if (l->rc != 0) {
		/* This loop's clients are gone; stop the worker rather than run
		 * short of a loop (the orchestrator restarts it). */
		kill(getpid(), SIGTERM);
	}
	return NULL;
}

/* Epoll set, forwarder and lane pipe of loop i. */
static int loop_init(worker_t *w, loop_t *l, int i)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = TAG_LANE};
	char err[256];
	memset(l, 0, sizeof(*l));
	l->w = w;
	l->idx = i;
	l->lane = &w->lanes[i];
	l->lfd = l->sfd = l->ifd = l->iwd = -1;
	l->pol.any_unit = !w->o->unit_filter;
	l->pol.unit = (uint8_t)w->o->unit_id;
	l->pol.accept_0_255 = true;
	l->ep = epoll_create1(EPOLL_CLOEXEC);
	if (l->ep < 0 || epoll_ctl(l->ep, EPOLL_CTL_ADD, l->lane->pipe_rd, &ev) != 0) {
		base_logf(BASE_LOG_ERROR, "loop", "epoll: %s", strerror(errno));
		return -1;
	}
	if (fwd_new(w, l->ep, i, &l->f, err, sizeof(err)) != 0) {
		base_log(BASE_LOG_ERROR, "loop", "error", err, (char *)NULL);
		return -1;
	}
	return 0;
}

int loop_auto_threads(const char *cpu_max)
{
	cpu_set_t set;
	int n = 1;
	FILE *f;
	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		n = CPU_COUNT(&set);
	f = cpu_max ? fopen(cpu_max, "re") : NULL;
	if (f != NULL) {
		/* "max 100000" (no limit) or "QUOTA PERIOD" in microseconds. */
		char quota[32];
		long long period;
		if (fscanf(f, "%31s %lld", quota, &period) == 2 && strcmp(quota, "max") != 0 &&
		    period > 0) {
			long long q = strtoll(quota, NULL, 10);
			if (q > 0 && (q + period - 1) / period < n)
				n = (int)((q + period - 1) / period);
		}
		fclose(f);
	}
	if (n < 1)
		n = 1;
	return n > 64 ? 64 : n;
}

int loop_lanes_init(worker_t *w, int n, char *err, size_t errlen)
{
	w->lanes = calloc((size_t)n, sizeof(*w->lanes));
	if (w->lanes == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	w->nlanes = n;
	for (int i = 0; i < n; i++) {
		int p[2];
		if (pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0) {
			snprintf(err, errlen, "pipe: %s", strerror(errno));
			w->lanes[i].pipe_rd = w->lanes[i].pipe_wr = -1;
			continue;
		}
		w->lanes[i].pipe_rd = p[0];
		w->lanes[i].pipe_wr = p[1];
		atomic_store(&w->lanes[i].heartbeat_ns, base_now_ns());
	}
	for (int i = 0; i < n; i++)
		if (w->lanes[i].pipe_rd < 0)
			return -1;
	return 0;
}

void loop_lanes_free(worker_t *w)
{
	for (int i = 0; i < w->nlanes; i++) {
		lane_msg_t m;
		/* A client handed over as its loop ended: close it. */
		while (w->lanes[i].pipe_rd >= 0 &&
		       read(w->lanes[i].pipe_rd, &m, sizeof(m)) == (ssize_t)sizeof(m))
			if (m.fd >= 0)
				close(m.fd);
		if (w->lanes[i].pipe_rd >= 0)
			close(w->lanes[i].pipe_rd);
		if (w->lanes[i].pipe_wr >= 0)
			close(w->lanes[i].pipe_wr);
	}
	free(w->lanes);
	w->lanes = NULL;
	w->nlanes = 0;
}

int loop_run(worker_t *w)
{
	loop_t *ls = calloc((size_t)w->nlanes, sizeof(*ls));
	loop_t *l = ls;
	struct epoll_event ev;
	sigset_t mask;
	char host[256], bound[80], hb[64], pb[8], nloops[12];
	const char *colon = strrchr(w->o->listen, ':');
	struct addrinfo hints = {0}, *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int one = 1;
	int rc = 1;
	int started = 1;
	uint64_t answered = 0, abandoned = 0;

	if (ls == NULL) {
		base_log(BASE_LOG_ERROR, "loop", "error", "out of memory", (char *)NULL);
		return 1;
	}
	for (int i = 0; i < w->nlanes; i++)
		ls[i].ep = ls[i].lfd = ls[i].sfd = ls[i].ifd = -1;
	if (colon == NULL || colon == w->o->listen ||
	    (size_t)(colon - w->o->listen) >= sizeof(host)) {
		base_log(BASE_LOG_ERROR, "listen", "addr", w->o->listen, "error", "not ADDR:PORT",
		         (char *)NULL);
		free(ls);
		return 2;
	}
	memcpy(host, w->o->listen, (size_t)(colon - w->o->listen));
	host[colon - w->o->listen] = '\0';
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if (getaddrinfo(host, colon + 1, &hints, &ai) != 0) {
		base_log(BASE_LOG_ERROR, "listen", "addr", w->o->listen, "error", "cannot resolve",
		         (char *)NULL);
		free(ls);
		return 2;
	}
	for (int i = 0; i < w->nlanes; i++) {
		if (loop_init(w, &ls[i], i) != 0) {
			freeaddrinfo(ai);
			goto out;
		}
	}
	l->lfd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (l->lfd < 0 || setsockopt(l->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(l->lfd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(l->lfd, 1024) != 0 ||
	    getsockname(l->lfd, (struct sockaddr *)&ss, &sl) != 0) {
		base_log(BASE_LOG_ERROR, "listen", "addr", w->o->listen, "error", strerror(errno),
		         (char *)NULL);
		freeaddrinfo(ai);
		rc = 2;
		goto out;
	}
	freeaddrinfo(ai);
	getnameinfo((struct sockaddr *)&ss, sl, hb, sizeof(hb), pb, sizeof(pb),
	            NI_NUMERICHOST | NI_NUMERICSERV);
	snprintf(bound, sizeof(bound), "%s:%s", hb, pb);

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	l->sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (l->sfd < 0) {
		base_logf(BASE_LOG_ERROR, "loop", "signalfd: %s", strerror(errno));
		goto out;
	}
	if (w->o->pool_size_file[0]) {
		split_path(l, w->o->pool_size_file);
		l->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		watch_dir(l);
		if (l->iwd < 0)
			base_log(BASE_LOG_WARN, "pool_size_file", "dir", l->dir, "error",
			         strerror(errno), "action", "poll every 5s until it exists",
			         (char *)NULL);
		apply_size_file(l);
	}
	ev.events = EPOLLIN;
	ev.data.u64 = TAG_LISTEN;
	epoll_ctl(l->ep, EPOLL_CTL_ADD, l->lfd, &ev);
	ev.data.u64 = TAG_SIGNAL;
	epoll_ctl(l->ep, EPOLL_CTL_ADD, l->sfd, &ev);
	if (l->ifd >= 0) {
		ev.data.u64 = TAG_INOTIFY;
		epoll_ctl(l->ep, EPOLL_CTL_ADD, l->ifd, &ev);
	}
	l->next_file_check_ns = base_now_ns() + 5000000000LL;
	for (; started < w->nlanes; started++) {
		if (pthread_create(&ls[started].th, NULL, loop_thread, &ls[started]) != 0) {
			base_logf(BASE_LOG_ERROR, "loop", "cannot start event loop %d", started);
			goto stop;
		}
	}
	snprintf(nloops, sizeof(nloops), "%d", w->nlanes);
	base_log(BASE_LOG_INFO, "listening", "addr", bound, "device", w->o->device, "mode",
	         w->pool ? "pooled" : "connect-per-request", "threads", nloops, (char *)NULL);
	rc = loop_body(l);
stop:
	/* Loop 0 is done (drained, or failed): the others drain too. */
	atomic_store(&w->drain, true);
	for (int i = 1; i < started; i++)
		loop_kick(w, i);
	for (int i = 1; i < started; i++) {
		pthread_join(ls[i].th, NULL);
		if (ls[i].rc != 0)
			rc = ls[i].rc;
	}
	for (int i = 0; i < w->nlanes; i++) {
		answered += ls[i].answered;
		abandoned += ls[i].abandoned;
	}
	{
		char a[24], b[24];
		snprintf(a, sizeof(a), "%llu", (unsigned long long)answered);
		snprintf(b, sizeof(b), "%llu", (unsigned long long)abandoned);
		base_log(BASE_LOG_INFO, "stopped", "answered", a, "abandoned", b, (char *)NULL);
	}
out:
	for (int i = 0; i < w->nlanes; i++) {
		loop_t *x = &ls[i];
		fwd_free(x->f);
		if (x->lfd >= 0)
			close(x->lfd);
		if (x->sfd >= 0)
			close(x->sfd);
		if (x->ifd >= 0)
			close(x->ifd);
		if (x->ep >= 0)
			close(x->ep);
	}
	free(ls);
	return rc;
}

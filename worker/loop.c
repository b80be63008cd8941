/* The worker's event loop: clients, framing, validation, completions, pool
 * size file, signals, drain. Only this thread touches client_t. */
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
#include <unistd.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/log.h"
#include "worker.h"

#define CLIENT_IN_CAP 1024 /* room for several pipelined max-size ADUs */
#define CLIENT_OUT_CAP (256 * 1024)
#define TICK_MS 250

typedef struct client {
	int fd;
	uint64_t id;
	char peer[64];
	uint8_t in[CLIENT_IN_CAP];
	size_t inlen;
	base_buf_t out;
	int inflight;
	bool reading;	/* EPOLLIN armed */
	bool writing;	/* EPOLLOUT armed */
	bool closed;	/* socket closed; freed when inflight drops to 0 */
	bool retiring;	/* no more reads: close once idle (max age, drain) */
	bool lingering; /* FIN sent after the last answer; discarding input until EOF */
	int64_t linger_deadline_ns;
	int64_t born_ns;
	struct client *prev, *next; /* live clients */
} client_t;

/* epoll tags: small integers for the fixed fds, pointers for clients. */
enum { TAG_LISTEN = 1, TAG_EVENT, TAG_SIGNAL, TAG_INOTIFY, TAG_MAX };

typedef struct {
	worker_t *w;
	int ep;
	int lfd;
	int sfd;
	int ifd;
	int iwd;
	char dir[1024];
	char base[1024];
	char last_file[64];
	client_t *clients;
	client_t *dead; /* closed, nothing in flight: freed after the event batch */
	int nclients;
	uint64_t next_id;
	mbap_unit_policy_t pol;
	bool draining;
	int64_t drain_deadline_ns;
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
		 NULL);
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
	l->nclients--;
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
	c->linger_deadline_ns = base_now_ns() + 2000000000LL;
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
		snprintf(fc, sizeof(fc), "%u", n > 7 ? adu[7] : 0);
		base_log(BASE_LOG_WARN, "malformed_frame", "client", id, "peer", c->peer, "fc", fc,
			 "reason", v.reason, NULL);
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
	if (!forward_submit(w, r)) {
		free(r);
		client_reply_exception(l, c, adu, n, MBAP_EXC_BUSY, RES_BUSY);
		return !c->closed;
	}
	c->inflight++;
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
			 mbap_strerror(f), NULL);
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
		n = recv(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen, MSG_DONTWAIT);
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
	}
}

static void accept_clients(loop_t *l)
{
	for (;;) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int one = 1;
		client_t *c;
		struct epoll_event ev;
		char host[48], port[8];
		int fd = accept4(l->lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				base_logf(BASE_LOG_WARN, "accept", "%s", strerror(errno));
			return;
		}
		if (l->nclients >= l->w->o->max_clients) {
			base_log(BASE_LOG_WARN, "client_refused", "reason", "max-clients reached",
				 NULL);
			close(fd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (c == NULL) {
			close(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->fd = fd;
		c->id = ++l->next_id;
		c->born_ns = base_now_ns();
		c->reading = true;
		base_buf_init(&c->out, CLIENT_OUT_CAP);
		if (getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), port, sizeof(port),
				NI_NUMERICHOST | NI_NUMERICSERV) == 0)
			snprintf(c->peer, sizeof(c->peer), "%s:%s", host, port);
		ev.events = EPOLLIN | EPOLLRDHUP;
		ev.data.ptr = c;
		if (epoll_ctl(l->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
			close(fd);
			base_buf_free(&c->out);
			free(c);
			continue;
		}
		c->next = l->clients;
		if (l->clients)
			l->clients->prev = c;
		l->clients = c;
		l->nclients++;
		atomic_fetch_add(&l->w->m.clients, 1);
		metrics_count(&l->w->m, &l->w->m.clients_accepted);
	}
}

static void on_completions(loop_t *l)
{
	req_t *r = forward_take_completed(l->w);
	while (r) {
		req_t *next = r->next;
		client_t *c = r->client;
		double secs = (double)(base_now_ns() - r->arrival_ns) / 1e9;
		atomic_fetch_sub(&l->w->inflight, 1);
		metrics_observe(&l->w->m, r->result, secs, true);
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

/* ---- pool size file ------------------------------------------------------ */

static void split_path(loop_t *l, const char *path)
{
	const char *slash = strrchr(path, '/');
	if (slash == NULL) {
		snprintf(l->dir, sizeof(l->dir), ".");
		snprintf(l->base, sizeof(l->base), "%s", path);
	} else {
		snprintf(l->dir, sizeof(l->dir), "%.*s", (int)(slash - path), slash == path ? "/" : path);
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
				   IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_ATTRIB |
					   IN_DELETE_SELF | IN_MOVE_SELF);
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
				 "state", "missing", "action", "keep current size", NULL);
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
			 shown, "error", why, "action", "ignored", NULL);
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
			 w->o->pool_size_file, NULL);
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

static void tick(loop_t *l)
{
	int64_t now = base_now_ns();
	worker_t *w = l->w;

	atomic_store(&w->m.heartbeat_ns, now);
	for (client_t *c = l->clients, *next; c; c = next) {
		next = c->next;
		if (c->lingering && now >= c->linger_deadline_ns)
			client_close(l, c, "linger timeout");
	}
	if (now >= l->next_file_check_ns) {
		/* Belt and braces: re-arm a lost watch and re-read now and then. */
		watch_dir(l);
		apply_size_file(l);
		l->next_file_check_ns = now + 5000000000LL;
	}
	if (w->o->max_client_age_ms > 0 && !l->draining) {
		client_t *c = l->clients;
		while (c) {
			client_t *next = c->next;
			if (!c->retiring && now - c->born_ns >= w->o->max_client_age_ms * 1000000) {
				c->retiring = true;
				c->reading = false;
				ep_mod(l, c);
				metrics_count(&w->m, &w->m.clients_retired);
				/* Frames already read are still answered. */
				if (!process_input(l, c, true))
					goto next_client;
				if (c->inflight == 0 && c->out.len == 0)
					client_linger(l, c);
			}
		next_client:
			c = next;
		}
	}
}

static void start_drain(loop_t *l)
{
	client_t *c = l->clients;
	char grace[32];
	l->draining = true;
	atomic_store(&l->w->m.draining, true);
	l->drain_deadline_ns = base_now_ns() + l->w->o->drain_grace_ms * 1000000;
	epoll_ctl(l->ep, EPOLL_CTL_DEL, l->lfd, NULL);
	close(l->lfd);
	l->lfd = -1;
	snprintf(grace, sizeof(grace), "%lldms", (long long)l->w->o->drain_grace_ms);
	{
		char inflight[16];
		snprintf(inflight, sizeof(inflight), "%d", atomic_load(&l->w->inflight));
		base_log(BASE_LOG_INFO, "drain_start", "grace", grace, "inflight", inflight, NULL);
	}
	/* Requests already read are answered (also those still waiting in a
	 * client's buffer); nothing new is read. */
	while (c) {
		client_t *next = c->next;
		if (c->retiring) {
			c = next;
			continue;
		}
		c->retiring = true;
		c->reading = false;
		ep_mod(l, c);
		if (!process_input(l, c, true)) {
			c = next;
			continue;
		}
		if (c->inflight == 0 && c->out.len == 0)
			client_linger(l, c);
		c = next;
	}
}

int loop_run(worker_t *w)
{
	loop_t l = {.w = w, .lfd = -1, .sfd = -1, .ifd = -1, .iwd = -1};
	struct epoll_event ev;
	sigset_t mask;
	char host[256], bound[80], hb[64], pb[8];
	const char *colon = strrchr(w->o->listen, ':');
	struct addrinfo hints = {0}, *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int one = 1;
	int rc = 1;

	l.pol.any_unit = !w->o->unit_filter;
	l.pol.unit = (uint8_t)w->o->unit_id;
	l.pol.accept_0_255 = true;

	if (colon == NULL || colon == w->o->listen ||
	    (size_t)(colon - w->o->listen) >= sizeof(host)) {
		base_log(BASE_LOG_ERROR, "listen", "addr", w->o->listen, "error",
			 "not ADDR:PORT", NULL);
		return 2;
	}
	memcpy(host, w->o->listen, (size_t)(colon - w->o->listen));
	host[colon - w->o->listen] = '\0';
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if (getaddrinfo(host, colon + 1, &hints, &ai) != 0) {
		base_log(BASE_LOG_ERROR, "listen", "addr", w->o->listen, "error",
			 "cannot resolve", NULL);
		return 2;
	}
	l.lfd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (l.lfd < 0 || setsockopt(l.lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(l.lfd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(l.lfd, 1024) != 0 ||
	    getsockname(l.lfd, (struct sockaddr *)&ss, &sl) != 0) {
		base_log(BASE_LOG_ERROR, "listen", "addr", w->o->listen, "error", strerror(errno),
			 NULL);
		freeaddrinfo(ai);
		if (l.lfd >= 0)
			close(l.lfd);
		return 2;
	}
	freeaddrinfo(ai);
	getnameinfo((struct sockaddr *)&ss, sl, hb, sizeof(hb), pb, sizeof(pb),
		    NI_NUMERICHOST | NI_NUMERICSERV);
	snprintf(bound, sizeof(bound), "%s:%s", hb, pb);

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	l.sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	l.ep = epoll_create1(EPOLL_CLOEXEC);
	if (l.sfd < 0 || l.ep < 0) {
		base_logf(BASE_LOG_ERROR, "loop", "signalfd/epoll: %s", strerror(errno));
		goto out;
	}
	if (w->o->pool_size_file[0]) {
		split_path(&l, w->o->pool_size_file);
		l.ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		watch_dir(&l);
		if (l.iwd < 0)
			base_log(BASE_LOG_WARN, "pool_size_file", "dir", l.dir, "error",
				 strerror(errno), "action", "poll every 5s until it exists", NULL);
		apply_size_file(&l);
	}
	ev.events = EPOLLIN;
	ev.data.u64 = TAG_LISTEN;
	epoll_ctl(l.ep, EPOLL_CTL_ADD, l.lfd, &ev);
	ev.data.u64 = TAG_EVENT;
	epoll_ctl(l.ep, EPOLL_CTL_ADD, w->efd, &ev);
	ev.data.u64 = TAG_SIGNAL;
	epoll_ctl(l.ep, EPOLL_CTL_ADD, l.sfd, &ev);
	if (l.ifd >= 0) {
		ev.data.u64 = TAG_INOTIFY;
		epoll_ctl(l.ep, EPOLL_CTL_ADD, l.ifd, &ev);
	}
	l.next_file_check_ns = base_now_ns() + 5000000000LL;
	base_log(BASE_LOG_INFO, "listening", "addr", bound, "device", w->o->device, "mode",
		 w->pool ? "pooled" : "connect-per-request", NULL);

	for (;;) {
		struct epoll_event evs[64];
		int n = epoll_wait(l.ep, evs, 64, TICK_MS);
		if (n < 0 && errno != EINTR) {
			base_logf(BASE_LOG_ERROR, "loop", "epoll_wait: %s", strerror(errno));
			goto out;
		}
		for (int i = 0; i < n; i++) {
			uint64_t tag = evs[i].data.u64;
			if (tag == TAG_LISTEN) {
				if (l.lfd >= 0)
					accept_clients(&l);
			} else if (tag == TAG_EVENT) {
				on_completions(&l);
			} else if (tag == TAG_SIGNAL) {
				struct signalfd_siginfo si;
				while (read(l.sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
					if (!l.draining)
						start_drain(&l);
				}
			} else if (tag == TAG_INOTIFY) {
				on_inotify(&l);
			} else {
				client_t *c = evs[i].data.ptr;
				if (c->closed)
					continue;
				if (evs[i].events & EPOLLOUT)
					client_flush(&l, c);
				if (!c->closed && c->reading &&
				    (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
					client_read(&l, c);
				else if (!c->closed && (evs[i].events & (EPOLLHUP | EPOLLERR)))
					client_close(&l, c, "hangup");
			}
		}
		free_dead(&l);
		tick(&l);
		free_dead(&l);
		if (l.draining) {
			if (atomic_load(&w->inflight) == 0 && l.clients == NULL)
				break;
			if (base_now_ns() >= l.drain_deadline_ns) {
				char left[16];
				snprintf(left, sizeof(left), "%d", atomic_load(&w->inflight));
				base_log(BASE_LOG_WARN, "drain_timeout", "inflight", left, NULL);
				break;
			}
		}
	}
	rc = 0;
out:
	/* Close the remaining clients; requests still in flight complete into
	 * closed clients and are freed below. */
	while (l.clients)
		client_close(&l, l.clients, "shutdown");
	forward_stop(w);
	on_completions(&l);
	free_dead(&l);
	{
		char a[24], b[24];
		snprintf(a, sizeof(a), "%llu", (unsigned long long)l.answered);
		snprintf(b, sizeof(b), "%llu", (unsigned long long)l.abandoned);
		base_log(BASE_LOG_INFO, "stopped", "answered", a, "abandoned", b, NULL);
	}
	if (l.lfd >= 0)
		close(l.lfd);
	if (l.sfd >= 0)
		close(l.sfd);
	if (l.ifd >= 0)
		close(l.ifd);
	if (l.ep >= 0)
		close(l.ep);
	return rc;
}

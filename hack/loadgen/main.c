/* mcp-loadgen: open-loop Modbus TCP load generator.
 *
 * Requests are scheduled at the target rate whatever the answers do (open
 * loop), spread round-robin over --connections client connections, which are
 * spread over the --target endpoints. Hostnames are re-resolved every
 * --resolve-interval so endpoints that appear later (new pods) get the next
 * connections that are (re)opened. Latency is measured from the scheduled
 * time, so a stalled server is not hidden (no coordinated omission).
 *
 * Every scheduled request ends in exactly one outcome:
 *   ok, exception (by code), timeout (no answer within --timeout),
 *   conn_error (the connection failed or closed with the request
 *   outstanding and it could not be sent again), unsent (no connection could
 *   take it within --timeout), mismatch (--verify: a read did not return
 *   what was written).
 * Like any sensible client of idempotent requests, when a connection closes
 * (a worker draining or retiring it) with requests unanswered, the reads,
 * and the writes that had not been written out yet, are sent again on
 * another connection with their original schedule time; `retried` counts
 * those re-sends. A request is counted once in `sent` and ends in one
 * outcome however often it is re-sent; a write that was written is never
 * re-sent (it may have been applied): it ends as conn_error.
 *
 * A rate profile (--profile FILE) is a list of lines, each one of
 *   hold RATE DUR          keep RATE requests/s for DUR
 *   ramp FROM TO DUR       change linearly from FROM to TO over DUR
 * ('#' starts a comment). Output: a progress line per second on stderr,
 * an optional per-second CSV, and a final logfmt summary line on stdout.
 * SIGINT or SIGTERM ends the run early: nothing new is scheduled and what is
 * in flight gets up to --timeout to finish; a second signal stops at once
 * (what is left then counts as timeout/unsent). */
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/opt.h"
#include "mbap/mbap.h"

typedef struct {
	char target[2048];
	double rate;
	int64_t duration_ms;
	long long connections;
	char csv[1024];
	char profile[1024];
	int64_t timeout_ms;
	long long address;
	long long count;
	long long unit_id;
	double write_ratio;
	bool verify;
	int64_t resolve_ms;
	bool expect_no_errors;
	long long max_inflight;
	bool quiet;
} lg_opts_t;

#define L(f)  offsetof(lg_opts_t, f)
#define SZ(f) sizeof(((lg_opts_t *)0)->f)

static const base_opt_t opts[] = {
        {"target", BASE_OPT_STRING, L(target), SZ(target), 0, 0, NULL, "MCP_LOADGEN_TARGET", NULL,
         "ADDR:PORT[,ADDR:PORT...] to load (hostnames are re-resolved)"},
        {"rate", BASE_OPT_DOUBLE, L(rate), SZ(rate), 0, 1e6, "100", NULL, NULL,
         "requests per second (without --profile)"},
        {"duration", BASE_OPT_DURATION, L(duration_ms), SZ(duration_ms), 0, 0, "10s", NULL, NULL,
         "how long to send (without --profile)"},
        {"connections", BASE_OPT_INT, L(connections), SZ(connections), 1, 10000, "8", NULL, NULL,
         "client connections"},
        {"csv", BASE_OPT_STRING, L(csv), SZ(csv), 0, 0, "", NULL, NULL,
         "write per-second figures to this CSV file"},
        {"profile", BASE_OPT_STRING, L(profile), SZ(profile), 0, 0, "", NULL, NULL,
         "rate profile file (hold RATE DUR / ramp FROM TO DUR lines)"},
        {"timeout", BASE_OPT_DURATION, L(timeout_ms), SZ(timeout_ms), 1, 600000, "2s", NULL, NULL,
         "a request without an answer after this is a timeout"},
        {"address", BASE_OPT_INT, L(address), SZ(address), 0, 65535, "0", NULL, NULL,
         "first register"},
        {"count", BASE_OPT_INT, L(count), SZ(count), 1, 123, "10", NULL, NULL,
         "registers per request"},
        {"unit-id", BASE_OPT_INT, L(unit_id), SZ(unit_id), 0, 255, "1", NULL, NULL, "unit id"},
        {"write-ratio", BASE_OPT_DOUBLE, L(write_ratio), SZ(write_ratio), 0, 1, "0", NULL, NULL,
         "fraction of requests that write registers (FC 16) instead of reading (FC 3)"},
        {"verify", BASE_OPT_BOOL, L(verify), SZ(verify), 0, 0, "false", NULL, NULL,
         "one request in flight per connection, alternately writing fresh values to its own "
         "register block and reading them back; a difference is a mismatch"},
        {"resolve-interval", BASE_OPT_DURATION, L(resolve_ms), SZ(resolve_ms), 100, 86400000, "5s",
         NULL, NULL, "re-resolve target hostnames this often"},
        {"expect-no-errors", BASE_OPT_BOOL, L(expect_no_errors), SZ(expect_no_errors), 0, 0,
         "false", NULL, NULL, "exit 1 if any request did not end ok"},
        {"max-inflight", BASE_OPT_INT, L(max_inflight), SZ(max_inflight), 1, 1024, "64", NULL, NULL,
         "pipelined requests per connection"},
        {"quiet", BASE_OPT_BOOL, L(quiet), SZ(quiet), 0, 0, "false", NULL, NULL,
         "no progress lines"},
        BASE_OPT_END,
};

/* ---- latency histogram (log-linear, microseconds) --------------------------- */

#define H_SUB 32
#define H_N   (64 + 30 * H_SUB)
typedef struct {
	uint64_t b[H_N];
	uint64_t n;
} hist_t;

static int h_index(uint64_t us)
{
	int e;
	int i;
	if (us < 64)
		return (int)us;
	e = 63 - __builtin_clzll(us);
	i = 64 + (e - 6) * H_SUB + (int)((us >> (e - 5)) & (H_SUB - 1));
	return i < H_N ? i : H_N - 1;
}

static uint64_t h_upper(int i)
{
	int e, sub;
	if (i < 64)
		return (uint64_t)i + 1;
	e = (i - 64) / H_SUB + 6;
	sub = (i - 64) % H_SUB;
	return ((uint64_t)(H_SUB + sub + 1)) << (e - 5);
}

static void h_add(hist_t *h, int64_t ns)
{
	h->b[h_index(ns > 0 ? (uint64_t)ns / 1000 : 0)]++;
	h->n++;
}

static double h_quantile_ms(const hist_t *h, double q)
{
	uint64_t want, seen = 0;
	if (h->n == 0)
		return 0;
	want = (uint64_t)ceil(q * (double)h->n);
	if (want == 0)
		want = 1;
	for (int i = 0; i < H_N; i++) {
		seen += h->b[i];
		if (seen >= want)
			return (double)h_upper(i) / 1000.0;
	}
	return 0;
}

/* ---- outcomes ------------------------------------------------------------ */

typedef struct {
	uint64_t sent, ok, exc, timeout, conn_error, unsent, mismatch, retried;
	uint64_t exc_by_code[256];
	hist_t lat;
} counts_t;

static uint64_t errors_of(const counts_t *c)
{
	return c->exc + c->timeout + c->conn_error + c->unsent + c->mismatch;
}

/* ---- endpoints and connections ------------------------------------------- */

typedef struct {
	struct sockaddr_storage sa;
	socklen_t len;
	char name[80];
} endpoint_t;

#define SLOTS 1024
typedef struct {
	bool used;
	bool write;
	uint16_t tid;
	int64_t sched_ns;
	uint64_t end_off; /* stream offset just past this request's bytes */
} slot_t;

/* A request waiting for a connection: new, or to be re-sent. */
enum { P_NEW, P_RETRY_READ, P_RETRY_WRITE };
typedef struct {
	int64_t sched_ns;
	int kind;
} pend_t;

enum { C_DOWN, C_CONNECTING, C_UP };

typedef struct {
	int idx;
	int fd;
	int state;
	int ep; /* endpoint index */
	int64_t retry_ns;
	uint16_t tid_next;
	int inflight;
	slot_t slots[SLOTS];
	uint8_t in[1024];
	size_t inlen;
	base_buf_t out;
	uint64_t queued_off;   /* bytes ever appended to out */
	uint64_t written_off;  /* bytes ever written to the socket */
	uint16_t written[125]; /* --verify: what the last write stored */
	bool have_written;
	bool next_is_read;
} conn_t;

static struct {
	lg_opts_t o;
	endpoint_t eps[64];
	int neps;
	conn_t *conns;
	int epfd;
	counts_t total, sec;
	int rr;          /* next connection to send on */
	unsigned ep_rr;  /* next endpoint to connect to */
	pend_t *pending; /* requests not yet (re)sent (ring) */
	size_t pcap, phead, plen;
	volatile sig_atomic_t stop;
	unsigned seed;
} g;

/* Resolves every target; keeps the old list when nothing resolves. */
static void resolve_targets(void)
{
	endpoint_t eps[64];
	int n = 0;
	char list[sizeof(g.o.target)];
	char *t = list;
	memcpy(list, g.o.target, sizeof(list));
	while (t && *t && n < 64) {
		char *host = t;
		char *comma = strchr(t, ',');
		char *colon;
		struct addrinfo hints = {0}, *ai = NULL;
		if (comma)
			*comma = '\0';
		t = comma ? comma + 1 : NULL;
		colon = strrchr(host, ':');
		if (colon == NULL)
			continue;
		*colon = '\0';
		hints.ai_socktype = SOCK_STREAM;
		if (getaddrinfo(host, colon + 1, &hints, &ai) != 0)
			continue;
		for (struct addrinfo *a = ai; a && n < 64; a = a->ai_next) {
			char h[64], p[8];
			memcpy(&eps[n].sa, a->ai_addr, a->ai_addrlen);
			eps[n].len = a->ai_addrlen;
			getnameinfo(a->ai_addr, a->ai_addrlen, h, sizeof(h), p, sizeof(p),
			            NI_NUMERICHOST | NI_NUMERICSERV);
			snprintf(eps[n].name, sizeof(eps[n].name), "%s:%s", h, p);
			n++;
		}
		freeaddrinfo(ai);
	}
	if (n > 0) {
		memcpy(g.eps, eps, sizeof(eps[0]) * (size_t)n);
		g.neps = n;
	}
}

static void count_outcome(int kind, int64_t sched_ns, uint8_t code)
{
	counts_t *cs[2] = {&g.total, &g.sec};
	for (int i = 0; i < 2; i++) {
		counts_t *c = cs[i];
		switch (kind) {
		case 0:
			c->ok++;
			h_add(&c->lat, base_now_ns() - sched_ns);
			break;
		case 1:
			c->exc++;
			c->exc_by_code[code]++;
			h_add(&c->lat, base_now_ns() - sched_ns);
			break;
		case 2:
			c->timeout++;
			break;
		case 3:
			c->conn_error++;
			break;
		case 4:
			c->unsent++;
			break;
		case 5:
			c->mismatch++;
			break;
		}
	}
}
enum { O_OK, O_EXC, O_TIMEOUT, O_CONN, O_UNSENT, O_MISMATCH };

static void pending_push_front(int64_t t, int kind);

static void conn_down(conn_t *c, const char *why)
{
	if (c->fd >= 0) {
		epoll_ctl(g.epfd, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
	}
	c->fd = -1;
	for (int i = 0; i < SLOTS; i++) {
		slot_t *s = &c->slots[i];
		if (!s->used)
			continue;
		s->used = false;
		if (!s->write || s->end_off > c->written_off) {
			/* Unanswered read, or a write that never fully left: send
			 * it again elsewhere. */
			g.total.retried++;
			g.sec.retried++;
			pending_push_front(s->sched_ns, s->write ? P_RETRY_WRITE : P_RETRY_READ);
		} else {
			count_outcome(O_CONN, s->sched_ns, 0);
		}
	}
	if (c->state != C_DOWN && why)
		base_log(BASE_LOG_DEBUG, "conn_down", "endpoint",
		         g.neps ? g.eps[c->ep % g.neps].name : "", "reason", why, (char *)NULL);
	c->inflight = 0;
	c->inlen = 0;
	c->queued_off = c->written_off = 0;
	base_buf_reset(&c->out);
	c->state = C_DOWN;
	c->retry_ns = base_now_ns() + 100000000LL;
}

static void conn_open(conn_t *c)
{
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
	int one = 1;
	endpoint_t *e;
	if (g.neps == 0) {
		c->retry_ns = base_now_ns() + 500000000LL;
		return;
	}
	/* Rotate over the current endpoint list on each (re)connect. */
	c->ep = (int)(g.ep_rr++ % (unsigned)g.neps);
	e = &g.eps[c->ep];
	c->fd = socket(e->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		c->retry_ns = base_now_ns() + 500000000LL;
		return;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, (struct sockaddr *)&e->sa, e->len) != 0 && errno != EINPROGRESS) {
		close(c->fd);
		c->fd = -1;
		c->retry_ns = base_now_ns() + 100000000LL;
		return;
	}
	c->state = C_CONNECTING;
	epoll_ctl(g.epfd, EPOLL_CTL_ADD, c->fd, &ev);
}

static void conn_flush(conn_t *c)
{
	while (c->out.len > 0) {
		ssize_t n = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			base_buf_consume(&c->out, (size_t)n);
			c->written_off += (uint64_t)n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		conn_down(c, "write failed");
		return;
	}
}

static void put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Sends one request scheduled at sched_ns on c (kind: P_NEW, or a re-send
 * of a read or write). */
static void conn_send(conn_t *c, int64_t sched_ns, int kind)
{
	uint8_t adu[MBAP_MAX_ADU];
	size_t n;
	slot_t *s;
	bool write;
	int cnt = (int)g.o.count;
	unsigned addr = (unsigned)g.o.address;
	uint16_t tid = c->tid_next;
	while (c->slots[tid % SLOTS].used)
		tid++;
	c->tid_next = (uint16_t)(tid + 1);
	s = &c->slots[tid % SLOTS];
	if (kind != P_NEW) {
		write = kind == P_RETRY_WRITE;
		if (g.o.verify)
			addr = (unsigned)(g.o.address + c->idx * g.o.count) & 0xFFFF;
	} else if (g.o.verify) {
		write = !c->next_is_read;
		c->next_is_read = !c->next_is_read;
		addr = (unsigned)(g.o.address + c->idx * g.o.count) & 0xFFFF;
	} else {
		write = g.o.write_ratio > 0 && (double)rand_r(&g.seed) / RAND_MAX < g.o.write_ratio;
	}
	put16(adu, tid);
	put16(adu + 2, 0);
	adu[6] = (uint8_t)g.o.unit_id;
	if (write) {
		adu[7] = 16;
		put16(adu + 8, addr);
		put16(adu + 10, (unsigned)cnt);
		adu[12] = (uint8_t)(cnt * 2);
		for (int i = 0; i < cnt; i++) {
			uint16_t v = (uint16_t)rand_r(&g.seed);
			if (g.o.verify)
				c->written[i] = v;
			put16(adu + 13 + 2 * i, v);
		}
		if (g.o.verify)
			c->have_written = true;
		n = 13 + 2 * (size_t)cnt;
	} else {
		adu[7] = 3;
		put16(adu + 8, addr);
		put16(adu + 10, (unsigned)cnt);
		n = 12;
	}
	put16(adu + 4, (unsigned)(n - 6));
	s->used = true;
	s->write = write;
	s->tid = tid;
	s->sched_ns = sched_ns;
	c->inflight++;
	if (kind == P_NEW) {
		g.total.sent++;
		g.sec.sent++;
	}
	if (base_buf_append(&c->out, adu, n) != 0) {
		conn_down(c, "output buffer full");
		return;
	}
	c->queued_off += n;
	s->end_off = c->queued_off;
	conn_flush(c);
}

static void on_reply(conn_t *c, const uint8_t *rep, size_t n)
{
	uint16_t tid = mbap_get_tid(rep);
	slot_t *s = &c->slots[tid % SLOTS];
	uint8_t code = 0;
	if (!s->used || s->tid != tid)
		return; /* a late answer to a request already counted as timeout */
	s->used = false;
	c->inflight--;
	if (mbap_is_exception(rep, n, &code)) {
		count_outcome(O_EXC, s->sched_ns, code);
		return;
	}
	if (g.o.verify && !s->write && c->have_written) {
		size_t want = 9 + 2 * (size_t)g.o.count;
		bool same = n == want && rep[8] == 2 * g.o.count;
		for (int i = 0; same && i < g.o.count; i++)
			same = ((rep[9 + 2 * i] << 8) | rep[10 + 2 * i]) == c->written[i];
		if (!same) {
			count_outcome(O_MISMATCH, s->sched_ns, 0);
			return;
		}
	}
	count_outcome(O_OK, s->sched_ns, 0);
}

static void conn_event(conn_t *c, uint32_t events)
{
	if (c->state == C_CONNECTING) {
		int err = 0;
		socklen_t sl = sizeof(err);
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &sl) != 0 || err != 0 ||
		    (events & (EPOLLERR | EPOLLHUP))) {
			conn_down(c, "connect failed");
			return;
		}
		c->state = C_UP;
		epoll_ctl(g.epfd, EPOLL_CTL_MOD, c->fd, &ev);
		return;
	}
	if (events & EPOLLOUT)
		conn_flush(c);
	if (c->state != C_UP)
		return;
	for (;;) {
		ssize_t r = recv(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen, MSG_DONTWAIT);
		size_t off = 0;
		int f = 0;
		if (r == 0) {
			conn_down(c, "closed by peer");
			return;
		}
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				conn_down(c, "read failed");
			return;
		}
		c->inlen += (size_t)r;
		while ((f = mbap_frame(c->in + off, c->inlen - off)) > 0) {
			if (f >= 9)
				on_reply(c, c->in + off, (size_t)f);
			off += (size_t)f;
		}
		if (f < 0) {
			conn_down(c, "malformed reply");
			return;
		}
		memmove(c->in, c->in + off, c->inlen - off);
		c->inlen -= off;
	}
}

/* ---- rate profile ----------------------------------------------------------- */

typedef struct {
	double from, to;
	int64_t ms;
} seg_t;

static seg_t *segs;
static int nsegs;
static int64_t total_ms;

static int load_profile(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	char line[256];
	int ln = 0;
	if (f == NULL) {
		snprintf(err, errlen, "--profile %s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		char kind[16], a[32], b[32], c[32];
		char why[128];
		seg_t s;
		char *hash = strchr(line, '#');
		char *end;
		int n;
		ln++;
		if (hash)
			*hash = '\0';
		n = sscanf(line, "%15s %31s %31s %31s", kind, a, b, c);
		if (n <= 0)
			continue;
		if (strcmp(kind, "hold") == 0 && n == 3) {
			s.from = s.to = strtod(a, &end);
			if (*end || s.from < 0)
				goto bad;
			if (base_parse_duration_ms(b, &s.ms, why, sizeof(why)) != 0)
				goto bad;
		} else if (strcmp(kind, "ramp") == 0 && n == 4) {
			s.from = strtod(a, &end);
			if (*end || s.from < 0)
				goto bad;
			s.to = strtod(b, &end);
			if (*end || s.to < 0)
				goto bad;
			if (base_parse_duration_ms(c, &s.ms, why, sizeof(why)) != 0)
				goto bad;
		} else {
			goto bad;
		}
		seg_t *ns = realloc(segs, sizeof(*segs) * (size_t)(nsegs + 1));
		if (ns == NULL)
			goto bad;
		segs = ns;
		segs[nsegs++] = s;
		total_ms += s.ms;
		continue;
	bad:
		snprintf(err, errlen,
		         "--profile %s line %d: expected \"hold RATE DUR\" or "
		         "\"ramp FROM TO DUR\"",
		         path, ln);
		fclose(f);
		return -1;
	}
	fclose(f);
	if (nsegs == 0) {
		snprintf(err, errlen, "--profile %s: no steps", path);
		return -1;
	}
	return 0;
}

static double rate_at(int64_t ms)
{
	for (int i = 0; i < nsegs; i++) {
		if (ms < segs[i].ms)
			return segs[i].from +
			       (segs[i].to - segs[i].from) * (double)ms / (double)segs[i].ms;
		ms -= segs[i].ms;
	}
	return 0;
}

/* ---- main loop ----------------------------------------------------------- */

/* First SIGINT/SIGTERM: stop scheduling and finish what is in flight
 * (within --timeout); a second one: stop at once. */
static void on_signal(int sig)
{
	g.stop = g.stop < 2 ? g.stop + 1 : 2;
}

static void pending_push(int64_t t)
{
	if (g.plen == g.pcap) {
		count_outcome(O_UNSENT, t, 0); /* backlog beyond memory: still counted */
		return;
	}
	g.pending[(g.phead + g.plen) % g.pcap] = (pend_t){t, P_NEW};
	g.plen++;
}

/* Re-sends go first: they are older than anything pending. */
static void pending_push_front(int64_t t, int kind)
{
	if (g.plen == g.pcap) {
		count_outcome(O_CONN, t, 0);
		return;
	}
	g.phead = (g.phead + g.pcap - 1) % g.pcap;
	g.pending[g.phead] = (pend_t){t, kind};
	g.plen++;
}

static conn_t *pick_conn(void)
{
	int n = (int)g.o.connections;
	int lim = g.o.verify ? 1 : (int)g.o.max_inflight;
	for (int k = 0; k < n; k++) {
		conn_t *c = &g.conns[(g.rr + k) % n];
		if (c->state == C_UP && c->inflight < lim) {
			g.rr = (g.rr + k + 1) % n;
			return c;
		}
	}
	return NULL;
}

static void dispatch(int64_t now)
{
	int64_t tmo = g.o.timeout_ms * 1000000;
	while (g.plen > 0) {
		pend_t p = g.pending[g.phead];
		conn_t *c;
		if (now - p.sched_ns > tmo) {
			/* A re-send that found no connection in time was sent once
			 * and never answered: a timeout. */
			count_outcome(p.kind == P_NEW ? O_UNSENT : O_TIMEOUT, p.sched_ns, 0);
		} else {
			c = pick_conn();
			if (c == NULL)
				return;
			conn_send(c, p.sched_ns, p.kind);
		}
		g.phead = (g.phead + 1) % g.pcap;
		g.plen--;
	}
}

static void expire(int64_t now)
{
	int64_t tmo = g.o.timeout_ms * 1000000;
	for (int i = 0; i < g.o.connections; i++) {
		conn_t *c = &g.conns[i];
		if (c->inflight == 0)
			continue;
		for (int k = 0; k < SLOTS; k++) {
			if (c->slots[k].used && now - c->slots[k].sched_ns > tmo) {
				c->slots[k].used = false;
				c->inflight--;
				count_outcome(O_TIMEOUT, c->slots[k].sched_ns, 0);
			}
		}
	}
}

static void progress(FILE *csv, int sec, double target)
{
	double p50 = h_quantile_ms(&g.sec.lat, 0.5), p99 = h_quantile_ms(&g.sec.lat, 0.99);
	if (!g.o.quiet)
		fprintf(stderr,
		        "t=%ds target=%.0f/s sent=%llu ok=%llu errors=%llu p50=%.3fms p99=%.3fms "
		        "endpoints=%d\n",
		        sec, target, (unsigned long long)g.sec.sent, (unsigned long long)g.sec.ok,
		        (unsigned long long)errors_of(&g.sec), p50, p99, g.neps);
	if (csv) {
		fprintf(csv, "%d,%.1f,%llu,%llu,%llu,%llu,%llu,%llu,%llu,%.3f,%.3f,%llu\n", sec,
		        target, (unsigned long long)g.sec.sent, (unsigned long long)g.sec.ok,
		        (unsigned long long)g.sec.exc, (unsigned long long)g.sec.timeout,
		        (unsigned long long)g.sec.conn_error, (unsigned long long)g.sec.unsent,
		        (unsigned long long)g.sec.mismatch, p50, p99,
		        (unsigned long long)g.sec.retried);
		fflush(csv);
	}
	memset(&g.sec, 0, sizeof(g.sec));
}

int main(int argc, char **argv)
{
	bool seen[32];
	char err[1536];
	FILE *csv = NULL;
	int64_t start, end_ns, next_sched, next_sec, next_resolve;
	int sec = 0;
	double cur_rate = 0;
	struct sigaction sa = {0};
	int rc = base_opt_main(
	        opts, &g.o, seen, argc, argv, NULL, "mcp-loadgen",
	        "Usage: mcp-loadgen --target ADDR:PORT[,ADDR:PORT...] --rate N --duration DUR "
	        "[--connections N] [--csv FILE] [--profile FILE]\n"
	        "Open-loop Modbus TCP load (FC 3 reads, FC 16 writes). Prints a progress line per "
	        "second on stderr\nand a logfmt summary line on stdout.",
	        MCP_VERSION);
	if (rc != 0)
		return rc == 1 ? 0 : 2;
	if (g.o.target[0] == '\0') {
		fprintf(stderr, "mcp-loadgen: --target is required\n");
		return 2;
	}
	if (g.o.address + g.o.count * (g.o.verify ? g.o.connections : 1) > 65536) {
		fprintf(stderr, "mcp-loadgen: --address + --count (x --connections with --verify) "
		                "passes register 65535\n");
		return 2;
	}
	if (g.o.profile[0]) {
		if (load_profile(g.o.profile, err, sizeof(err)) != 0) {
			fprintf(stderr, "mcp-loadgen: %s\n", err);
			return 2;
		}
	} else {
		segs = calloc(1, sizeof(*segs));
		if (segs == NULL)
			return 1;
		segs[0] = (seg_t){g.o.rate, g.o.rate, g.o.duration_ms};
		nsegs = 1;
		total_ms = g.o.duration_ms;
	}
	if (g.o.csv[0]) {
		csv = fopen(g.o.csv, "we");
		if (csv == NULL) {
			fprintf(stderr, "mcp-loadgen: --csv %s: %s\n", g.o.csv, strerror(errno));
			return 2;
		}
		fprintf(csv, "second,target_rate,sent,ok,exception,timeout,conn_error,unsent,"
		             "mismatch,p50_ms,p99_ms,retried\n");
	}
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	g.seed = (unsigned)base_now_ns();
	g.pcap = 1 << 20;
	g.pending = malloc(sizeof(*g.pending) * g.pcap);
	g.conns = calloc((size_t)g.o.connections, sizeof(conn_t));
	g.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (g.pending == NULL || g.conns == NULL || g.epfd < 0) {
		fprintf(stderr, "mcp-loadgen: out of memory\n");
		return 1;
	}
	resolve_targets();
	if (g.neps == 0)
		base_log(BASE_LOG_WARN, "resolve", "target", g.o.target, "error",
		         "nothing resolved yet; retrying", (char *)NULL);
	for (int i = 0; i < g.o.connections; i++) {
		g.conns[i].idx = i;
		g.conns[i].fd = -1;
		base_buf_init(&g.conns[i].out, 1 << 20);
		conn_open(&g.conns[i]);
	}
	/* Give connections a moment to open before the clock starts. */
	for (int64_t t0 = base_now_ns(); base_now_ns() - t0 < 1000000000LL;) {
		struct epoll_event evs[64];
		int n = epoll_wait(g.epfd, evs, 64, 10);
		int up = 0;
		for (int i = 0; i < n; i++)
			conn_event(evs[i].data.ptr, evs[i].events);
		for (int i = 0; i < g.o.connections; i++)
			up += g.conns[i].state == C_UP;
		if (up == g.o.connections)
			break;
	}
	start = base_now_ns();
	end_ns = start + total_ms * 1000000;
	next_sched = start;
	next_sec = start + 1000000000LL;
	next_resolve = start + g.o.resolve_ms * 1000000;
	for (;;) {
		struct epoll_event evs[256];
		int64_t now = base_now_ns();
		int n;
		bool sending;
		if (g.stop && end_ns > now)
			end_ns = now; /* the run ends here; in-flight requests may finish */
		sending = now < end_ns;
		/* Schedule every request due by now (open loop). */
		while (sending && next_sched <= now && next_sched < end_ns) {
			cur_rate = rate_at((next_sched - start) / 1000000);
			if (cur_rate <= 0) {
				next_sched += 10000000;
				continue;
			}
			pending_push(next_sched);
			next_sched += (int64_t)(1e9 / cur_rate);
		}
		dispatch(now);
		expire(now);
		for (int i = 0; i < g.o.connections; i++) {
			if (g.conns[i].state == C_DOWN && now >= g.conns[i].retry_ns &&
			    (sending || g.plen > 0))
				conn_open(&g.conns[i]);
		}
		if (now >= next_resolve) {
			resolve_targets();
			next_resolve = now + g.o.resolve_ms * 1000000;
		}
		if (now >= next_sec) {
			progress(csv, ++sec, cur_rate);
			next_sec += 1000000000LL;
		}
		if (!sending) {
			int busy = (int)g.plen;
			for (int i = 0; i < g.o.connections; i++)
				busy += g.conns[i].inflight;
			if (busy == 0 || now > end_ns + g.o.timeout_ms * 1000000 + 100000000LL ||
			    g.stop > 1)
				break;
		}
		n = epoll_wait(g.epfd, evs, 256, 1);
		for (int i = 0; i < n; i++)
			conn_event(evs[i].data.ptr, evs[i].events);
	}
	/* Whatever is left (interrupted run): count it, never drop it. */
	expire(INT64_MAX / 2);
	while (g.plen > 0) {
		pend_t p = g.pending[g.phead];
		count_outcome(p.kind == P_NEW ? O_UNSENT : O_TIMEOUT, p.sched_ns, 0);
		g.phead = (g.phead + 1) % g.pcap;
		g.plen--;
	}
	if (g.sec.sent || g.sec.ok || errors_of(&g.sec))
		progress(csv, ++sec, cur_rate);
	{
		double secs = (double)(base_now_ns() - start) / 1e9;
		char excs[512] = "";
		size_t off = 0;
		for (int i = 1; i < 256; i++) {
			if (g.total.exc_by_code[i] && off < sizeof(excs)) {
				int w = snprintf(excs + off, sizeof(excs) - off,
				                 " exception_%02x=%llu", i,
				                 (unsigned long long)g.total.exc_by_code[i]);
				if (w > 0)
					off += (size_t)w;
			}
		}
		printf("loadgen=summary sent=%llu ok=%llu exception=%llu timeout=%llu "
		       "conn_error=%llu unsent=%llu mismatch=%llu errors=%llu retried=%llu%s "
		       "rate=%.1f "
		       "p50_ms=%.3f p99_ms=%.3f duration_s=%.2f\n",
		       (unsigned long long)g.total.sent, (unsigned long long)g.total.ok,
		       (unsigned long long)g.total.exc, (unsigned long long)g.total.timeout,
		       (unsigned long long)g.total.conn_error, (unsigned long long)g.total.unsent,
		       (unsigned long long)g.total.mismatch,
		       (unsigned long long)errors_of(&g.total), (unsigned long long)g.total.retried,
		       excs, secs > 0 ? (double)g.total.ok / secs : 0,
		       h_quantile_ms(&g.total.lat, 0.5), h_quantile_ms(&g.total.lat, 0.99), secs);
		fflush(stdout);
	}
	if (csv)
		fclose(csv);
	for (int i = 0; i < g.o.connections; i++) {
		if (g.conns[i].fd >= 0)
			close(g.conns[i].fd);
		base_buf_free(&g.conns[i].out);
	}
	free(g.conns);
	free(g.pending);
	free(segs);
	close(g.epfd);
	return g.o.expect_no_errors && errors_of(&g.total) > 0 ? 1 : 0;
}

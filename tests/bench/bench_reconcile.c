/* bench_reconcile: one reconcile's scrape + parse + aggregate + decide for
 * 10, 100 and 1000 worker pods, each served on its own loopback address
 * (127.6.X.Y) by a fake metrics server.
 *
 * Processes, so that rss_mib is the controller side's own footprint: the
 * fake metrics server (1000 listening sockets, one epoll loop) is forked
 * first, before anything is allocated; then each pod count runs in fresh
 * children forked from the still-small parent: one that only reconciles
 * (rss_mib is its VmHWM, peak RSS), then one that times reconciles and
 * baseline fetches, alternating round by round after a warm-up of each.
 * Scrapes use the daemon's defaults (at most 256 at a time; the env
 * BENCH_SCRAPE_CONCURRENCY=N changes that cap).
 * Baseline: the raw concurrent HTTP fetch of the same bodies on the same
 * loop (kube_http_start, no parsing, no concurrency cap). Median of ROUNDS.
 * Output: bench=reconcile_pods pods=N wall_ms= cpu_ms= rss_mib= value= unit=ms
 *         baseline=raw_fetch baseline_value= ratio= */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../controller/scrape.h"
#include "autoscale/autoscale.h"
#include "base/clock.h"
#include "kube/loop.h"
#include "../lib/bench_util.h"

#define ROUNDS  5
#define MAXPODS 1000

static char g_resp[4096];
static size_t g_resp_len;
static int g_port;
static int g_net;

static void make_body(void)
{
	char body[2048];
	int n = snprintf(body, sizeof(body),
	                 "# TYPE mcp_pool_size gauge\nmcp_pool_size 8\n"
	                 "# TYPE mcp_pool_target_size gauge\nmcp_pool_target_size 8\n"
	                 "# TYPE mcp_pool_connections gauge\n"
	                 "mcp_pool_connections{state=\"idle\"} 2\n"
	                 "mcp_pool_connections{state=\"in_use\"} 6\n"
	                 "mcp_pool_connections{state=\"connecting\"} 0\n"
	                 "mcp_pool_connections{state=\"broken\"} 0\n"
	                 "# TYPE mcp_pool_waiters gauge\nmcp_pool_waiters 1\n"
	                 "# TYPE mcp_request_duration_seconds histogram\n");
	const char *le[] = {"0.0005", "0.001", "0.005", "0.01", "0.05",
	                    "0.1",    "0.5",   "1",     "5",    "+Inf"};
	for (int i = 0; i < 10; i++)
		n += snprintf(body + n, sizeof(body) - (size_t)n,
		              "mcp_request_duration_seconds_bucket{le=\"%s\"} %d\n", le[i],
		              100 * (i + 1));
	n += snprintf(
	        body + n, sizeof(body) - (size_t)n,
	        "mcp_request_duration_seconds_sum 12.5\nmcp_request_duration_seconds_count 1000\n"
	        "mcp_requests_total{result=\"ok\"} 1000\n");
	g_resp_len =
	        (size_t)snprintf(g_resp, sizeof(g_resp),
	                         "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
	                         "%d\r\nConnection: close\r\n\r\n%s",
	                         n, body);
}

static void addr_of(int i, char *buf, size_t cap)
{
	snprintf(buf, cap, "127.6.%d.%d", g_net + i / 250, i % 250 + 1);
}

/* The fake metrics server process: answers every request with g_resp and
 * closes; exits when the parent closes its end of ctl (EOF on ctl_fd). */
static void serve(const int *lfd, int ctl_fd)
{
	int ep = epoll_create1(0);
	struct epoll_event cev = {.events = EPOLLIN, .data.u64 = (uint64_t)ctl_fd | (2ull << 32)};
	epoll_ctl(ep, EPOLL_CTL_ADD, ctl_fd, &cev);
	for (int i = 0; i < MAXPODS; i++) {
		struct epoll_event ev = {.events = EPOLLIN,
		                         .data.u64 = (uint64_t)lfd[i] | (1ull << 32)};
		epoll_ctl(ep, EPOLL_CTL_ADD, lfd[i], &ev);
	}
	struct epoll_event evs[256];
	char buf[2048];
	for (;;) {
		int n = epoll_wait(ep, evs, 256, -1);
		for (int k = 0; k < n; k++) {
			int fd = (int)(evs[k].data.u64 & 0xffffffffu);
			uint64_t kind = evs[k].data.u64 >> 32;
			if (kind == 2)
				_exit(0);
			if (kind == 1) {
				int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
				if (c < 0)
					continue;
				struct epoll_event ev = {.events = EPOLLIN,
				                         .data.u64 = (uint64_t)c};
				epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
				continue;
			}
			ssize_t r = read(fd, buf, sizeof(buf));
			bool whole = r > 0 && memmem(buf, (size_t)r, "\r\n\r\n", 4);
			if (whole) {
				size_t off = 0;
				while (off < g_resp_len) {
					ssize_t w = write(fd, g_resp + off, g_resp_len - off);
					if (w <= 0)
						break;
					off += (size_t)w;
				}
			}
			if (r <= 0 || whole) {
				epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
				close(fd);
			}
		}
	}
}

/* Forks the server; returns the write end of its control pipe (closing it
 * stops the server) or -1. Waits until every address listens. */
static int start_server(pid_t *pid)
{
	int ctl[2], rdy[2];
	if (pipe2(ctl, O_CLOEXEC) != 0 || pipe2(rdy, O_CLOEXEC) != 0)
		return -1;
	*pid = fork();
	if (*pid < 0)
		return -1;
	if (*pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(ctl[1]);
		close(rdy[0]);
		static int lfd[MAXPODS];
		for (int i = 0; i < MAXPODS; i++) {
			char a[32];
			addr_of(i, a, sizeof(a));
			lfd[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
			int one = 1;
			setsockopt(lfd[i], SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
			struct sockaddr_in sa = {.sin_family = AF_INET,
			                         .sin_port = htons((uint16_t)g_port)};
			inet_pton(AF_INET, a, &sa.sin_addr);
			if (bind(lfd[i], (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
			    listen(lfd[i], 512) != 0) {
				fprintf(stderr, "bench_reconcile: bind %s:%d: %s\n", a, g_port,
				        strerror(errno));
				_exit(1);
			}
		}
		if (write(rdy[1], "r", 1) != 1)
			_exit(1);
		close(rdy[1]);
		serve(lfd, ctl[0]);
		_exit(0);
	}
	close(ctl[0]);
	close(rdy[1]);
	char c;
	ssize_t r = read(rdy[0], &c, 1);
	close(rdy[0]);
	if (r != 1) {
		close(ctl[1]);
		waitpid(*pid, NULL, 0);
		return -1;
	}
	return ctl[1];
}

static double cpu_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* The daemon's --scrape-concurrency default (256), or
 * BENCH_SCRAPE_CONCURRENCY=N to see how the footprint follows it. */
static int concurrency(void)
{
	const char *v = getenv("BENCH_SCRAPE_CONCURRENCY");
	if (!v || !*v)
		return 0;
	char *end;
	long n = strtol(v, &end, 10);
	if (*end || n < 1 || n > 100000) {
		fprintf(stderr, "bench_reconcile: BENCH_SCRAPE_CONCURRENCY=%s ignored\n", v);
		return 0;
	}
	return (int)n;
}

static int g_done;
static void scraped(ctl_scrape_t *s, void *arg)
{
	(void)s;
	(void)arg;
	g_done = 1;
}

static int g_raw_left;
static void raw_done(const kube_http_result_t *r, void *arg)
{
	(void)arg;
	if (r->err != 0 || r->status != 200)
		fprintf(stderr, "bench_reconcile: raw fetch failed: %s\n",
		        r->errmsg ? r->errmsg : "status");
	g_raw_left--;
}

typedef struct {
	int n;
	kube_loop_t *loop;
	char **urls;
	ctl_pod_t *pods;
	autoscale_pod_t *in;
	autoscale_policy_t pol;
	autoscale_state_t *st;
} side_t;

static void side_free(side_t *x)
{
	for (int i = 0; x->urls && i < x->n; i++)
		free(x->urls[i]);
	free(x->urls);
	free(x->pods);
	free(x->in);
	autoscale_state_free(x->st);
	kube_loop_free(x->loop);
}

static int side_init(side_t *x, int n)
{
	char err[256];
	memset(x, 0, sizeof(*x));
	x->n = n;
	x->loop = kube_loop_new(err, sizeof(err));
	x->urls = calloc((size_t)n, sizeof(char *));
	x->pods = calloc((size_t)n, sizeof(*x->pods));
	x->in = calloc((size_t)n, sizeof(*x->in));
	x->st = autoscale_state_new();
	if (!x->loop || !x->urls || !x->pods || !x->in || !x->st) {
		fprintf(stderr, "bench_reconcile: setup: %s\n", x->loop ? "out of memory" : err);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		char a[32], u[64];
		addr_of(i, a, sizeof(a));
		snprintf(u, sizeof(u), "http://%s:%d/metrics", a, g_port);
		x->urls[i] = strdup(u);
		if (!x->urls[i])
			return -1;
		snprintf(x->pods[i].name, sizeof(x->pods[i].name), "w-%d", i);
		snprintf(x->pods[i].ip, sizeof(x->pods[i].ip), "%s", a);
		x->pods[i].phase = AUTOSCALE_POD_RUNNING;
		x->pods[i].ready = true;
	}
	const char *keys[] = {"scaleTargetRef", "maxReplicas", "targetPoolOccupancy",
	                      "targetP99Latency"};
	const char *vals[] = {"Deployment/w", "2000", "70", "500ms"};
	if (autoscale_policy_parse(keys, vals, 4, &x->pol, err, sizeof(err)) != 0) {
		fprintf(stderr, "bench_reconcile: policy: %s\n", err);
		return -1;
	}
	return 0;
}

/* One reconcile: scrape + parse + aggregate + decide, with the daemon's
 * scrape defaults (zeroes in ctl_scrape_opts_t). Wall and CPU ms, or -1. */
static int reconcile_round(side_t *x, int r, double *wall, double *cpu)
{
	double c0 = cpu_ms();
	int64_t t0 = base_now_ns();
	g_done = 0;
	ctl_scrape_opts_t so = {5000, 0, concurrency()};
	ctl_scrape_t *s = ctl_scrape_start(x->loop, (const char *const *)x->urls, (size_t)x->n, &so,
	                                   NULL, scraped, NULL);
	if (!s)
		return -1;
	while (!g_done)
		kube_loop_run_once(x->loop, 100);
	size_t nres;
	const ctl_scrape_result_t *res = ctl_scrape_results(s, &nres);
	size_t ok = ctl_scrape_build_input(x->pods, (size_t)x->n, res, nres, x->in);
	autoscale_input_t ai = {.now = 1000.0 + r * 15.0,
	                        .current_replicas = x->n,
	                        .current_pool_size = 8,
	                        .pods = x->in,
	                        .npods = (size_t)x->n};
	autoscale_decision_t d;
	autoscale_decide(&x->pol, x->st, &ai, &d);
	ctl_scrape_free(s);
	*wall = (double)(base_now_ns() - t0) / 1e6;
	*cpu = cpu_ms() - c0;
	if (ok != (size_t)x->n) {
		fprintf(stderr, "bench_reconcile: only %zu of %d scrapes worked\n", ok, x->n);
		return -1;
	}
	return 0;
}

/* The baseline: every URL fetched at once, bodies not looked at. Wall ms. */
static double raw_round(side_t *x)
{
	int64_t t0 = base_now_ns();
	g_raw_left = x->n;
	for (int i = 0; i < x->n; i++) {
		kube_http_opts_t o = {0};
		o.url = x->urls[i];
		o.timeout_ms = 5000;
		o.max_body = 1 << 20;
		if (kube_http_start(x->loop, &o, raw_done, NULL, NULL) != 0)
			g_raw_left--;
	}
	while (g_raw_left > 0)
		kube_loop_run_once(x->loop, 100);
	return (double)(base_now_ns() - t0) / 1e6;
}

/* Footprint child: ROUNDS reconciles of n pods and nothing else; writes
 * its VmHWM (MiB, a double) to fd. */
static int run_footprint(int n, int fd)
{
	side_t x;
	int rc = side_init(&x, n);
	double w, c;
	for (int r = 0; r < ROUNDS && rc == 0; r++)
		rc = reconcile_round(&x, r, &w, &c);
	double rss = bench_hwm_mib(0);
	side_free(&x);
	if (rc == 0 && write(fd, &rss, sizeof(rss)) != (ssize_t)sizeof(rss))
		rc = -1;
	return rc == 0 ? 0 : 1;
}

/* Timing child: one warm-up of each, then ROUNDS rounds alternating
 * reconcile and raw fetch, so both see the same machine; prints the line. */
static int run_timing(int n, double rss)
{
	side_t x;
	double wall[ROUNDS], cpu[ROUNDS], base[ROUNDS], w, c;
	int rc = side_init(&x, n);
	if (rc == 0)
		rc = reconcile_round(&x, 0, &w, &c);
	if (rc == 0)
		raw_round(&x);
	for (int r = 0; r < ROUNDS && rc == 0; r++) {
		rc = reconcile_round(&x, r + 1, &wall[r], &cpu[r]);
		base[r] = raw_round(&x);
	}
	side_free(&x);
	if (rc != 0)
		return 1;
	qsort(wall, ROUNDS, sizeof(double), bench_cmp_double);
	qsort(cpu, ROUNDS, sizeof(double), bench_cmp_double);
	qsort(base, ROUNDS, sizeof(double), bench_cmp_double);
	double wm = wall[ROUNDS / 2], b = base[ROUNDS / 2];
	printf("bench=reconcile_pods pods=%d wall_ms=%.2f cpu_ms=%.2f rss_mib=%.1f value=%.2f "
	       "unit=ms baseline=raw_fetch baseline_value=%.2f ratio=%.2f\n",
	       n, wm, cpu[ROUNDS / 2], rss, wm, b, b > 0 ? wm / b : 0);
	fflush(stdout);
	return 0;
}

/* Forks fn's child and waits for it; 0 when it exited 0. */
static int child(int (*fn)(int, int), int a, int b, int close_fd)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		close(close_fd);
		_exit(fn(a, b));
	}
	int wst;
	if (waitpid(pid, &wst, 0) != pid || !WIFEXITED(wst) || WEXITSTATUS(wst) != 0)
		return -1;
	return 0;
}

static double g_rss;
static int timing_with_rss(int n, int unused)
{
	(void)unused;
	return run_timing(n, g_rss);
}

int main(void)
{
	make_body();
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	g_net = 10 + rand() % 200;
	g_port = 20000 + rand() % 30000;
	pid_t spid;
	int ctl = start_server(&spid);
	if (ctl < 0) {
		fprintf(stderr, "bench_reconcile: the fake metrics server did not start\n");
		return 1;
	}
	const int counts[] = {10, 100, 1000};
	int rc = 0;
	for (int ci = 0; ci < 3 && rc == 0; ci++) {
		int p[2];
		g_rss = -1;
		if (pipe2(p, O_CLOEXEC) != 0)
			return 1;
		rc = child(run_footprint, counts[ci], p[1], ctl);
		close(p[1]);
		if (rc == 0 && read(p[0], &g_rss, sizeof(g_rss)) != (ssize_t)sizeof(g_rss))
			rc = -1;
		close(p[0]);
		if (rc == 0)
			rc = child(timing_with_rss, counts[ci], 0, ctl);
		if (rc != 0)
			fprintf(stderr, "bench_reconcile: pods=%d failed\n", counts[ci]);
	}
	close(ctl);
	waitpid(spid, NULL, 0);
	return rc;
}

/* bench_reconcile: one reconcile's scrape + parse + aggregate + decide for
 * 10, 100 and 1000 worker pods, each served on its own loopback address
 * (127.6.X.Y) by an in-process fake metrics server (one epoll thread).
 * Baseline: the raw concurrent HTTP fetch of the same bodies on the same
 * loop (kube_http_start, no parsing). Median of ROUNDS rounds.
 * Output: bench=reconcile_pods pods=N wall_ms= cpu_ms= rss_mib= value= unit=ms
 *         baseline=raw_fetch baseline_value= ratio= */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../../controller/scrape.h"
#include "autoscale/autoscale.h"
#include "base/clock.h"
#include "kube/loop.h"

#define ROUNDS  5
#define MAXPODS 1000

static char g_resp[4096];
static size_t g_resp_len;
static int g_port;
static int g_net;
static atomic_bool g_stop;

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

/* One epoll thread: listeners on every address, answers and closes. */
static void *server(void *arg)
{
	int *lfd = arg;
	int ep = epoll_create1(0);
	for (int i = 0; i < MAXPODS; i++) {
		struct epoll_event ev = {.events = EPOLLIN,
		                         .data.u64 = (uint64_t)lfd[i] | (1ull << 32)};
		epoll_ctl(ep, EPOLL_CTL_ADD, lfd[i], &ev);
	}
	struct epoll_event evs[256];
	char buf[2048];
	while (!atomic_load(&g_stop)) {
		int n = epoll_wait(ep, evs, 256, 100);
		for (int k = 0; k < n; k++) {
			int fd = (int)(evs[k].data.u64 & 0xffffffffu);
			if (evs[k].data.u64 >> 32) {
				int c = accept(fd, NULL, NULL);
				if (c < 0)
					continue;
				struct epoll_event ev = {.events = EPOLLIN,
				                         .data.u64 = (uint64_t)c};
				epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
				continue;
			}
			ssize_t r = read(fd, buf, sizeof(buf));
			if (r > 0 && memmem(buf, (size_t)r, "\r\n\r\n", 4)) {
				size_t off = 0;
				while (off < g_resp_len) {
					ssize_t w = write(fd, g_resp + off, g_resp_len - off);
					if (w <= 0)
						break;
					off += (size_t)w;
				}
			}
			if (r <= 0 || memmem(buf, (size_t)(r > 0 ? r : 0), "\r\n\r\n", 4)) {
				epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
				close(fd);
			}
		}
	}
	close(ep);
	return NULL;
}

static double cpu_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double rss_mib(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss / 1024.0;
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
	(void)r;
	(void)arg;
	g_raw_left--;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(void)
{
	char err[256];
	make_body();
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	g_net = 10 + rand() % 200;
	g_port = 20000 + rand() % 30000;
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
			return 1;
		}
	}
	pthread_t th;
	pthread_create(&th, NULL, server, lfd);
	kube_loop_t *loop = kube_loop_new(err, sizeof(err));
	if (!loop) {
		fprintf(stderr, "bench_reconcile: %s\n", err);
		return 1;
	}
	static char urlbuf[MAXPODS][64];
	static const char *urls[MAXPODS];
	static ctl_pod_t pods[MAXPODS];
	static autoscale_pod_t in[MAXPODS];
	for (int i = 0; i < MAXPODS; i++) {
		char a[32];
		addr_of(i, a, sizeof(a));
		snprintf(urlbuf[i], sizeof(urlbuf[i]), "http://%s:%d/metrics", a, g_port);
		urls[i] = urlbuf[i];
		memset(&pods[i], 0, sizeof(pods[i]));
		snprintf(pods[i].name, sizeof(pods[i].name), "w-%d", i);
		snprintf(pods[i].ip, sizeof(pods[i].ip), "%s", a);
		pods[i].phase = AUTOSCALE_POD_RUNNING;
		pods[i].ready = true;
	}
	const char *keys[] = {"scaleTargetRef", "maxReplicas", "targetPoolOccupancy",
	                      "targetP99Latency"};
	const char *vals[] = {"Deployment/w", "2000", "70", "500ms"};
	autoscale_policy_t pol;
	if (autoscale_policy_parse(keys, vals, 4, &pol, err, sizeof(err)) != 0) {
		fprintf(stderr, "bench_reconcile: policy: %s\n", err);
		return 1;
	}
	const int counts[] = {10, 100, 1000};
	for (int ci = 0; ci < 3; ci++) {
		int n = counts[ci];
		double wall[ROUNDS], cpu[ROUNDS], base[ROUNDS];
		autoscale_state_t *st = autoscale_state_new();
		for (int r = 0; r < ROUNDS; r++) {
			/* baseline: raw fetch */
			int64_t t0 = base_now_ns();
			g_raw_left = n;
			for (int i = 0; i < n; i++) {
				kube_http_opts_t o = {0};
				o.url = urls[i];
				o.timeout_ms = 5000;
				o.max_body = 1 << 20;
				if (kube_http_start(loop, &o, raw_done, NULL, NULL) != 0)
					g_raw_left--;
			}
			while (g_raw_left > 0)
				kube_loop_run_once(loop, 100);
			base[r] = (double)(base_now_ns() - t0) / 1e6;

			/* reconcile: scrape + parse + aggregate + decide */
			double c0 = cpu_ms();
			t0 = base_now_ns();
			g_done = 0;
			ctl_scrape_opts_t so = {5000, 1 << 20, 256};
			ctl_scrape_t *s =
			        ctl_scrape_start(loop, urls, (size_t)n, &so, NULL, scraped, NULL);
			while (!g_done)
				kube_loop_run_once(loop, 100);
			size_t nres;
			const ctl_scrape_result_t *res = ctl_scrape_results(s, &nres);
			size_t ok = ctl_scrape_build_input(pods, (size_t)n, res, nres, in);
			autoscale_input_t ai = {1000.0 + r * 15.0, n, 8, in, (size_t)n};
			autoscale_decision_t d;
			autoscale_decide(&pol, st, &ai, &d);
			ctl_scrape_free(s);
			wall[r] = (double)(base_now_ns() - t0) / 1e6;
			cpu[r] = cpu_ms() - c0;
			if (ok != (size_t)n) {
				fprintf(stderr, "bench_reconcile: only %zu of %d scrapes worked\n",
				        ok, n);
				return 1;
			}
		}
		autoscale_state_free(st);
		qsort(wall, ROUNDS, sizeof(double), cmp);
		qsort(cpu, ROUNDS, sizeof(double), cmp);
		qsort(base, ROUNDS, sizeof(double), cmp);
		double w = wall[ROUNDS / 2], b = base[ROUNDS / 2];
		printf("bench=reconcile_pods pods=%d wall_ms=%.2f cpu_ms=%.2f rss_mib=%.1f "
		       "value=%.2f "
		       "unit=ms baseline=raw_fetch baseline_value=%.2f ratio=%.2f\n",
		       n, w, cpu[ROUNDS / 2], rss_mib(), w, b, b > 0 ? w / b : 0);
		fflush(stdout);
	}
	atomic_store(&g_stop, true);
	pthread_join(th, NULL);
	for (int i = 0; i < MAXPODS; i++)
		close(lfd[i]);
	kube_loop_free(loop);
	return 0;
}

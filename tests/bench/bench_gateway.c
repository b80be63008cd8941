/* Benchmarks of the gateway (docs/design.md "Benchmark output"):
 *
 *   gateway_vs_direct: closed-loop FC 3 reads at the same client concurrency,
 *     straight to mcp-devsim (zero service time) and through mcp-worker in
 *     front of it; throughput ratio gateway/direct, p50/p99 of both.
 *   gateway_added_p99_half_load: both paced at half the direct throughput
 *     (half the median of the rounds' direct maxima, so one lucky or unlucky
 *     round does not set the load); value = gateway p99 - direct p99
 *     (microseconds).
 *   gateway_added_p99_half_gateway_load: the same at half the gateway's own
 *     maximum (the gateway at half its capacity, the direct path at about a
 *     quarter of its own).
 *     For both: the machine is shared, so background load drifts: each
 *     round alternates short direct and gateway slices and pools each side's
 *     samples, so both see the same background. Client send times are
 *     spread evenly over the pacing interval (no synchronised bursts of
 *     CONNS requests, which no real set of clients produces).
 *   gateway_cpu_per_request: CPU time (user + system, from /proc and
 *     getrusage) per request during the full-load runs, of the worker, the
 *     device simulator and the client threads, against the device and the
 *     clients direct. On a machine the clients, device and gateway share,
 *     throughput is bounded by CPU, so gateway_vs_direct is about the inverse
 *     of this ratio, and it tells how busy "half load" leaves the machine.
 *   gateway_pooled_vs_connect_per_request: the pooled worker against the same
 *     worker with --connect-per-request; throughput ratio.
 *
 * Spawns build/bin programs from $MCP_BIN on a random 127.2.x.y address;
 * rounds alternate the variants and the median of the rounds is printed.
 * The workers run their default --threads (a loop per usable CPU), printed
 * as threads= on the first line. */
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "mbap/link.h"
#include "mbap/mbap.h"
#include "../lib/bench_util.h"

#define CONNS       16
#define ROUNDS      5
#define RUN_MS      1500
#define HALF_SLICES 6 /* per round and side, alternating direct/gateway */
#define SLICE_MS    250

typedef struct {
	pid_t pid;
	char addr[80];
	int threads; /* mcp-worker's event loops (its listening line) */
} proc_t;

static char host[32];

/* Starts MCP_BIN/prog with args; waits for its "event=listening" line and
 * copies the addr= field. */
static int spawn(const char *prog, char *const extra[], proc_t *p)
{
	const char *bin = getenv("MCP_BIN");
	char path[1024];
	int pfd[2];
	char *argv[32];
	int n = 0;
	FILE *f;
	char line[1024];
	if (bin == NULL) {
		fprintf(stderr, "bench_gateway: MCP_BIN is not set\n");
		return -1;
	}
	snprintf(path, sizeof(path), "%s/%s", bin, prog);
	argv[n++] = path;
	for (int i = 0; extra[i] && n < 31; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	if (pipe(pfd) != 0)
		return -1;
	p->pid = fork();
	if (p->pid < 0)
		return -1;
	if (p->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM); /* a killed bench leaves nothing running */
		dup2(pfd[1], 2);
		close(pfd[0]);
		close(pfd[1]);
		execv(path, argv);
		_exit(127);
	}
	close(pfd[1]);
	f = fdopen(pfd[0], "r");
	while (f && fgets(line, sizeof(line), f)) {
		char *a;
		if (strstr(line, "event=listening") == NULL)
			continue;
		a = strstr(line, " threads=");
		if (a != NULL)
			p->threads = atoi(a + 9);
		a = strstr(line, " addr=");
		if (a == NULL)
			break;
		a += 6;
		a[strcspn(a, " \n")] = '\0';
		snprintf(p->addr, sizeof(p->addr), "%s", a);
		/* Keep draining its stderr in the background so it never blocks. */
		if (fork() == 0) {
			char sink[4096];
			while (fread(sink, 1, sizeof(sink), f) > 0)
				;
			_exit(0);
		}
		fclose(f);
		return 0;
	}
	if (f)
		fclose(f);
	fprintf(stderr, "bench_gateway: %s did not start\n", prog);
	return -1;
}

static void stop(proc_t *p)
{
	if (p->pid > 0) {
		kill(p->pid, SIGTERM);
		waitpid(p->pid, NULL, 0);
		p->pid = 0;
	}
}

/* CPU time (user + system) a process has used, in microseconds; -1 when
 * its /proc entry cannot be read. Clock-tick resolution (10 ms): the runs
 * are long enough (1.5 s, tens of thousands of requests) for that. */
static int64_t proc_cpu_us(pid_t pid)
{
	char path[64], buf[1024];
	FILE *f;
	size_t n;
	unsigned long long ut, st;
	const char *p;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* the name may hold spaces; fields follow it */
	if (p == NULL ||
	    sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	return (int64_t)((ut + st) * 1000000ULL / (unsigned long long)sysconf(_SC_CLK_TCK));
}

/* This process's CPU time (the client threads), in microseconds. */
static int64_t self_cpu_us(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (int64_t)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec +
	       (int64_t)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec;
}

/* CPU per request of each party over one run (microseconds). */
typedef struct {
	double worker, device, clients;
} cpu_t;

typedef struct {
	int64_t worker, device, clients;
} cpu_mark_t;

static cpu_mark_t cpu_mark(const proc_t *gw, const proc_t *dev)
{
	cpu_mark_t m = {gw ? proc_cpu_us(gw->pid) : 0, proc_cpu_us(dev->pid), self_cpu_us()};
	return m;
}

static cpu_t cpu_per_req(cpu_mark_t a, cpu_mark_t b, double requests)
{
	cpu_t c = {0};
	if (requests > 0) {
		c.worker = (double)(b.worker - a.worker) / requests;
		c.device = (double)(b.device - a.device) / requests;
		c.clients = (double)(b.clients - a.clients) / requests;
	}
	return c;
}

typedef struct {
	struct sockaddr_in sa;
	int64_t end_ns;
	int64_t interval_ns; /* pacing; 0 = as fast as possible */
	int64_t phase_ns;    /* first send this late (spreads paced clients) */
	uint32_t *lat_us;
	size_t n, cap;
	int errors;
} client_t;

static void *client_main(void *arg)
{
	client_t *c = arg;
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	uint8_t req[12] = {0, 0, 0, 0, 0, 6, 1, 3, 0, 0, 0, 10};
	uint8_t rep[MBAP_MAX_ADU];
	uint16_t tid = 0;
	int64_t next = base_now_ns() + c->phase_ns;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&c->sa, sizeof(c->sa)) != 0) {
		c->errors++;
		close(fd);
		return NULL;
	}
	while (base_now_ns() < c->end_ns) {
		int64_t t0;
		size_t rn;
		if (c->interval_ns > 0) {
			struct timespec ts;
			next += c->interval_ns;
			int64_t wait = next - base_now_ns();
			if (wait > 0) {
				ts.tv_sec = wait / 1000000000;
				ts.tv_nsec = wait % 1000000000;
				nanosleep(&ts, NULL);
			}
		}
		mbap_set_tid(req, ++tid);
		t0 = base_now_ns();
		if (mbap_link_exchange(fd, req, sizeof(req), rep, sizeof(rep), &rn,
		                       t0 + 2000000000LL) != 0 ||
		    mbap_is_exception(rep, rn, NULL)) {
			c->errors++;
			break;
		}
		if (c->n == c->cap) {
			size_t nc = c->cap ? c->cap * 2 : 65536;
			uint32_t *nl = realloc(c->lat_us, nc * sizeof(*nl));
			if (nl == NULL)
				break;
			c->lat_us = nl;
			c->cap = nc;
		}
		c->lat_us[c->n++] = (uint32_t)((base_now_ns() - t0) / 1000);
	}
	close(fd);
	return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

typedef struct {
	double rps, p50, p99;
	size_t samples;
	int errors;
} result_t;

/* Latency samples (us) pooled over one or more runs. */
typedef struct {
	uint32_t *v;
	size_t n, cap;
} lat_t;

static void lat_add(lat_t *l, const uint32_t *v, size_t n)
{
	if (l->n + n > l->cap) {
		size_t nc = l->cap ? l->cap : 65536;
		uint32_t *nv;
		while (nc < l->n + n)
			nc *= 2;
		nv = realloc(l->v, nc * sizeof(*nv));
		if (nv == NULL)
			return;
		l->v = nv;
		l->cap = nc;
	}
	if (n)
		memcpy(l->v + l->n, v, n * sizeof(*v));
	l->n += n;
}

static void lat_stats(lat_t *l, result_t *r)
{
	r->samples = l->n;
	if (l->n == 0)
		return;
	qsort(l->v, l->n, sizeof(*l->v), cmp_u32);
	r->p50 = l->v[l->n / 2];
	r->p99 = l->v[(size_t)((double)l->n * 0.99)];
}

/* Runs CONNS closed-loop clients against addr for ms milliseconds and adds
 * their latencies to acc. rate_total > 0 paces them (evenly phased). */
static result_t run_into(const char *addr, double rate_total, int ms, lat_t *acc)
{
	client_t cs[CONNS];
	pthread_t th[CONNS];
	result_t r = {0};
	size_t total = 0;
	char h[64];
	const char *colon = strrchr(addr, ':');
	int64_t start = base_now_ns();
	snprintf(h, sizeof(h), "%.*s", (int)(colon - addr), addr);
	for (int i = 0; i < CONNS; i++) {
		memset(&cs[i], 0, sizeof(cs[i]));
		cs[i].sa.sin_family = AF_INET;
		cs[i].sa.sin_port = htons((uint16_t)strtol(colon + 1, NULL, 10));
		inet_pton(AF_INET, h, &cs[i].sa.sin_addr);
		cs[i].end_ns = start + ms * 1000000LL;
		cs[i].interval_ns = rate_total > 0 ? (int64_t)(1e9 * CONNS / rate_total) : 0;
		cs[i].phase_ns = cs[i].interval_ns * i / CONNS;
		pthread_create(&th[i], NULL, client_main, &cs[i]);
	}
	for (int i = 0; i < CONNS; i++) {
		pthread_join(th[i], NULL);
		total += cs[i].n;
		r.errors += cs[i].errors;
		lat_add(acc, cs[i].lat_us, cs[i].n);
		free(cs[i].lat_us);
	}
	r.rps = (double)total / (ms / 1000.0);
	return r;
}

/* One run of RUN_MS with its own statistics. */
static result_t run(const char *addr, double rate_total)
{
	lat_t l = {0};
	result_t r = run_into(addr, rate_total, RUN_MS, &l);
	lat_stats(&l, &r);
	free(l.v);
	return r;
}

/* Added p99 at one paced rate: ROUNDS rounds, each alternating
 * HALF_SLICES direct and gateway slices and pooling each side's samples;
 * medians over the rounds. Returns the client errors. */
typedef struct {
	double p99, direct_p99, added;
	size_t min_samples;
} half_load_t;

static int added_p99(const proc_t *dev, const proc_t *gw, double rate, half_load_t *out)
{
	double hd99[ROUNDS], hg99[ROUNDS], added[ROUNDS];
	int errors = 0;
	out->min_samples = SIZE_MAX;
	for (int i = 0; i < ROUNDS; i++) {
		lat_t ld = {0}, lg = {0};
		result_t hd = {0}, hg = {0};
		for (int k = 0; k < HALF_SLICES; k++) {
			/* Alternate which side goes first, so neither always
			 * follows the other. */
			bool dev_first = (k + i) % 2 == 0;
			result_t a = run_into(dev_first ? dev->addr : gw->addr, rate, SLICE_MS,
			                      dev_first ? &ld : &lg);
			result_t b = run_into(dev_first ? gw->addr : dev->addr, rate, SLICE_MS,
			                      dev_first ? &lg : &ld);
			errors += a.errors + b.errors;
		}
		lat_stats(&ld, &hd);
		lat_stats(&lg, &hg);
		free(ld.v);
		free(lg.v);
		hd99[i] = hd.p99;
		hg99[i] = hg.p99;
		added[i] = hg.p99 - hd.p99;
		size_t samples = hg.samples < hd.samples ? hg.samples : hd.samples;
		if (samples < out->min_samples)
			out->min_samples = samples;
	}
	out->p99 = bench_median(hg99, ROUNDS);
	out->direct_p99 = bench_median(hd99, ROUNDS);
	out->added = bench_median(added, ROUNDS);
	return errors;
}

int main(void)
{
	proc_t dev = {0}, gw = {0}, cpr = {0};
	char listen[64], devarg[96];
	double dr[ROUNDS], gr[ROUNDS], ratio[ROUNDS], dp50[ROUNDS], dp99[ROUNDS], gp50[ROUNDS],
	        gp99[ROUNDS], pr[ROUNDS], cr[ROUNDS], pratio[ROUNDS], tmp[ROUNDS];
	/* CPU per request at full load (us): worker, device and clients through
	 * the gateway; device and clients direct. */
	double cpu_w[ROUNDS], cpu_gd[ROUNDS], cpu_gc[ROUNDS], cpu_dd[ROUNDS], cpu_dc[ROUNDS];
	double half, half_gw;
	half_load_t hl, hdl;
	int errors = 0;
	srand((unsigned)base_now_ns());
	snprintf(host, sizeof(host), "127.2.%d.%d", rand() % 256, rand() % 250 + 2);
	snprintf(listen, sizeof(listen), "%s:0", host);
	signal(SIGPIPE, SIG_IGN);

	char *dargs[] = {"--listen", listen, "--max-connections", "200", NULL};
	if (spawn("mcp-devsim", dargs, &dev) != 0)
		return 1;
	snprintf(devarg, sizeof(devarg), "%s", dev.addr);
	/* Same device concurrency in both modes: 16 connections (pooled) or
	 * up to 16 connects at once (connect-per-request). */
	char *gargs[] = {"--listen", listen,        "--http", listen, "--device",
	                 devarg,     "--pool-size", "16",     NULL};
	char *cargs[] = {"--listen",
	                 listen,
	                 "--http",
	                 listen,
	                 "--device",
	                 devarg,
	                 "--connect-per-request",
	                 "--pool-size",
	                 "16",
	                 NULL};
	if (spawn("mcp-worker", gargs, &gw) != 0 || spawn("mcp-worker", cargs, &cpr) != 0) {
		stop(&gw);
		stop(&dev);
		return 1;
	}
	base_sleep_ms(500); /* let the pool open its connections */
	run(gw.addr, 0);    /* warm-up */

	for (int i = 0; i < ROUNDS; i++) {
		cpu_mark_t m0 = cpu_mark(NULL, &dev);
		result_t d = run(dev.addr, 0);
		cpu_mark_t m1 = cpu_mark(&gw, &dev);
		result_t g = run(gw.addr, 0);
		cpu_mark_t m2 = cpu_mark(&gw, &dev);
		cpu_t cd = cpu_per_req(m0, m1, d.rps * RUN_MS / 1000.0);
		cpu_t cg = cpu_per_req(m1, m2, g.rps * RUN_MS / 1000.0);
		result_t p = run(gw.addr, 0);
		result_t c = run(cpr.addr, 0);
		errors += d.errors + g.errors + p.errors + c.errors;
		dr[i] = d.rps;
		gr[i] = g.rps;
		ratio[i] = d.rps > 0 ? g.rps / d.rps : 0;
		dp50[i] = d.p50;
		dp99[i] = d.p99;
		gp50[i] = g.p50;
		gp99[i] = g.p99;
		pr[i] = p.rps;
		cr[i] = c.rps;
		pratio[i] = c.rps > 0 ? p.rps / c.rps : 0;
		cpu_w[i] = cg.worker;
		cpu_gd[i] = cg.device;
		cpu_gc[i] = cg.clients;
		cpu_dd[i] = cd.device;
		cpu_dc[i] = cd.clients;
	}
	memcpy(tmp, dr, sizeof(tmp));
	half = bench_median(tmp, ROUNDS) / 2;
	memcpy(tmp, gr, sizeof(tmp));
	half_gw = bench_median(tmp, ROUNDS) / 2;
	errors += added_p99(&dev, &gw, half_gw, &hl);
	errors += added_p99(&dev, &gw, half, &hdl);
	stop(&gw);
	stop(&cpr);
	stop(&dev);
	printf("bench=gateway_vs_direct connections=%d rounds=%d threads=%d p50_us=%.0f "
	       "p99_us=%.0f "
	       "direct_p50_us=%.0f direct_p99_us=%.0f value=%.0f unit=req/s baseline=direct "
	       "baseline_value=%.0f ratio=%.2f\n",
	       CONNS, ROUNDS, gw.threads, bench_median(gp50, ROUNDS), bench_median(gp99, ROUNDS),
	       bench_median(dp50, ROUNDS), bench_median(dp99, ROUNDS), bench_median(gr, ROUNDS),
	       bench_median(dr, ROUNDS), bench_median(ratio, ROUNDS));
	double mw = bench_median(cpu_w, ROUNDS), mgd = bench_median(cpu_gd, ROUNDS),
	       mgc = bench_median(cpu_gc, ROUNDS), mdd = bench_median(cpu_dd, ROUNDS),
	       mdc = bench_median(cpu_dc, ROUNDS);
	printf("bench=gateway_cpu_per_request connections=%d rounds=%d worker_us=%.1f "
	       "device_us=%.1f clients_us=%.1f direct_device_us=%.1f direct_clients_us=%.1f "
	       "value=%.1f unit=us baseline=direct baseline_value=%.1f ratio=%.2f\n",
	       CONNS, ROUNDS, mw, mgd, mgc, mdd, mdc, mw + mgd + mgc, mdd + mdc,
	       mdd + mdc > 0 ? (mw + mgd + mgc) / (mdd + mdc) : 0);
	printf("bench=gateway_added_p99_half_load connections=%d rounds=%d rate=%.0f "
	       "samples_min=%zu p99_us=%.0f direct_p99_us=%.0f value=%.0f unit=us\n",
	       CONNS, ROUNDS, half, hdl.min_samples, hdl.p99, hdl.direct_p99, hdl.added);
	printf("bench=gateway_added_p99_half_gateway_load connections=%d rounds=%d rate=%.0f "
	       "samples_min=%zu p99_us=%.0f direct_p99_us=%.0f value=%.0f unit=us\n",
	       CONNS, ROUNDS, half_gw, hl.min_samples, hl.p99, hl.direct_p99, hl.added);
	printf("bench=gateway_pooled_vs_connect_per_request connections=%d rounds=%d value=%.0f "
	       "unit=req/s baseline=connect_per_request baseline_value=%.0f ratio=%.2f\n",
	       CONNS, ROUNDS, bench_median(pr, ROUNDS), bench_median(cr, ROUNDS),
	       bench_median(pratio, ROUNDS));
	if (errors)
		fprintf(stderr, "bench_gateway: %d client errors\n", errors);
	return errors ? 1 : 0;
}

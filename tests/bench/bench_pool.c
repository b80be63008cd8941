/* Benchmarks for pkg/mcppool (output format: DESIGN.md "Benchmark output").
 *
 * pool_acquire_release: ns per acquire+release pair, as wall time divided by
 *   the operations of all threads (inverse throughput), for the pool and for
 *   the textbook pool (one mutex, one condition variable, an array of free
 *   items) in the same run, alternating in every round. The pool holds 8
 *   connections to a local libmodbus server, so no borrower ever waits: this
 *   measures the fast path and the lock contention around it. keepalive is
 *   high so no validation read happens in the loop. mode=uncontended is the
 *   main thread alone; mode=threads runs N threads.
 * pool_vs_connect_per_request: FC3 requests/s through the pool versus
 *   opening a new libmodbus connection per request, against the same local
 *   server, same thread count.
 *
 * Each figure is the median of ROUNDS rounds. value is wall time per op (the
 * figure the targets are about); cpu_ns is the CPU time per op summed over
 * the threads, which shows what an op costs when the shared machine's load
 * (other engineers' builds) distorts the wall time. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/pool_modbus_server.h"
#include "base/clock.h"
#include "base/log.h"
#include "mcppool/pool.h"
#include "../lib/bench_util.h"

#define ROUNDS     5
#define POOL_CONNS 8

/* ---- the baseline: textbook mutex + condvar pool ----------------------------- */

typedef struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	void *items[POOL_CONNS];
	int n;
} naive_pool_t;

static void naive_init(naive_pool_t *np)
{
	static int dummy[POOL_CONNS];
	pthread_mutex_init(&np->mu, NULL);
	pthread_cond_init(&np->cv, NULL);
	for (int i = 0; i < POOL_CONNS; i++)
		np->items[i] = &dummy[i];
	np->n = POOL_CONNS;
}

static void *naive_acquire(naive_pool_t *np)
{
	pthread_mutex_lock(&np->mu);
	while (np->n == 0)
		pthread_cond_wait(&np->cv, &np->mu);
	void *it = np->items[--np->n];
	pthread_mutex_unlock(&np->mu);
	return it;
}

static void naive_release(naive_pool_t *np, void *it)
{
	pthread_mutex_lock(&np->mu);
	np->items[np->n++] = it;
	pthread_cond_signal(&np->cv);
	pthread_mutex_unlock(&np->mu);
}

/* ---- acquire/release loop ------------------------------------------------------ */

struct loop_arg {
	mcppool_t *pool;     /* or */
	naive_pool_t *naive; /* this */
	long ops;
	_Atomic int *go;
	int failed;
	int64_t cpu_ns; /* this thread's CPU time in the loop */
};

static int64_t thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void *loop_main(void *v)
{
	struct loop_arg *a = v;
	while (!atomic_load(a->go)) {
	}
	int64_t c0 = thread_cpu_ns();
	if (a->pool != NULL) {
		for (long i = 0; i < a->ops; i++) {
			mcppool_conn_t *c;
			if (mcppool_acquire(a->pool, 1000, NULL, &c) != 0) {
				a->failed = 1;
				break;
			}
			mcppool_release(a->pool, c, MCPPOOL_OK);
		}
	} else {
		for (long i = 0; i < a->ops; i++)
			naive_release(a->naive, naive_acquire(a->naive));
	}
	a->cpu_ns = thread_cpu_ns() - c0;
	return NULL;
}

/* Wall-clock ns per op (the figure), and in *cpu the CPU time per op summed
 * over the threads (what an op costs, whatever else the machine runs);
 * threads == 0 means the calling thread alone. */
static double run_loop(mcppool_t *pool, naive_pool_t *naive, int threads, long total_ops,
                       double *cpu)
{
	_Atomic int go = 0;
	int n = threads == 0 ? 1 : threads;
	struct loop_arg args[8];
	pthread_t th[8];
	for (int i = 0; i < n; i++)
		args[i] = (struct loop_arg){pool, naive, total_ops / n, &go, 0, 0};
	if (threads == 0) {
		atomic_store(&go, 1);
		int64_t t0 = base_now_ns();
		loop_main(&args[0]);
		int64_t t1 = base_now_ns();
		if (args[0].failed) {
			fprintf(stderr, "bench_pool: acquire failed\n");
			exit(1);
		}
		if (cpu != NULL)
			*cpu = (double)args[0].cpu_ns / (double)args[0].ops;
		return (double)(t1 - t0) / (double)args[0].ops;
	}
	for (int i = 0; i < n; i++)
		pthread_create(&th[i], NULL, loop_main, &args[i]);
	base_sleep_ms(5);
	int64_t t0 = base_now_ns();
	atomic_store(&go, 1);
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	int64_t t1 = base_now_ns();
	int64_t cpu_sum = 0;
	for (int i = 0; i < n; i++) {
		if (args[i].failed) {
			fprintf(stderr, "bench_pool: acquire failed\n");
			exit(1);
		}
		cpu_sum += args[i].cpu_ns;
	}
	if (cpu != NULL)
		*cpu = (double)cpu_sum / (double)(args[0].ops * n);
	return (double)(t1 - t0) / (double)(args[0].ops * n);
}

/* ---- pooled vs connect-per-request ------------------------------------------------- */

struct req_arg {
	mcppool_t *pool; /* NULL: connect per request */
	const pool_mbsrv_t *srv;
	int64_t until_ns;
	long done;
	long errors;
};

static void *req_main(void *v)
{
	struct req_arg *a = v;
	uint16_t reg;
	while (base_now_ns() < a->until_ns) {
		if (a->pool != NULL) {
			mcppool_conn_t *c;
			if (mcppool_acquire(a->pool, 1000, NULL, &c) != 0) {
				a->errors++;
				continue;
			}
			int rc = modbus_read_registers(mcppool_conn_modbus(c), 5, 1, &reg);
			mcppool_release(a->pool, c, rc == 1 ? MCPPOOL_OK : MCPPOOL_BROKEN_IO);
			if (rc == 1)
				a->done++;
			else
				a->errors++;
		} else {
			modbus_t *ctx =
			        modbus_new_tcp(pool_mbsrv_host(a->srv), pool_mbsrv_port(a->srv));
			int rc = -1;
			if (ctx != NULL) {
				modbus_set_response_timeout(ctx, 1, 0);
				if (modbus_connect(ctx) == 0)
					rc = modbus_read_registers(ctx, 5, 1, &reg);
				modbus_close(ctx);
				modbus_free(ctx);
			}
			if (rc == 1)
				a->done++;
			else
				a->errors++;
		}
	}
	return NULL;
}

static double run_requests(mcppool_t *pool, const pool_mbsrv_t *srv, int threads, int ms)
{
	pthread_t th[8];
	struct req_arg a[8];
	int64_t t0 = base_now_ns();
	for (int i = 0; i < threads; i++) {
		a[i] = (struct req_arg){pool, srv, t0 + (int64_t)ms * 1000000LL, 0, 0};
		pthread_create(&th[i], NULL, req_main, &a[i]);
	}
	long done = 0;
	for (int i = 0; i < threads; i++) {
		pthread_join(th[i], NULL);
		done += a[i].done;
	}
	double secs = (double)(base_now_ns() - t0) / 1e9;
	return (double)done / secs;
}

int main(void)
{
	pool_mbsrv_t *srv;
	mcppool_config_t c;
	mcppool_t *pool;
	char err[256];

	base_log_set_level(BASE_LOG_ERROR);
	if (pool_mbsrv_start(&srv) != 0)
		return 1;
	mcppool_config_default(&c);
	snprintf(c.host, sizeof(c.host), "%s", pool_mbsrv_host(srv));
	c.port = pool_mbsrv_port(srv);
	c.size = POOL_CONNS;
	c.max_size = POOL_CONNS;
	c.keepalive_ms = 3600000; /* no validation in the loop */
	c.leak_threshold_ms = 0;
	mcppool_t *coarse;
	if (mcppool_new(&c, &pool, err, sizeof(err)) != 0) {
		fprintf(stderr, "bench_pool: %s\n", err);
		return 1;
	}
	c.coarse_clock = 1;
	if (mcppool_new(&c, &coarse, err, sizeof(err)) != 0) {
		fprintf(stderr, "bench_pool: %s\n", err);
		return 1;
	}
	/* Wait until every connection is open. */
	for (int i = 0; i < 500; i++) {
		mcppool_stats_t s, s2;
		mcppool_stats(pool, &s);
		mcppool_stats(coarse, &s2);
		if (s.states[MCPPOOL_IDLE] == POOL_CONNS && s2.states[MCPPOOL_IDLE] == POOL_CONNS)
			break;
		base_sleep_ms(10);
	}
	naive_pool_t naive;
	naive_init(&naive);

	const struct {
		int threads;
		int coarse;
	} runs[] = {{0, 0}, {1, 0}, {2, 0}, {4, 0}, {8, 0}, {0, 1}, {8, 1}};
	const long ops = 2000000;
	run_loop(pool, NULL, 0, ops / 4, NULL); /* warm up */
	run_loop(NULL, &naive, 0, ops / 4, NULL);
	for (size_t t = 0; t < sizeof(runs) / sizeof(runs[0]); t++) {
		double pv[ROUNDS], nv[ROUNDS], pc[ROUNDS], nc[ROUNDS];
		mcppool_t *pp = runs[t].coarse ? coarse : pool;
		for (int r = 0; r < ROUNDS; r++) {
			pv[r] = run_loop(pp, NULL, runs[t].threads, ops, &pc[r]);
			nv[r] = run_loop(NULL, &naive, runs[t].threads, ops, &nc[r]);
		}
		double p = bench_median(pv, ROUNDS), n = bench_median(nv, ROUNDS);
		double pcpu = bench_median(pc, ROUNDS), ncpu = bench_median(nc, ROUNDS);
		/* cpu_ns / baseline_cpu_ns: CPU time per op over all threads
		 * (medians), for reading runs on a loaded machine. */
		printf("bench=pool_acquire_release mode=%s clock=%s threads=%d value=%.1f unit=ns "
		       "baseline=naive_pool baseline_value=%.1f ratio=%.2f cpu_ns=%.1f "
		       "baseline_cpu_ns=%.1f\n",
		       runs[t].threads == 0 ? "uncontended" : "threads", mcppool_clock_source(pp),
		       runs[t].threads == 0 ? 1 : runs[t].threads, p, n, n / p, pcpu, ncpu);
		fflush(stdout);
	}
	mcppool_free(coarse);

	/* Pooled requests vs connect per request, 4 threads, 300 ms rounds. */
	mcppool_set_size(pool, 4);
	double pr[ROUNDS], cr[ROUNDS];
	for (int r = 0; r < ROUNDS; r++) {
		pr[r] = run_requests(pool, srv, 4, 300);
		cr[r] = run_requests(NULL, srv, 4, 300);
	}
	double p = bench_median(pr, ROUNDS), cpr = bench_median(cr, ROUNDS);
	printf("bench=pool_vs_connect_per_request threads=4 value=%.0f unit=req/s "
	       "baseline=connect_per_request baseline_value=%.0f ratio=%.2f\n",
	       p, cpr, p / cpr);
	mcppool_free(pool);
	pool_mbsrv_stop(srv);
	return 0;
}

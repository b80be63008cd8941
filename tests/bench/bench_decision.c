/* Benchmarks for pkg/autoscale and pkg/prom (output: DESIGN.md "Benchmark output").
 *   decision_pods: one autoscale_decide() with N pods (pool occupancy, queue
 *     length and P99 over 14-bucket histograms), ns per decision, decisions/s,
 *     and the per-pod cost as a ratio to 10 pods (linear growth keeps it ~1).
 *   prom_parse: parser throughput on a large exposition body, against a
 *     memchr line split of the same bytes (the floor any parser pays).
 *   prom_worker_extract: one worker /metrics body to a per-pod sample.
 * Each figure is the median of several rounds measured in this run. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autoscale/autoscale.h"
#include "base/clock.h"
#include "prom/prom.h"
#include "../lib/bench_util.h"

#define ROUNDS 7

static const double bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                0.1,    0.25,  0.5,    1,     2.5,  5,     INFINITY};

static double bench_decision(size_t npods)
{
	const char *keys[] = {"scaleTargetRef", "maxReplicas", "targetPoolOccupancy",
	                      "targetQueueLength", "targetP99Latency"};
	const char *vals[] = {"Deployment/w", "100000", "70", "4", "100ms"};
	autoscale_policy_t pol;
	autoscale_state_t *st = autoscale_state_new();
	autoscale_pod_t *pods = calloc(npods, sizeof(*pods));
	char(*names)[16] = calloc(npods, sizeof(*names));
	char err[512];
	double rounds[ROUNDS];
	size_t iters = 2000000 / npods + 5;
	double t = 0;

	if (st == NULL || pods == NULL || names == NULL ||
	    autoscale_policy_parse(keys, vals, 5, &pol, err, sizeof(err)) != 0) {
		fprintf(stderr, "bench_decision: setup failed: %s\n", err);
		exit(1);
	}
	for (size_t i = 0; i < npods; i++) {
		autoscale_pod_t *p = &pods[i];
		double cum = 0;
		snprintf(names[i], sizeof(names[i]), "w-%zu", i % 1000000);
		p->name = names[i];
		p->phase = AUTOSCALE_POD_RUNNING;
		p->ready = true;
		p->has_start_time = true;
		p->start_time = -3600;
		p->has_metrics = true;
		p->metrics.pool_size = 8;
		p->metrics.pool_in_use = (double)(i % 8);
		p->metrics.waiters = (double)(i % 3);
		for (size_t b = 0; b < sizeof(bounds) / sizeof(bounds[0]); b++) {
			cum += 10 + (double)(i % 7);
			(void)prom_worker_add_bucket(&p->metrics, bounds[b], cum);
		}
	}
	for (int r = 0; r < ROUNDS; r++) {
		int64_t t0 = base_now_ns();
		for (size_t k = 0; k < iters; k++) {
			autoscale_input_t in = {.now = t,
			                        .current_replicas =
			                                (int32_t)(npods < 100000 ? npods : 100000),
			                        .current_pool_size = 8,
			                        .pods = pods,
			                        .npods = npods};
			autoscale_decision_t d;
			t += 15;
			/* counters advance so every round has real deltas */
			for (size_t i = 0; i < npods; i++)
				pods[i].metrics.buckets[pods[i].metrics.nbuckets - 1].count += 1;
			if (autoscale_decide(&pol, st, &in, &d) != 0) {
				fprintf(stderr, "bench_decision: decide failed: %s\n", d.reason);
				exit(1);
			}
		}
		rounds[r] = (double)(base_now_ns() - t0) / (double)iters;
	}
	autoscale_state_free(st);
	free(pods);
	free(names);
	return bench_median(rounds, ROUNDS);
}

static char *make_body(size_t target, size_t *len)
{
	size_t cap = target + 4096, n = 0;
	char *b = malloc(cap);
	int fam = 0;
	if (b == NULL)
		exit(1);
	while (n < target) {
		n += (size_t)snprintf(b + n, cap - n,
		                      "# HELP fam_%d_seconds A histogram family.\n"
		                      "# TYPE fam_%d_seconds histogram\n",
		                      fam, fam);
		for (int i = 0; i < 40 && n < target; i++)
			n += (size_t)snprintf(
			        b + n, cap - n,
			        "fam_%d_seconds_bucket{pod=\"mcp-worker-%d\",result=\"ok\","
			        "le=\"%g\"} %d\n",
			        fam, i / 14, bounds[i % 14], 1000 + i * 37);
		fam++;
	}
	*len = n;
	return b;
}

static int nop_cb(const prom_sample_t *s, void *ud)
{
	(*(size_t *)ud)++;
	(void)s;
	return 0;
}

static void bench_prom(void)
{
	size_t len, sink = 0;
	char *body = make_body(4u << 20, &len);
	double pr[ROUNDS], br[ROUNDS];
	char err[256];
	for (int r = 0; r < ROUNDS; r++) {
		int64_t t0 = base_now_ns();
		const char *p = body, *end = body + len;
		size_t lines = 0;
		if (prom_parse(body, len, 64u << 20, nop_cb, &sink, err, sizeof(err)) != 0) {
			fprintf(stderr, "bench prom_parse: %s\n", err);
			exit(1);
		}
		pr[r] = (double)len / 1e6 / ((double)(base_now_ns() - t0) / 1e9);
		t0 = base_now_ns();
		while (p < end) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			lines++;
			p = nl ? nl + 1 : end;
		}
		sink += lines;
		br[r] = (double)len / 1e6 / ((double)(base_now_ns() - t0) / 1e9);
	}
	{
		double p = bench_median(pr, ROUNDS), b = bench_median(br, ROUNDS);
		printf("bench=prom_parse bytes=%zu value=%.1f unit=MB/s baseline=memchr_lines "
		       "baseline_value=%.1f ratio=%.3f\n",
		       len, p, b, p / b);
	}
	free(body);
	{
		/* one worker scrape, as the controller does per pod */
		char w[4096];
		size_t n = 0, it = 20000;
		double er[ROUNDS];
		prom_worker_metrics_t m;
		n += (size_t)snprintf(w + n, sizeof(w) - n,
		                      "# TYPE mcp_pool_size gauge\nmcp_pool_size 8\n"
		                      "mcp_pool_target_size 8\n"
		                      "mcp_pool_connections{state=\"idle\"} 2\n"
		                      "mcp_pool_connections{state=\"in_use\"} 6\n"
		                      "mcp_pool_connections{state=\"connecting\"} 0\n"
		                      "mcp_pool_connections{state=\"broken\"} 0\n"
		                      "mcp_pool_waiters 3\n"
		                      "# TYPE mcp_request_duration_seconds histogram\n");
		for (size_t b = 0; b < 14; b++) {
			if (isinf(bounds[b]))
				n += (size_t)snprintf(
				        w + n, sizeof(w) - n,
				        "mcp_request_duration_seconds_bucket{le=\"+Inf\"} "
				        "%zu\n",
				        1000 + b * 10);
			else
				n += (size_t)snprintf(
				        w + n, sizeof(w) - n,
				        "mcp_request_duration_seconds_bucket{le=\"%g\"} "
				        "%zu\n",
				        bounds[b], 1000 + b * 10);
		}
		n += (size_t)snprintf(w + n, sizeof(w) - n,
		                      "mcp_request_duration_seconds_sum 12.5\n"
		                      "mcp_request_duration_seconds_count 1130\n"
		                      "mcp_requests_total{result=\"ok\"} 1100\n"
		                      "mcp_requests_total{result=\"timeout\"} 30\n"
		                      "mcp_client_connections 12\nmcp_device_up 1\n");
		for (int r = 0; r < ROUNDS; r++) {
			int64_t t0 = base_now_ns();
			for (size_t k = 0; k < it; k++) {
				if (prom_worker_extract(w, n, 0, &m, err, sizeof(err)) != 0) {
					fprintf(stderr, "bench extract: %s\n", err);
					exit(1);
				}
			}
			er[r] = (double)(base_now_ns() - t0) / (double)it;
		}
		printf("bench=prom_worker_extract bytes=%zu value=%.0f unit=ns\n", n,
		       bench_median(er, ROUNDS));
	}
	if (sink == 0)
		printf("# (sink %zu)\n", sink);
}

int main(void)
{
	static const size_t sizes[] = {10, 100, 1000, 10000};
	double base_per_pod = 0;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		double ns = bench_decision(sizes[i]);
		double per_pod = ns / (double)sizes[i];
		if (i == 0)
			base_per_pod = per_pod;
		printf("bench=decision_pods pods=%zu value=%.0f unit=ns decisions_per_s=%.0f "
		       "ns_per_pod=%.1f baseline=pods_10 baseline_value=%.1f ratio=%.2f\n",
		       sizes[i], ns, 1e9 / ns, per_pod, base_per_pod, per_pod / base_per_pod);
		fflush(stdout);
	}
	bench_prom();
	return 0;
}

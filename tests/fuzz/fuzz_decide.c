/* libFuzzer harness: the decision engine on arbitrary pod sets and clocks.
 * Invariants: no crash; a decision is always written; when a decision is
 * made (replicas > 0 or minReplicas 0) it lies within [minReplicas,
 * maxReplicas] and replicas x pool within the connection budget. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "autoscale/autoscale.h"

static double byte_val(const uint8_t **p, const uint8_t *end, double scale)
{
	if (*p >= end)
		return 0;
	return (double)*(*p)++ * scale;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *keys[] = {"scaleTargetRef",
	                             "minReplicas",
	                             "maxReplicas",
	                             "poolMinSize",
	                             "poolMaxSize",
	                             "connectionBudget",
	                             "targetPoolOccupancy",
	                             "targetQueueLength",
	                             "targetP99Latency",
	                             "targetCPUUtilization",
	                             "burstThreshold",
	                             "fallbackReplicas",
	                             "fallbackFailureThreshold"};
	static const char *vals[] = {"Deployment/w", "2",  "20", "2", "16", "120", "70", "3",
	                             "100ms",        "60", "2",  "3", "2"};
	autoscale_policy_t pol;
	autoscale_state_t *st;
	autoscale_pod_t pods[16];
	char names[16][8];
	const uint8_t *p = data, *end = data + size;
	double now = 0;
	char err[512];

	if (autoscale_policy_parse(keys, vals, 13, &pol, err, sizeof(err)) != 0)
		__builtin_trap();
	st = autoscale_state_new();
	if (st == NULL)
		return 0;
	for (int round = 0; round < 8 && p < end; round++) {
		autoscale_input_t in;
		autoscale_decision_t d;
		size_t n = (size_t)(byte_val(&p, end, 1)) % 17;
		memset(&in, 0, sizeof(in));
		now += byte_val(&p, end, 1);
		in.now = now;
		in.current_replicas = (int32_t)byte_val(&p, end, 1) % 30;
		in.current_pool_size = (int32_t)byte_val(&p, end, 1) % 20;
		for (size_t i = 0; i < n; i++) {
			autoscale_pod_t *x = &pods[i];
			uint8_t f = (uint8_t)byte_val(&p, end, 1);
			memset(x, 0, sizeof(*x));
			names[i][0] = 'p';
			names[i][1] = (char)('a' + (byte_val(&p, end, 1) == 0 ? 0 : (int)(i % 20)));
			names[i][2] = '\0';
			x->name = names[i];
			x->phase = (autoscale_phase_t)(f % 5);
			x->ready = f & 8;
			x->deleted = (f & 0x30) == 0x30;
			x->has_start_time = f & 64;
			x->start_time = now - byte_val(&p, end, 4);
			x->has_metrics = f & 128;
			x->metrics.pool_size = byte_val(&p, end, 0.1);
			x->metrics.pool_in_use = byte_val(&p, end, 0.1);
			x->metrics.waiters = byte_val(&p, end, 0.5);
			x->metrics.has_cpu = f & 16;
			x->metrics.cpu_millicores = byte_val(&p, end, 10);
			x->metrics.cpu_request_millicores = byte_val(&p, end, 10);
			{
				size_t nb = (size_t)byte_val(&p, end, 1) % 6;
				double cum = 0;
				for (size_t b = 0; b < nb; b++) {
					cum += byte_val(&p, end, 1);
					(void)prom_worker_add_bucket(
					        &x->metrics,
					        b + 1 == nb ? INFINITY : 0.01 * (double)(b + 1),
					        cum);
				}
			}
		}
		in.pods = pods;
		in.npods = n;
		if (autoscale_decide(&pol, st, &in, &d) != 0)
			continue;
		if (d.reason[0] == '\0')
			__builtin_trap();
		if (in.current_replicas > 0) {
			if (d.desired_replicas < pol.min_replicas ||
			    d.desired_replicas > pol.max_replicas)
				__builtin_trap();
			if ((int64_t)d.desired_replicas * d.desired_pool_size >
			    pol.connection_budget)
				__builtin_trap();
			if (d.desired_pool_size < pol.pool_min_size ||
			    d.desired_pool_size > pol.pool_max_size)
				__builtin_trap();
		}
		if (d.rescale)
			autoscale_commit(&pol, st, &d, in.current_replicas, now);
	}
	autoscale_state_free(st);
	return 0;
}

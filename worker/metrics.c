/* Worker metrics (names as in docs/design.md "Worker metrics") and the
 * /metrics, /healthz, /readyz handlers, run on the httpd thread. */
#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "httpd/httpd.h"
#include "worker.h"

const double worker_hist_bounds[HIST_N] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                           0.1,    0.25,  0.5,    1.0,   2.5,  5.0};

static const char *result_names[RES_COUNT] = {"ok", "exception", "timeout", "busy", "unavailable"};

void metrics_init(metrics_t *m)
{
	memset(m, 0, sizeof(*m));
	pthread_mutex_init(&m->lock, NULL);
}

void metrics_observe(metrics_t *m, result_t res, double seconds, bool timed)
{
	int b = HIST_N;
	pthread_mutex_lock(&m->lock);
	m->results[res]++;
	if (timed) {
		for (int i = 0; i < HIST_N; i++) {
			if (seconds <= worker_hist_bounds[i]) {
				b = i;
				break;
			}
		}
		m->buckets[b]++;
		m->count++;
		m->sum += seconds;
	}
	pthread_mutex_unlock(&m->lock);
}

void metrics_count(metrics_t *m, uint64_t *field)
{
	pthread_mutex_lock(&m->lock);
	(*field)++;
	pthread_mutex_unlock(&m->lock);
}

static bool device_up(worker_t *w, const mcppool_stats_t *s)
{
	if (w->pool == NULL)
		return atomic_load(&w->m.cpr_up) != 0;
	return s->breaker != MCPPOOL_BREAKER_OPEN &&
	       s->states[MCPPOOL_IDLE] + s->states[MCPPOOL_IN_USE] > 0;
}

bool worker_ready(worker_t *w)
{
	mcppool_stats_t s;
	if (atomic_load(&w->m.draining))
		return false;
	if (w->pool == NULL)
		return atomic_load(&w->m.cpr_up) != 0;
	mcppool_stats(w->pool, &s);
	return device_up(w, &s);
}

static void on_metrics(void *ctx, const char *path, httpd_reply_t *r)
{
	worker_t *w = ctx;
	metrics_t snap;
	mcppool_stats_t s;
	base_buf_t *b = &r->body;
	uint64_t cum = 0;
	static const struct {
		const char *name;
		mcppool_state_t st;
	} states[] = {{"idle", MCPPOOL_IDLE},
	              {"in_use", MCPPOOL_IN_USE},
	              {"connecting", MCPPOOL_CONNECTING},
	              {"broken", MCPPOOL_BROKEN}};

	memset(&s, 0, sizeof(s));
	if (w->pool)
		mcppool_stats(w->pool, &s);
	pthread_mutex_lock(&w->m.lock);
	memcpy(snap.results, w->m.results, sizeof(snap.results));
	memcpy(snap.buckets, w->m.buckets, sizeof(snap.buckets));
	snap.count = w->m.count;
	snap.sum = w->m.sum;
	snap.malformed = w->m.malformed;
	snap.clients_accepted = w->m.clients_accepted;
	snap.clients_retired = w->m.clients_retired;
	snap.cpr_connects = w->m.cpr_connects;
	pthread_mutex_unlock(&w->m.lock);

	r->content_type = "text/plain; version=0.0.4; charset=utf-8";
	base_buf_printf(b,
	                "# HELP mcp_pool_size Device connections open or opening.\n"
	                "# TYPE mcp_pool_size gauge\nmcp_pool_size %d\n"
	                "# HELP mcp_pool_target_size Pool size this worker was told to run.\n"
	                "# TYPE mcp_pool_target_size gauge\nmcp_pool_target_size %d\n"
	                "# HELP mcp_pool_connections Device connections by state.\n"
	                "# TYPE mcp_pool_connections gauge\n",
	                s.size, atomic_load(&w->m.target_size));
	for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
		base_buf_printf(b, "mcp_pool_connections{state=\"%s\"} %d\n", states[i].name,
		                s.states[states[i].st]);
	base_buf_printf(b,
	                "# HELP mcp_pool_waiters Requests queued for a device connection.\n"
	                "# TYPE mcp_pool_waiters gauge\nmcp_pool_waiters %d\n"
	                "# HELP mcp_request_duration_seconds Request time, queue wait plus device "
	                "time.\n# TYPE mcp_request_duration_seconds histogram\n",
	                atomic_load(&w->m.waiting));
	for (int i = 0; i < HIST_N; i++) {
		cum += snap.buckets[i];
		base_buf_printf(b, "mcp_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
		                worker_hist_bounds[i], (unsigned long long)cum);
	}
	cum += snap.buckets[HIST_N];
	base_buf_printf(b,
	                "mcp_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
	                "mcp_request_duration_seconds_sum %.9f\n"
	                "mcp_request_duration_seconds_count %llu\n"
	                "# HELP mcp_requests_total Requests answered, by result.\n"
	                "# TYPE mcp_requests_total counter\n",
	                (unsigned long long)cum, snap.sum, (unsigned long long)snap.count);
	for (int i = 0; i < RES_COUNT; i++)
		base_buf_printf(b, "mcp_requests_total{result=\"%s\"} %llu\n", result_names[i],
		                (unsigned long long)snap.results[i]);
	base_buf_printf(
	        b,
	        "# HELP mcp_client_connections Modbus client connections open.\n"
	        "# TYPE mcp_client_connections gauge\nmcp_client_connections %d\n"
	        "# HELP mcp_device_up 1 when a device connection is open and the breaker closed.\n"
	        "# TYPE mcp_device_up gauge\nmcp_device_up %d\n"
	        "# HELP mcp_pool_breaker_open 1 while the circuit breaker is open.\n"
	        "# TYPE mcp_pool_breaker_open gauge\nmcp_pool_breaker_open %d\n"
	        "# HELP mcp_client_malformed_total Clients closed for a malformed frame.\n"
	        "# TYPE mcp_client_malformed_total counter\nmcp_client_malformed_total %llu\n"
	        "# HELP mcp_client_accepted_total Client connections accepted.\n"
	        "# TYPE mcp_client_accepted_total counter\nmcp_client_accepted_total %llu\n"
	        "# HELP mcp_client_retired_total Clients closed for reaching --max-client-age.\n"
	        "# TYPE mcp_client_retired_total counter\nmcp_client_retired_total %llu\n"
	        "# HELP mcp_pool_connects_total Device connections opened.\n"
	        "# TYPE mcp_pool_connects_total counter\nmcp_pool_connects_total %llu\n"
	        "# HELP mcp_pool_connect_failures_total Device connection attempts that failed.\n"
	        "# TYPE mcp_pool_connect_failures_total counter\n"
	        "mcp_pool_connect_failures_total %llu\n",
	        atomic_load(&w->m.clients), device_up(w, &s) ? 1 : 0,
	        s.breaker == MCPPOOL_BREAKER_OPEN ? 1 : 0, (unsigned long long)snap.malformed,
	        (unsigned long long)snap.clients_accepted, (unsigned long long)snap.clients_retired,
	        (unsigned long long)(w->pool ? s.connects : snap.cpr_connects),
	        (unsigned long long)s.connect_failures);
}

static void on_healthz(void *ctx, const char *path, httpd_reply_t *r)
{
	worker_t *w = ctx;
	int64_t age_ms = (base_now_ns() - loop_heartbeat_ns(w)) / 1000000;
	/* A loop wakes at least every 250 ms; 5 s without a turn means stuck. */
	if (age_ms > 5000) {
		r->status = 503;
		base_buf_printf(&r->body, "event loop stuck for %lld ms\n", (long long)age_ms);
		return;
	}
	base_buf_appends(&r->body, "ok\n");
}

static void on_readyz(void *ctx, const char *path, httpd_reply_t *r)
{
	worker_t *w = ctx;
	if (atomic_load(&w->m.draining)) {
		r->status = 503;
		base_buf_appends(&r->body, "draining\n");
	} else if (!worker_ready(w)) {
		r->status = 503;
		base_buf_appends(&r->body, "no device connection\n");
	} else {
		base_buf_appends(&r->body, "ok\n");
	}
}

int metrics_routes(struct httpd *h, worker_t *w)
{
	if (httpd_route(h, "/metrics", on_metrics, w) != 0 ||
	    httpd_route(h, "/healthz", on_healthz, w) != 0 ||
	    httpd_route(h, "/readyz", on_readyz, w) != 0)
		return -1;
	return 0;
}

/* mcp-worker: a Modbus TCP gateway with a pool of device connections.
 * See docs/worker.md for running it against a real device. */
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "base/opt.h"
#include "httpd/httpd.h"
#include "worker.h"

#define W(f)  offsetof(worker_opts_t, f)
#define SZ(f) sizeof(((worker_opts_t *)0)->f)

static const base_opt_t opts[] = {
        {"listen", BASE_OPT_STRING, W(listen), SZ(listen), 0, 0, "127.0.0.1:5020",
         "MCP_WORKER_LISTEN", NULL,
         "Modbus TCP server address ADDR:PORT (502 in containers; port 0 picks one, logged)"},
        {"device", BASE_OPT_HOSTPORT, W(device), SZ(device), 0, 0, NULL, "MCP_WORKER_DEVICE", NULL,
         "the device (PLC) HOST:PORT behind the gateway (required)"},
        {"http", BASE_OPT_STRING, W(http), SZ(http), 0, 0, "127.0.0.1:9090", "MCP_WORKER_HTTP",
         NULL, "HTTP address ADDR:PORT for /metrics, /healthz, /readyz"},
        {"pool-size", BASE_OPT_INT, W(pool_size), SZ(pool_size), 1, 1024, "4",
         "MCP_WORKER_POOL_SIZE", NULL,
         "device connections to keep (until the file says otherwise)"},
        {"pool-size-file", BASE_OPT_STRING, W(pool_size_file), SZ(pool_size_file), 0, 0, "",
         "MCP_WORKER_POOL_SIZE_FILE", NULL,
         "file holding the pool size (mounted ConfigMap key), watched and applied live"},
        {"pool-max", BASE_OPT_INT, W(pool_max), SZ(pool_max), 1, 1024, "64", "MCP_WORKER_POOL_MAX",
         NULL, "hard cap on the pool size (sizes above it are refused)"},
        {"unit-id", BASE_OPT_INT, W(unit_id), SZ(unit_id), 0, 255, "1", "MCP_WORKER_UNIT_ID", NULL,
         "the device's unit id (used to validate pooled connections)"},
        {"unit-filter", BASE_OPT_BOOL, W(unit_filter), SZ(unit_filter), 0, 0, "false",
         "MCP_WORKER_UNIT_FILTER", NULL,
         "accept only --unit-id, 0 and 255 from clients (others get exception 0x0B)"},
        {"queue-max", BASE_OPT_INT, W(queue_max), SZ(queue_max), 1, 1000000, "1024",
         "MCP_WORKER_QUEUE_MAX", NULL, "requests waiting for a connection; beyond: exception 0x06"},
        {"request-timeout", BASE_OPT_DURATION, W(request_timeout_ms), SZ(request_timeout_ms), 1,
         600000, "1s", "MCP_WORKER_REQUEST_TIMEOUT", NULL,
         "per-request deadline from arrival (queue wait + device time)"},
        {"connect-timeout", BASE_OPT_DURATION, W(connect_timeout_ms), SZ(connect_timeout_ms), 1,
         600000, "1s", "MCP_WORKER_CONNECT_TIMEOUT", NULL, "TCP connect timeout to the device"},
        {"max-clients", BASE_OPT_INT, W(max_clients), SZ(max_clients), 1, 100000, "1000",
         "MCP_WORKER_MAX_CLIENTS", NULL, "client connections accepted at once"},
        {"client-max-inflight", BASE_OPT_INT, W(client_max_inflight), SZ(client_max_inflight), 1,
         1024, "32", "MCP_WORKER_CLIENT_MAX_INFLIGHT", NULL,
         "pipelined requests per client before reading pauses"},
        {"max-client-age", BASE_OPT_DURATION, W(max_client_age_ms), SZ(max_client_age_ms), 0, 0,
         "0", "MCP_WORKER_MAX_CLIENT_AGE", NULL,
         "close clients gracefully after this long, so new pods get a share (0: never)"},
        {"drain-grace", BASE_OPT_DURATION, W(drain_grace_ms), SZ(drain_grace_ms), 0, 3600000, "10s",
         "MCP_WORKER_DRAIN_GRACE", NULL, "on SIGTERM: time to finish requests in flight"},
        {"connect-per-request", BASE_OPT_BOOL, W(connect_per_request), SZ(connect_per_request), 0,
         0, "false", NULL, NULL,
         "no pool: open a device connection per request (benchmark baseline)"},
        {"threads", BASE_OPT_INT, W(threads), SZ(threads), 0, 64, "0", "MCP_WORKER_THREADS", NULL,
         "event loops (0: one per CPU the process may use, cgroup CPU limit included)"},
        {"forwarders", BASE_OPT_INT, W(forwarders), SZ(forwarders), 0, 1024, "0", NULL, NULL,
         "ignored: device I/O runs in the event loop (accepted so old command lines work)"},
        {"breaker-threshold", BASE_OPT_INT, W(breaker_threshold), SZ(breaker_threshold), 1, 1000,
         "5", "MCP_WORKER_BREAKER_THRESHOLD", NULL,
         "consecutive device failures that open the circuit breaker"},
        {"breaker-open", BASE_OPT_DURATION, W(breaker_open_ms), SZ(breaker_open_ms), 1, 3600000,
         "5s", "MCP_WORKER_BREAKER_OPEN", NULL, "how long the breaker stays open before a probe"},
        {"keepalive", BASE_OPT_DURATION, W(keepalive_ms), SZ(keepalive_ms), 0, 0, "30s",
         "MCP_WORKER_KEEPALIVE", NULL,
         "validate a pooled connection idle longer than this (0: never)"},
        {"log-level", BASE_OPT_ENUM, W(log_level), SZ(log_level), 0, 0, "info",
         "MCP_WORKER_LOG_LEVEL", "debug|info|warn|error", "log level"},
        {"log-format", BASE_OPT_ENUM, W(log_format), SZ(log_format), 0, 0, "logfmt",
         "MCP_WORKER_LOG_FORMAT", "logfmt|json", "log format"},
        BASE_OPT_END,
};

static const char usage[] =
        "Usage: mcp-worker --listen ADDR:PORT --device HOST:PORT --http ADDR:PORT --pool-size N\n"
        "                  [--pool-size-file PATH] [--unit-id N] [--queue-max N] "
        "[--request-timeout DUR]\n"
        "A Modbus TCP gateway: many clients in front, a bounded pool of connections to one\n"
        "device behind. Exceptions: 0x0B device did not answer, 0x0A no device connection\n"
        "(breaker open), 0x06 queue full, 0x01 function code not forwarded.\n"
        "Example against a PLC: mcp-worker --listen 0.0.0.0:5020 --device 10.0.3.17:502 \\\n"
        "                       --http 0.0.0.0:9090 --pool-size 4";

int main(int argc, char **argv)
{
	worker_opts_t o;
	bool seen[32];
	worker_t w;
	httpd_t *h = NULL;
	char err[512];
	sigset_t mask;
	int rc = base_opt_main(opts, &o, seen, argc, argv, NULL, "mcp-worker", usage, MCP_VERSION);
	if (rc != 0)
		return rc == 1 ? 0 : 2;
	if (o.device[0] == '\0') {
		fprintf(stderr, "mcp-worker: --device is required (or MCP_WORKER_DEVICE)\n");
		return 2;
	}
	if (o.pool_size > o.pool_max) {
		fprintf(stderr, "mcp-worker: --pool-size %lld is above --pool-max %lld\n",
		        o.pool_size, o.pool_max);
		return 2;
	}
	(void)base_log_setup(o.log_level, o.log_format, "worker"); /* both checked by the table */

	/* Every thread started from here on inherits the blocked mask; the
	 * loop takes SIGTERM/SIGINT through a signalfd. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);

	memset(&w, 0, sizeof(w));
	w.o = &o;
	metrics_init(&w.m);
	atomic_store(&w.m.target_size, (int)o.pool_size);
	if (!o.connect_per_request) {
		mcppool_config_t pc;
		const char *colon = strrchr(o.device, ':');
		mcppool_config_default(&pc);
		snprintf(pc.host, sizeof(pc.host), "%.*s", (int)(colon - o.device), o.device);
		pc.port = (int)strtol(colon + 1, NULL, 10);
		pc.unit_id = (int)o.unit_id;
		pc.size = (int)o.pool_size;
		pc.max_size = (int)o.pool_max;
		pc.connect_timeout_ms = o.connect_timeout_ms;
		pc.response_timeout_ms = o.request_timeout_ms;
		/* The pool would validate in acquire, blocking the loop; the
		 * forwarder does its keepalive read inside the loop instead. */
		pc.keepalive_ms = 0;
		/* The loop times every exchange itself (mcppool_release_timed),
		 * so the pool's own stamps (idle, lifetime, leaks) need only
		 * the coarse clock: two precise reads fewer per request. */
		pc.coarse_clock = 1;
		pc.breaker_threshold = (int)o.breaker_threshold;
		pc.breaker_open_ms = o.breaker_open_ms;
		rc = mcppool_new(&pc, &w.pool, err, sizeof(err));
		if (rc != 0) {
			fprintf(stderr, "mcp-worker: pool: %s: %s\n", mcppool_strerror(rc), err);
			return 2;
		}
	} else {
		atomic_store(&w.m.cpr_up, 1);
	}
	if (loop_lanes_init(&w,
	                    o.threads > 0 ? (int)o.threads
	                                  : loop_auto_threads("/sys/fs/cgroup/cpu.max"),
	                    err, sizeof(err)) != 0) {
		fprintf(stderr, "mcp-worker: event loops: %s\n", err);
		loop_lanes_free(&w);
		mcppool_free(w.pool);
		return 2;
	}
	if (httpd_new(o.http, &h, err, sizeof(err)) != 0 || metrics_routes(h, &w) != 0 ||
	    httpd_start(h, err, sizeof(err)) != 0) {
		fprintf(stderr, "mcp-worker: --http: %s\n", err);
		httpd_free(h);
		loop_lanes_free(&w);
		mcppool_free(w.pool);
		return 2;
	}
	{
		char port[16];
		snprintf(port, sizeof(port), "%d", httpd_port(h));
		base_log(BASE_LOG_INFO, "http_listening", "addr", o.http, "port", port,
		         (char *)NULL);
	}
	rc = loop_run(&w);
	httpd_free(h);
	/* The pool goes before the lanes: only the loops, all stopped, used
	 * either. */
	mcppool_free(w.pool);
	loop_lanes_free(&w);
	base_log(BASE_LOG_INFO, "exit", "code", rc == 0 ? "0" : "error", (char *)NULL);
	return rc;
}

#include "daemon.h"

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/opt.h"
#include "ctl.h"
#include "ctlmetrics.h"
#include "httpd/httpd.h"
#include "kube/config.h"
#include "kube/loop.h"

typedef struct {
	char kubeconfig[1024];
	char context[256];
	char ns[254];
	int64_t sync_period_ms;
	bool leader_elect;
	char le_id[256];
	char le_ns[254];
	char le_name[254];
	int64_t le_lease_ms, le_renew_ms, le_retry_ms;
	char metrics_addr[128];
	char health_addr[128];
	char log_format[16];
	char log_level[16];
	double qps;
	long long burst;
	bool dry_run;
	int64_t scrape_timeout_ms;
	long long scrape_max_bytes;
	long long scrape_concurrency;
	long long metrics_port;
} daemon_cfg_t;

#define F(f) offsetof(daemon_cfg_t, f), sizeof(((daemon_cfg_t *)0)->f)

static const base_opt_t OPTS[] = {
        {"kubeconfig", BASE_OPT_STRING, F(kubeconfig), 0, 0, "", NULL, NULL,
         "kubeconfig file; default $KUBECONFIG, then in-cluster, then ~/.kube/config"},
        {"context", BASE_OPT_STRING, F(context), 0, 0, "", NULL, NULL,
         "kubeconfig context (default: current-context)"},
        {"namespace", BASE_OPT_STRING, F(ns), 0, 0, "", NULL, NULL,
         "watch policies in this namespace only (default: all namespaces)"},
        {"sync-period", BASE_OPT_DURATION, F(sync_period_ms), 100, 86400000, "15s", NULL, NULL,
         "reconcile period of a policy without a syncPeriod key"},
        {"leader-elect", BASE_OPT_BOOL, F(leader_elect), 0, 0, "false", NULL, NULL,
         "elect a leader with a coordination.k8s.io/v1 Lease before writing"},
        {"leader-election-id", BASE_OPT_STRING, F(le_id), 0, 0, "", NULL, NULL,
         "this replica's holderIdentity (default: HOSTNAME_PID)"},
        {"leader-election-namespace", BASE_OPT_STRING, F(le_ns), 0, 0, "", NULL, NULL,
         "namespace of the Lease (default: --namespace, else the kubeconfig's namespace)"},
        {"leader-election-name", BASE_OPT_STRING, F(le_name), 0, 0, "mcp-autoscaler", NULL, NULL,
         "name of the Lease"},
        {"leader-election-lease-duration", BASE_OPT_DURATION, F(le_lease_ms), 1000, 3600000, "15s",
         NULL, NULL, "how long a standby waits after the last renewal before taking over"},
        {"leader-election-renew-deadline", BASE_OPT_DURATION, F(le_renew_ms), 1000, 3600000, "10s",
         NULL, NULL, "a leader that has not renewed for this long stops writing"},
        {"leader-election-retry-period", BASE_OPT_DURATION, F(le_retry_ms), 100, 600000, "2s", NULL,
         NULL, "time between acquire/renew attempts"},
        {"metrics-bind-address", BASE_OPT_STRING, F(metrics_addr), 0, 0, "0.0.0.0:8080", NULL, NULL,
         "ADDR:PORT of the controller's /metrics; \"0\" disables"},
        {"health-probe-bind-address", BASE_OPT_STRING, F(health_addr), 0, 0, "0.0.0.0:8081", NULL,
         NULL, "ADDR:PORT of /healthz and /readyz; \"0\" disables"},
        {"log-format", BASE_OPT_ENUM, F(log_format), 0, 0, "logfmt", NULL, "logfmt|json",
         "log line format"},
        {"log-level", BASE_OPT_ENUM, F(log_level), 0, 0, "info", NULL, "debug|info|warn|error",
         "minimum level logged (debug adds a line for every sync without change)"},
        {"kube-api-qps", BASE_OPT_DOUBLE, F(qps), 0.1, 100000, "20", NULL, NULL,
         "API requests per second (client-side token bucket)"},
        {"kube-api-burst", BASE_OPT_INT, F(burst), 1, 100000, "30", NULL, NULL,
         "API request burst above the QPS"},
        {"dry-run", BASE_OPT_BOOL, F(dry_run), 0, 0, "false", NULL, NULL,
         "send writes with dryRun=All (nothing changes) and emit no Events"},
        {"scrape-timeout", BASE_OPT_DURATION, F(scrape_timeout_ms), 10, 600000, "2s", NULL, NULL,
         "timeout of one worker /metrics scrape"},
        {"scrape-max-bytes", BASE_OPT_INT, F(scrape_max_bytes), 1024, 1073741824, "4194304", NULL,
         NULL, "cap on one /metrics body"},
        {"scrape-concurrency", BASE_OPT_INT, F(scrape_concurrency), 1, 10000, "256", NULL, NULL,
         "scrapes in flight at once per policy"},
        {"metrics-port", BASE_OPT_INT, F(metrics_port), 1, 65535, "9090", NULL, NULL,
         "port of the workers' /metrics"},
        BASE_OPT_END,
};

static const char USAGE[] =
        "Usage: mcp-autoscaler [flags]\n"
        "       mcp-autoscaler simulate --help\n"
        "\n"
        "The mcp-autoscaler controller: watches policy ConfigMaps (label\n"
        "mcp-autoscaler.io/policy=true), scrapes the target's worker pods and sets\n"
        "the Deployment's replicas and the <policy>-pool ConfigMap. See docs/controller.md.";

typedef struct {
	ctl_t *ctl;
	ctl_metrics_t *metrics;
	kube_loop_t *loop;
	int sigfd;
	int signals;
} daemon_t;

static void h_metrics(void *ctx, const char *path, httpd_reply_t *r)
{
	(void)path;
	daemon_t *d = ctx;
	r->content_type = "text/plain; version=0.0.4; charset=utf-8";
	if (ctl_metrics_render(d->metrics, &r->body) != 0)
		r->status = 500;
}

static void h_healthz(void *ctx, const char *path, httpd_reply_t *r)
{
	(void)path;
	daemon_t *d = ctx;
	/* The loop beats every second; 30 s of silence means it is stuck. */
	if (base_now_ms() - ctl_heartbeat_ms(d->ctl) > 30000) {
		r->status = 500;
		base_buf_appends(&r->body, "event loop stalled\n");
		return;
	}
	base_buf_appends(&r->body, "ok\n");
}

static void h_readyz(void *ctx, const char *path, httpd_reply_t *r)
{
	(void)path;
	daemon_t *d = ctx;
	if (!ctl_ready(d->ctl)) {
		r->status = 503;
		base_buf_appends(&r->body, "caches not synced\n");
		return;
	}
	base_buf_appends(&r->body, "ok\n");
}

static void stopped(void *arg)
{
	daemon_t *d = arg;
	kube_loop_stop(d->loop);
}

static void on_signal(kube_loop_t *loop, int fd, uint32_t events, void *arg)
{
	(void)events;
	daemon_t *d = arg;
	struct signalfd_siginfo si;
	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		char s[16];
		snprintf(s, sizeof(s), "%u", si.ssi_signo);
		if (++d->signals > 1) {
			base_log(BASE_LOG_WARN, "stopping_now", "signal", s, (char *)NULL);
			kube_loop_stop(loop);
			return;
		}
		base_log(BASE_LOG_INFO, "stopping", "signal", s, (char *)NULL);
		ctl_shutdown(d->ctl, stopped, d);
	}
}

static int start_http(const char *addr, daemon_t *d, bool metrics, bool health, httpd_t **out)
{
	char err[256];
	*out = NULL;
	if (!addr[0] || strcmp(addr, "0") == 0)
		return 0;
	if (httpd_new(addr, out, err, sizeof(err)) != 0) {
		fprintf(stderr, "mcp-autoscaler: %s: %s\n",
		        metrics ? "--metrics-bind-address" : "--health-probe-bind-address", err);
		return 2;
	}
	if (metrics)
		httpd_route(*out, "/metrics", h_metrics, d);
	if (health) {
		httpd_route(*out, "/healthz", h_healthz, d);
		httpd_route(*out, "/readyz", h_readyz, d);
	}
	if (httpd_start(*out, err, sizeof(err)) != 0) {
		base_log(BASE_LOG_ERROR, "http_failed", "error", err, (char *)NULL);
		httpd_free(*out);
		*out = NULL;
		return 1;
	}
	char port[16];
	snprintf(port, sizeof(port), "%d", httpd_port(*out));
	base_log(BASE_LOG_INFO, "http_listening", "address", addr, "port", port, "serves",
	         metrics && health ? "/metrics,/healthz,/readyz"
	         : metrics         ? "/metrics"
	                           : "/healthz,/readyz",
	         (char *)NULL);
	return 0;
}

int daemon_main(int argc, char **argv)
{
	daemon_cfg_t cfg;
	bool seen[sizeof(OPTS) / sizeof(OPTS[0])];
	char err[512];
	int rc = base_opt_main(OPTS, &cfg, seen, argc, argv, NULL, "mcp-autoscaler", USAGE,
	                       MCP_VERSION);
	if (rc == 1)
		return 0;
	if (rc != 0)
		return 2;
	(void)base_log_setup(cfg.log_level, cfg.log_format, NULL); /* checked by the table */
	if (cfg.le_renew_ms >= cfg.le_lease_ms) {
		fprintf(stderr, "mcp-autoscaler: --leader-election-renew-deadline must be shorter "
		                "than --leader-election-lease-duration\n");
		return 2;
	}
	if (cfg.le_retry_ms >= cfg.le_renew_ms) {
		fprintf(stderr,
		        "mcp-autoscaler: --leader-election-retry-period must be shorter than "
		        "--leader-election-renew-deadline\n");
		return 2;
	}
	if (!cfg.le_id[0]) {
		char host[200] = "";
		if (gethostname(host, sizeof(host)) != 0 || !host[0])
			snprintf(host, sizeof(host), "mcp-autoscaler");
		host[sizeof(host) - 1] = '\0';
		snprintf(cfg.le_id, sizeof(cfg.le_id), "%s_%ld", host, (long)getpid());
	}

	daemon_t d = {0};
	d.sigfd = -1;
	kube_config_t *kcfg = NULL;
	httpd_t *hm = NULL, *hh = NULL;
	rc = 1;
	if (kube_config_load(cfg.kubeconfig, cfg.context[0] ? cfg.context : NULL, &kcfg, err,
	                     sizeof(err)) != 0) {
		base_log(BASE_LOG_ERROR, "config_failed", "error", err, (char *)NULL);
		return 1;
	}
	d.metrics = ctl_metrics_new();
	d.loop = kube_loop_new(err, sizeof(err));
	if (!d.metrics || !d.loop) {
		base_log(BASE_LOG_ERROR, "startup_failed", "error", d.loop ? "out of memory" : err,
		         (char *)NULL);
		goto out;
	}
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	d.sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (d.sigfd < 0 || kube_loop_fd_add(d.loop, d.sigfd, EPOLLIN, on_signal, &d) != 0) {
		base_log(BASE_LOG_ERROR, "startup_failed", "error", strerror(errno), (char *)NULL);
		goto out;
	}
	ctl_opts_t o = {0};
	o.ns = cfg.ns;
	o.sync_period_ms = cfg.sync_period_ms;
	o.leader_elect = cfg.leader_elect;
	o.le_id = cfg.le_id;
	o.le_ns = cfg.le_ns;
	o.le_name = cfg.le_name;
	o.le_lease_ms = cfg.le_lease_ms;
	o.le_renew_ms = cfg.le_renew_ms;
	o.le_retry_ms = cfg.le_retry_ms;
	o.qps = cfg.qps;
	o.burst = (int)cfg.burst;
	o.dry_run = cfg.dry_run;
	o.scrape_timeout_ms = cfg.scrape_timeout_ms;
	o.scrape_max_bytes = (size_t)cfg.scrape_max_bytes;
	o.scrape_concurrency = (int)cfg.scrape_concurrency;
	o.metrics_port = (int)cfg.metrics_port;
	base_log(BASE_LOG_INFO, "starting", "version", MCP_VERSION, "config", kcfg->source,
	         "server", kcfg->server, "namespace", cfg.ns[0] ? cfg.ns : "(all)", "leader_elect",
	         cfg.leader_elect ? "true" : "false", "identity", cfg.le_id, "dry_run",
	         cfg.dry_run ? "true" : "false", (char *)NULL);
	d.ctl = ctl_new(d.loop, kcfg, &o, d.metrics, err, sizeof(err));
	if (!d.ctl) {
		base_log(BASE_LOG_ERROR, "startup_failed", "error", err, (char *)NULL);
		goto out;
	}
	bool same = strcmp(cfg.metrics_addr, cfg.health_addr) == 0;
	int hr = start_http(cfg.metrics_addr, &d, true, same, &hm);
	if (hr == 0 && !same)
		hr = start_http(cfg.health_addr, &d, false, true, &hh);
	if (hr != 0) {
		rc = hr;
		goto out;
	}
	kube_loop_run(d.loop);
	base_log(BASE_LOG_INFO, "stopped", (char *)NULL);
	rc = 0;
out:
	httpd_free(hm);
	httpd_free(hh);
	ctl_free(d.ctl);
	if (d.sigfd >= 0) {
		if (d.loop)
			kube_loop_fd_del(d.loop, d.sigfd);
		close(d.sigfd);
	}
	kube_loop_free(d.loop);
	ctl_metrics_free(d.metrics);
	kube_config_free(kcfg);
	return rc;
}

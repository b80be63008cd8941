#include "workloads.h"

#include <curl/curl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "deploy.h"
#include "ipam.h"
#include "kubelet.h"
#include "podenv.h"
#include "podlogs.h"
#include "podmetrics.h"
#include "svcproxy.h"

struct ks_workloads {
	ks_workloads_config_t cfg;
	ks_server_t *srv;
	ks_ipam_t *pod_ips, *svc_ips;
	ks_svcproxy_t *proxy;
	ks_podmetrics_t *metrics;
	ks_kubelet_t *kubelet;
	ks_deploy_t *deploy;
	ks_podlogs_t *logs;
};

ks_workloads_t *ks_workloads_start(const ks_workloads_config_t *cfg, ks_store_t *st,
                                   ks_loop_t *loop, ks_auth_t *auth, ks_server_t *srv,
                                   const char *data_dir, const char *api_host, int api_port,
                                   char *err, size_t errlen)
{
	ks_workloads_t *w = calloc(1, sizeof(*w));
	char e2[256];
	if (!w) {
		ks_fmt(err, errlen, "out of memory");
		return NULL;
	}
	w->cfg = *cfg;
	w->srv = srv;
	w->svc_ips = ks_ipam_new(cfg->service_cidr, e2, sizeof(e2));
	if (!w->svc_ips) {
		ks_fmt(err, errlen, "--service-cidr: %s", e2);
		goto fail;
	}
	w->pod_ips = ks_ipam_new(cfg->pod_cidr, e2, sizeof(e2));
	if (!w->pod_ips) {
		ks_fmt(err, errlen, "--pod-cidr: %s", e2);
		goto fail;
	}
	/* Endpoints and the proxy subscribe before the kubelet, so a deleted
	 * pod leaves the endpoints before it is signalled. */
	w->proxy = ks_svcproxy_new(st, w->svc_ips, err, errlen);
	if (!w->proxy)
		goto fail;
	if (!cfg->run_pods)
		return w;
	if (!w->cfg.bin_dir[0]) {
		char exe[1024];
		ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		if (n <= 0) {
			ks_fmt(err, errlen, "cannot read /proc/self/exe; pass --bin-dir");
			goto fail;
		}
		exe[n] = '\0';
		ks_fmt(w->cfg.bin_dir, sizeof(w->cfg.bin_dir), "%s", dirname(exe));
	}
	curl_global_init(CURL_GLOBAL_DEFAULT); /* probes: before their threads */
	w->metrics = ks_podmetrics_new(st, cfg->metrics_window_ms);
	w->logs = ks_podlogs_new(st, data_dir);
	if (!w->metrics || !w->logs) {
		ks_fmt(err, errlen, "out of memory");
		goto fail;
	}
	ks_kubelet_config_t kc = {st,
	                          loop,
	                          auth,
	                          w->metrics,
	                          w->pod_ips,
	                          data_dir,
	                          w->cfg.bin_dir,
	                          cfg->node_name,
	                          api_host,
	                          api_port,
	                          cfg->volume_sync_ms,
	                          cfg->backoff_ms,
	                          cfg->backoff_max_ms};
	w->kubelet = ks_kubelet_new(&kc, err, errlen);
	if (!w->kubelet)
		goto fail;
	w->deploy = ks_deploy_new(st, loop, err, errlen);
	if (!w->deploy)
		goto fail;
	ks_server_set_podlogs(srv, w->logs);
	ks_server_set_podmetrics(srv, w->metrics);
	base_log(BASE_LOG_INFO, "workloads", "pod_cidr", cfg->pod_cidr, "service_cidr",
	         cfg->service_cidr, "bin_dir", w->cfg.bin_dir, (char *)NULL);
	return w;
fail:
	ks_server_set_podlogs(srv, NULL);
	ks_server_set_podmetrics(srv, NULL);
	ks_workloads_stop(w);
	ks_workloads_free(w);
	return NULL;
}

void ks_workloads_stop(ks_workloads_t *w)
{
	if (!w)
		return;
	ks_kubelet_shutdown(w->kubelet, w->cfg.shutdown_grace_ms);
	ks_podlogs_stop(w->logs);
}

void ks_workloads_free(ks_workloads_t *w)
{
	if (!w)
		return;
	ks_deploy_free(w->deploy);
	ks_kubelet_free(w->kubelet);
	ks_svcproxy_free(w->proxy);
	ks_podmetrics_free(w->metrics);
	ks_podlogs_free(w->logs);
	ks_ipam_free(w->pod_ips);
	ks_ipam_free(w->svc_ips);
	free(w);
}

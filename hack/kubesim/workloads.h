/* hack/kubesim/workloads: wires issue 5's parts into kubesim: pod and
 * service address ranges, the endpoints controller and Service proxy
 * (svcproxy), pod metrics, the kubelet, the Deployment controller, and the
 * API server's pods/log and metrics.k8s.io hooks. main.c holds only the
 * flags (KS_WORKLOADS_OPTS) and the start/stop calls. */
#ifndef KUBESIM_WORKLOADS_H
#define KUBESIM_WORKLOADS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "loop.h"
#include "server.h"
#include "store.h"

typedef struct {
	bool run_pods;
	char pod_cidr[32];
	char service_cidr[32];
	char bin_dir[1024];
	char node_name[64];
	int64_t volume_sync_ms;
	int64_t backoff_ms;
	int64_t backoff_max_ms;
	int64_t metrics_window_ms;
	int64_t shutdown_grace_ms;
} ks_workloads_config_t;

/* Option table entries for a config struct T holding a ks_workloads_config_t F. */
#define KS_WORKLOADS_OPTS(T, F)                                                                    \
	{"run-pods",                                                                               \
	 BASE_OPT_BOOL,                                                                            \
	 offsetof(T, F.run_pods),                                                                  \
	 sizeof(bool),                                                                             \
	 0,                                                                                        \
	 0,                                                                                        \
	 "true",                                                                                   \
	 NULL,                                                                                     \
	 NULL,                                                                                     \
	 "run pods as local processes (kubelet, Deployment controller, Service proxy)"},           \
	        {"pod-cidr",                                                                       \
	         BASE_OPT_STRING,                                                                  \
	         offsetof(T, F.pod_cidr),                                                          \
	         sizeof(((T *)0)->F.pod_cidr),                                                     \
	         0,                                                                                \
	         0,                                                                                \
	         "127.0.1.0/24",                                                                   \
	         NULL,                                                                             \
	         NULL,                                                                             \
	         "pod IPs (inside 127.0.0.0/8)"},                                                  \
	        {"service-cidr",                                                                   \
	         BASE_OPT_STRING,                                                                  \
	         offsetof(T, F.service_cidr),                                                      \
	         sizeof(((T *)0)->F.service_cidr),                                                 \
	         0,                                                                                \
	         0,                                                                                \
	         "127.0.100.0/24",                                                                 \
	         NULL,                                                                             \
	         NULL,                                                                             \
	         "Service ClusterIPs (inside 127.0.0.0/8)"},                                       \
	        {"bin-dir",                                                                        \
	         BASE_OPT_STRING,                                                                  \
	         offsetof(T, F.bin_dir),                                                           \
	         sizeof(((T *)0)->F.bin_dir),                                                      \
	         0,                                                                                \
	         0,                                                                                \
	         "",                                                                               \
	         NULL,                                                                             \
	         NULL,                                                                             \
	         "where image REGISTRY/PATH/NAME:TAG finds program NAME (default: kubesim's own "  \
	         "directory)"},                                                                    \
	        {"node-name",                                                                      \
	         BASE_OPT_STRING,                                                                  \
	         offsetof(T, F.node_name),                                                         \
	         sizeof(((T *)0)->F.node_name),                                                    \
	         0,                                                                                \
	         0,                                                                                \
	         "kubesim",                                                                        \
	         NULL,                                                                             \
	         NULL,                                                                             \
	         "spec.nodeName of the pods kubesim runs"},                                        \
	        {"volume-sync",                                                                    \
	         BASE_OPT_DURATION,                                                                \
	         offsetof(T, F.volume_sync_ms),                                                    \
	         sizeof(int64_t),                                                                  \
	         100,                                                                              \
	         600000,                                                                           \
	         "1s",                                                                             \
	         NULL,                                                                             \
	         NULL,                                                                             \
	         "how often mounted ConfigMaps, Secrets and downward API files are re-synced"},    \
	        {"crashloop-backoff",                                                              \
	         BASE_OPT_DURATION,                                                                \
	         offsetof(T, F.backoff_ms),                                                        \
	         sizeof(int64_t),                                                                  \
	         100,                                                                              \
	         3600000,                                                                          \
	         "10s",                                                                            \
	         NULL,                                                                             \
	         NULL,                                                                             \
	         "first restart back-off, doubling"},                                              \
	        {"crashloop-backoff-max",                                                          \
	         BASE_OPT_DURATION,                                                                \
	         offsetof(T, F.backoff_max_ms),                                                    \
	         sizeof(int64_t),                                                                  \
	         100,                                                                              \
	         3600000,                                                                          \
	         "5m",                                                                             \
	         NULL,                                                                             \
	         NULL,                                                                             \
	         "longest restart back-off"},                                                      \
	        {"metrics-window",                                                                 \
	         BASE_OPT_DURATION,                                                                \
	         offsetof(T, F.metrics_window_ms),                                                 \
	         sizeof(int64_t),                                                                  \
	         100,                                                                              \
	         600000,                                                                           \
	         "5s",                                                                             \
	         NULL,                                                                             \
	         NULL,                                                                             \
	         "metrics.k8s.io sampling window (CPU rate)"},                                     \
	{                                                                                          \
		"shutdown-grace", BASE_OPT_DURATION, offsetof(T, F.shutdown_grace_ms),             \
		        sizeof(int64_t), 0, 600000, "10s", NULL, NULL,                             \
		        "on exit, how long pods get after SIGTERM before SIGKILL (capped by "      \
		        "their grace)"                                                             \
	}

typedef struct ks_workloads ks_workloads_t;

/* Starts everything (nothing but the ClusterIP allocator when run_pods is
 * false). api_host/api_port: the API server address pods get as
 * KUBERNETES_SERVICE_HOST/PORT. All pointers borrowed. NULL with err. */
ks_workloads_t *ks_workloads_start(const ks_workloads_config_t *cfg, ks_store_t *st,
                                   ks_loop_t *loop, ks_auth_t *auth, ks_server_t *srv,
                                   const char *data_dir, const char *api_host, int api_port,
                                   char *err, size_t errlen);
/* Stops every pod (SIGTERM, SIGKILL after the grace) and ends log
 * streams; call before ks_server_stop. NULL is fine. */
void ks_workloads_stop(ks_workloads_t *w);
/* Frees what start made; call after ks_server_stop. NULL is fine. */
void ks_workloads_free(ks_workloads_t *w);

#endif

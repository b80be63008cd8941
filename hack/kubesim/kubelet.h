/* hack/kubesim/kubelet: runs the pods bound to kubesim's one node as local
 * processes (see docs/kubesim.md, "Workloads").
 *
 * For each Pod: an address from the pod CIDR (status.podIP), a directory
 * DATA_DIR/pods/NS_NAME_UID with volumes/ (see volumes.h), logs/,
 * home/ (HOME) and tmp/ (TMPDIR); then each container as a process under a
 * shim (proc.h), with the image mapped to BIN_DIR/NAME, command/args/env
 * composed and $(VAR)-expanded as Kubernetes does, Service environment
 * variables, container paths rewritten to host paths; readiness, liveness
 * and startup probes (probes.h); restarts with CrashLoopBackOff; pod
 * status (phase, conditions, containerStatuses) written back; graceful
 * termination on delete (SIGTERM to the process group, SIGKILL after the
 * grace period, then the object is removed).
 *
 * Runs on the main loop (store subscription + one tick timer). Not thread
 * safe apart from what the store and podmetrics guard. */
#ifndef KUBESIM_KUBELET_H
#define KUBESIM_KUBELET_H

#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "ipam.h"
#include "loop.h"
#include "podmetrics.h"
#include "store.h"

typedef struct ks_kubelet ks_kubelet_t;

typedef struct {
	ks_store_t *store; /* borrowed, as are the other pointers */
	ks_loop_t *loop;
	ks_auth_t *auth;
	ks_podmetrics_t *metrics; /* may be NULL */
	ks_ipam_t *pod_ips;       /* the pod CIDR */
	const char *data_dir;
	const char *bin_dir;     /* where image programs are looked up */
	const char *node_name;   /* spec.nodeName of bound pods */
	const char *api_host;    /* KUBERNETES_SERVICE_HOST, also status.hostIP */
	int api_port;            /* KUBERNETES_SERVICE_PORT */
	int64_t volume_sync_ms;  /* ConfigMap/Secret/downwardAPI re-sync period */
	int64_t backoff_base_ms; /* CrashLoopBackOff: first delay, doubling */
	int64_t backoff_max_ms;  /* ... up to this */
} ks_kubelet_config_t;

/* Creates the kubelet, adopts pods already in the store and starts its
 * timer. NULL with err on failure. */
ks_kubelet_t *ks_kubelet_new(const ks_kubelet_config_t *cfg, char *err, size_t errlen);

/* Stops every pod: SIGTERM to all containers, SIGKILL to what is left
 * after min(their grace period, max_wait_ms); blocks until all exited.
 * Pod objects stay in the store (they restart with the next kubesim). */
void ks_kubelet_shutdown(ks_kubelet_t *k, int64_t max_wait_ms);

/* Frees the kubelet (call ks_kubelet_shutdown first). NULL is fine. */
void ks_kubelet_free(ks_kubelet_t *k);

/* The host directory of a pod (for logs), into out: DATA_DIR/pods/NS_NAME_UID. */
void ks_kubelet_pod_dir(const char *data_dir, const char *ns, const char *name, const char *uid,
                        char *out, size_t cap);

#endif

/* hack/kubesim/server: the HTTPS API server (libmicrohttpd, one thread per
 * connection so watch streams can block) and the plain-HTTP admin endpoint
 * (loopback only) for fault injection and token minting.
 *
 * Routes: /version /healthz /livez /readyz, /api, /api/v1, /apis,
 * /apis/G, /apis/G/V, /openapi/v2 and /openapi/v3 (404: kubectl then falls
 * back to its built-in schemas), and the resource paths
 *   /api/v1[/namespaces/NS]/RESOURCE[/NAME[/status|/scale|/log]]
 *   /apis/G/V[/namespaces/NS]/RESOURCE[/NAME[/SUB]]
 * with the verbs get, list, watch, create, update, patch (json, merge,
 * strategic), delete and deletecollection. */
#ifndef KUBESIM_SERVER_H
#define KUBESIM_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "audit.h"
#include "auth.h"
#include "faults.h"
#include "podlogs.h"
#include "podmetrics.h"
#include "store.h"

typedef struct ks_server ks_server_t;

typedef struct {
	const char *listen_ip; /* IPv4 literal */
	int port;              /* 0 = any free port (the flag parser requires 1..65535) */
	const char *admin_ip;  /* NULL = no admin endpoint; must be loopback */
	int admin_port;
	ks_store_t *store;   /* borrowed */
	ks_auth_t *auth;     /* borrowed */
	ks_faults_t *faults; /* borrowed */
	int bookmark_ms;     /* interval of BOOKMARK events on idle watches */
	ks_audit_t *audit;   /* borrowed; NULL = no audit log (--audit-log) */
} ks_server_config_t;

/* Starts both listeners. NULL with err on failure (address in use, TLS
 * unsupported, ...). */
ks_server_t *ks_server_start(const ks_server_config_t *cfg, char *err, size_t errlen);
/* The ports actually bound (useful with port 0). */
int ks_server_port(const ks_server_t *s);
int ks_server_admin_port(const ks_server_t *s);
/* Installs the pods/log provider (issue 5; borrowed, must outlive the
 * server); NULL removes it. */
void ks_server_set_podlogs(ks_server_t *s, ks_podlogs_t *pl);
/* Installs metrics.k8s.io (discovery and PodMetrics; borrowed); NULL
 * removes it. */
void ks_server_set_podmetrics(ks_server_t *s, ks_podmetrics_t *m);
/* Stops listening, ends watch streams and joins every connection thread.
 * NULL is fine. */
void ks_server_stop(ks_server_t *s);

#endif

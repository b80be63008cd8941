/* hack/kubesim/svcproxy: Services as kube-proxy and the endpoints
 * controller make them work.
 *
 * - ClusterIPs come from the service CIDR (installed as the store's
 *   allocator; existing Services keep theirs).
 * - Endpoints: for every Service with a selector, one Endpoints object
 *   (same name) lists the running pods it selects: ready ones in
 *   `addresses`, others in `notReadyAddresses`, terminating ones nowhere;
 *   targetPort may be a number or a container port name. Updated in the
 *   same dispatch as the pod change, before the kubelet acts on it, so a
 *   deleted pod leaves the endpoints before it gets SIGTERM.
 * - An L4 TCP proxy per Service port listens on clusterIP:port and sends
 *   each new connection to the next ready endpoint (round robin), then
 *   relays bytes both ways. A port that cannot be bound (e.g. < 1024
 *   without root) is logged and reported as a Warning Event on the Service.
 *
 * The proxy runs on its own thread (plus one thread per relayed
 * connection); the rest runs on the main loop. */
#ifndef KUBESIM_SVCPROXY_H
#define KUBESIM_SVCPROXY_H

#include <stddef.h>

#include "ipam.h"
#include "loop.h"
#include "store.h"

typedef struct ks_svcproxy ks_svcproxy_t;

/* Starts the endpoints controller and the proxy. Must be created before
 * the kubelet (subscription order). ips is borrowed. NULL with err. */
ks_svcproxy_t *ks_svcproxy_new(ks_store_t *st, ks_ipam_t *ips, char *err, size_t errlen);
/* Stops the proxy, closes listeners and relayed connections. NULL is fine. */
void ks_svcproxy_free(ks_svcproxy_t *p);

#endif

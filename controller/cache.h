/* controller/cache: a list+watch cache of one resource type (a small
 * informer), on the controller's loop.
 *
 * It lists, then watches from the list's resourceVersion; a watch the server
 * closes is reopened from the last resourceVersion seen, a 410 Gone relists
 * at once, and any other failure (dropped stream, outage, 5xx) relists after
 * an exponential backoff (500 ms doubling to 30 s, reset by a good list).
 * The callback sees every change: per-object ADDED/MODIFIED/DELETED from the
 * watch, and after a relist the differences against what was cached (new or
 * changed resourceVersion: ADDED/MODIFIED; gone: DELETED), so a consumer
 * never misses a deletion that happened while the watch was down.
 *
 * Objects are owned by the cache; pointers handed out are borrowed and valid
 * until the next loop dispatch that touches the cache. */
#ifndef MCP_CONTROLLER_CACHE_H
#define MCP_CONTROLLER_CACHE_H

#include <stdbool.h>
#include <stddef.h>

#include "ctlmetrics.h"
#include "kube/client.h"

typedef struct ctl_cache ctl_cache_t;

/* One change; obj is borrowed for the call (for DELETED: the last state). The
 * callback must not free the cache that calls it. */
typedef void (*ctl_cache_fn)(ctl_cache_t *c, kube_event_type_t type, const cJSON *obj, void *arg);

/* Starts caching res in ns (NULL/"" = all namespaces) filtered by the label
 * selector (NULL = all). client and metrics (may be NULL) are borrowed; fn may
 * be NULL. Returns NULL on out of memory or a bad selector (err says which). */
ctl_cache_t *ctl_cache_new(kube_client_t *client, const kube_resource_t *res, const char *ns,
                           const char *selector, ctl_metrics_t *metrics, ctl_cache_fn fn, void *arg,
                           char *err, size_t errlen);
/* Cancels the list/watch and frees every object. NULL is a no-op. */
void ctl_cache_free(ctl_cache_t *c);

/* True once the first list has been stored. */
bool ctl_cache_synced(const ctl_cache_t *c);
/* The selector it was created with ("" when none); borrowed. */
const char *ctl_cache_selector(const ctl_cache_t *c);
/* Number of objects and the i-th one (borrowed; order is unspecified). */
size_t ctl_cache_len(const ctl_cache_t *c);
const cJSON *ctl_cache_at(const ctl_cache_t *c, size_t i);
/* Looks an object up by namespace and name; NULL when absent. */
const cJSON *ctl_cache_get(const ctl_cache_t *c, const char *ns, const char *name);
/* Counts relists after the first list (dropped or expired watches). */
unsigned ctl_cache_relists(const ctl_cache_t *c);

#endif

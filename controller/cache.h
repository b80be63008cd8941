/* controller/cache: the controller's view of one kind, on pkg/kube's
 * informer (list+watch, relist with backoff, 410 handling, diff after a
 * relist so no deletion is missed). This adapter adds what the controller
 * needs on top: one callback with the event type, the selector it was made
 * with (a target's selector can change), iteration, and counts of list
 * rounds for the controller's API metrics. */
#ifndef MCP_CONTROLLER_CACHE_H
#define MCP_CONTROLLER_CACHE_H

#include <stdbool.h>
#include <stddef.h>

#include "ctlmetrics.h"
#include "kube/client.h"

typedef struct ctl_cache ctl_cache_t;

/* One change; obj is borrowed for the call (for DELETED: the last state).
 * KUBE_EV_BOOKMARK with obj NULL: a complete list has been stored. */
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
/* Number of objects; calls fn for each (borrowed objects, any order). */
size_t ctl_cache_len(const ctl_cache_t *c);
void ctl_cache_foreach(const ctl_cache_t *c, void (*fn)(const cJSON *obj, void *arg), void *arg);
/* Looks an object up by namespace and name; NULL when absent. */
const cJSON *ctl_cache_get(const ctl_cache_t *c, const char *ns, const char *name);
/* Counts relists after the first list (dropped or expired watches). */
unsigned ctl_cache_relists(const ctl_cache_t *c);

#endif

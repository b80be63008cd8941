/* pkg/kube/store: the informer's local cache: objects keyed by
 * "namespace/name" (or "name" when cluster-scoped) in a hash table. It owns
 * the objects; memory is what the stored JSON takes, nothing else grows. */
#ifndef MCP_KUBE_STORE_H
#define MCP_KUBE_STORE_H

#include <stddef.h>

#include <cjson/cJSON.h>

typedef struct kube_store kube_store_t;

/* NULL on ENOMEM. */
kube_store_t *kube_store_new(void);
/* Frees every object. NULL is a no-op. */
void kube_store_free(kube_store_t *s);
/* Inserts or replaces; takes ownership of obj. The replaced object (if any)
 * goes to *old (caller frees; old may be NULL to free it here). Returns 0,
 * KUBE_EINVAL (no metadata.name: obj freed) or KUBE_ENOMEM (obj freed). */
int kube_store_put(kube_store_t *s, cJSON *obj, cJSON **old);
/* Removes and returns the object (caller frees), NULL when absent. */
cJSON *kube_store_remove(kube_store_t *s, const char *ns, const char *name);
/* Borrowed pointer valid until the entry changes; NULL when absent. */
const cJSON *kube_store_get(const kube_store_t *s, const char *ns, const char *name);
size_t kube_store_count(const kube_store_t *s);
/* Calls fn for every object, in no particular order. fn must not change s. */
void kube_store_foreach(const kube_store_t *s, void (*fn)(const cJSON *obj, void *arg), void *arg);

#endif

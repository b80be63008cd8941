/* pkg/kube/informer: a list+watch cache of one kind, as client-go's
 * SharedInformer: list (paged) then watch from the list's resourceVersion
 * with bookmarks; keep every object in a local store; call handlers on
 * add/update/delete; re-run update for every object each resync period.
 *
 * Recovery: a watch the server closes normally is re-opened from the last
 * resourceVersion seen; 410 Gone (too old) relists at once; a dropped
 * stream or any other error relists after a backoff (250 ms doubling to
 * 30 s, reset by a successful list). A relist diffs against the store and
 * calls add/update/delete for what changed while the watch was down
 * (updates only when the resourceVersion differs).
 *
 * Handlers run on the loop thread, with borrowed objects valid for the call.
 * They may call any kube function, kube_informer_free() included.
 * Objects are stored without metadata.managedFields (it is large and unused
 * here) unless keep_managed_fields is set. */
#ifndef MCP_KUBE_INFORMER_H
#define MCP_KUBE_INFORMER_H

#include <stdbool.h>
#include <stdint.h>

#include "kube/client.h"

typedef struct kube_informer kube_informer_t;

typedef struct {
	void (*on_add)(const cJSON *obj, void *arg);
	void (*on_update)(const cJSON *old_obj, const cJSON *obj, void *arg);
	/* obj is the last known state (the watch's DELETED object). */
	void (*on_delete)(const cJSON *obj, void *arg);
	/* After each complete list (first sync and every relist). */
	void (*on_synced)(void *arg);
} kube_informer_handlers_t;

typedef struct {
	const kube_resource_t *res;
	const char *ns;             /* NULL/"" = all namespaces */
	const char *label_selector; /* may be NULL */
	const char *field_selector; /* may be NULL */
	int64_t resync_ms;          /* 0 = no periodic resync */
	long page_size;             /* list limit; 0 = 500 */
	long watch_timeout_s;       /* 0 = random 300..600 s as client-go */
	bool keep_managed_fields;
} kube_informer_opts_t;

typedef struct {
	unsigned lists;   /* complete lists (initial + relists) */
	unsigned watches; /* watch streams opened */
	unsigned relists_410;
	unsigned errors; /* failed lists or dropped watches */
	uint64_t events; /* watch events applied */
} kube_informer_stats_t;

/* Creates (does not start) an informer. Strings are copied; h is copied;
 * c is borrowed. NULL with err set on a bad selector or ENOMEM. */
kube_informer_t *kube_informer_new(kube_client_t *c, const kube_informer_opts_t *o,
                                   const kube_informer_handlers_t *h, void *arg, char *err,
                                   size_t errlen);
/* Starts the first list. 0 or KUBE_ESTATE (already started) / KUBE_ENOMEM. */
int kube_informer_start(kube_informer_t *inf);
/* Stops requests and timers and frees the store. NULL is a no-op. */
void kube_informer_free(kube_informer_t *inf);

/* True once the first list has been stored. */
bool kube_informer_synced(const kube_informer_t *inf);
/* Borrowed; valid until the loop runs again. ns "" or NULL for cluster-scoped. */
const cJSON *kube_informer_get(const kube_informer_t *inf, const char *ns, const char *name);
size_t kube_informer_count(const kube_informer_t *inf);
void kube_informer_foreach(const kube_informer_t *inf, void (*fn)(const cJSON *obj, void *arg),
                           void *arg);
/* Last resourceVersion seen (list, event or bookmark); "" before the first list. */
const char *kube_informer_rv(const kube_informer_t *inf);
void kube_informer_stats(const kube_informer_t *inf, kube_informer_stats_t *st);

#endif

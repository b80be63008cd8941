/* hack/kubesim/store: the cluster state. Objects are cJSON trees kept per
 * resource type, every write takes the next value of one global
 * resourceVersion counter and is appended to a bounded event history that
 * feeds watches (HTTP streams and in-process subscribers).
 *
 * Thread safety: every function takes the store's mutex; HTTP threads and
 * the main loop may call them concurrently. Objects passed in are borrowed
 * (copied); objects handed out are new trees owned by the caller.
 *
 * The seam for in-process controllers (the Deployment controller and the
 * kubelet of issue 5): ks_store_subscribe() registers a callback, and the
 * main loop calls ks_store_dispatch() after every wakeup; callbacks run on
 * the main loop thread, without the store lock, so they may call back into
 * the store. ks_store_set_graceful() makes deletes of a type set
 * metadata.deletionTimestamp instead of removing the object (a kubelet then
 * finishes the delete with KS_DEL_FORCE). */
#ifndef KUBESIM_STORE_H
#define KUBESIM_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "kubeapi/kubeapi.h"
#include "resources.h"

typedef struct ks_store ks_store_t;

typedef enum { KS_EV_ADDED, KS_EV_MODIFIED, KS_EV_DELETED, KS_EV_RESYNC } ks_ev_type_t;

/* Write flags. */
#define KS_W_DRYRUN   0x01 /* validate and compute, store nothing */
#define KS_W_MAIN     0x02 /* main resource write: status is kept from the stored object */
#define KS_W_STATUS   0x04 /* /status write: only status changes */
#define KS_DEL_ORPHAN 0x08 /* do not delete dependents (ownerReferences) */
#define KS_DEL_FORCE  0x10 /* remove now even for graceful types */
#define KS_W_STRICT   0x20 /* unknown fields are an error (fieldValidation=Strict) */

/* Creates an empty store keeping at most history_max events (>= 16).
 * Returns NULL on allocation failure. */
ks_store_t *ks_store_new(size_t history_max);
/* Frees the store; NULL is fine. No watch may be running. */
void ks_store_free(ks_store_t *st);

/* Called (from the writing thread, under no lock of the caller) after
 * each committed write, e.g. to wake the main loop. */
void ks_store_set_notify(ks_store_t *st, void (*fn)(void *ud), void *ud);

/* Current resourceVersion (the last one given out). */
uint64_t ks_store_rv(ks_store_t *st);

/* Copies one object into *out. 0, or -404 with e. */
int ks_store_get(ks_store_t *st, const ks_rtype_t *rt, const char *ns, const char *name,
                 cJSON **out, ks_err_t *e);

/* Lists objects of rt in ns (NULL or "" = all namespaces) matching both
 * selectors (NULL = all), in (namespace, name) order, at most `limit`
 * (0 = no limit) starting after the continue token `cont` (NULL or "" =
 * from the start). *items gets a new array, *list_rv the store's rv,
 * next_cont the token for the next page ("" when done). 0, or -400/-410. */
int ks_store_list(ks_store_t *st, const ks_rtype_t *rt, const char *ns,
                  const kubeapi_selector_t *lsel, const kubeapi_selector_t *fsel, long limit,
                  const char *cont, cJSON **items, uint64_t *list_rv, char *next_cont,
                  size_t cont_cap, long *remaining, ks_err_t *e);

/* Creates obj (borrowed) in ns; fills uid, resourceVersion, creationTimestamp,
 * generation, generateName. *out (may be NULL) gets the stored object.
 * 0, or -409 (exists), -404 (namespace missing), -400/-422 (invalid). */
int ks_store_create(ks_store_t *st, const ks_rtype_t *rt, const char *ns, const cJSON *obj,
                    unsigned flags, cJSON **out, ks_err_t *e);

/* Replaces an object. A metadata.resourceVersion in obj is a precondition
 * (-409 Conflict when stale). Flags KS_W_MAIN/KS_W_STATUS select what part
 * is written. 0, or -404, -409, -400/-422. */
int ks_store_update(ks_store_t *st, const ks_rtype_t *rt, const char *ns, const char *name,
                    const cJSON *obj, unsigned flags, cJSON **out, ks_err_t *e);

/* Read-modify-write under the lock: fn gets a copy of the stored object to
 * change in place (or replace via *obj) and returns 0 or -code with e set.
 * The result is written as ks_store_update would (its resourceVersion must
 * still be the stored one). Used for PATCH and /scale. */
typedef int (*ks_mutate_fn)(cJSON **obj, void *ud, ks_err_t *e);
int ks_store_mutate(ks_store_t *st, const ks_rtype_t *rt, const char *ns, const char *name,
                    ks_mutate_fn fn, void *ud, unsigned flags, cJSON **out, ks_err_t *e);

/* Deletes an object (and, unless KS_DEL_ORPHAN, its dependents through
 * ownerReferences; a Namespace takes everything inside it). `uid` and `rv`,
 * when not NULL, are preconditions (-409). *out gets the deleted object (or
 * the object marked for deletion). 0, -404, -409. */
int ks_store_delete(ks_store_t *st, const ks_rtype_t *rt, const char *ns, const char *name,
                    const char *uid, const char *rv, unsigned flags, cJSON **out, ks_err_t *e);

/* Makes deletes of rt graceful: see the header comment. */
void ks_store_set_graceful(ks_store_t *st, const ks_rtype_t *rt, bool on);

/* Installs the Service ClusterIP allocator (called under the store lock;
 * returns a host-order IPv4 address, 0 when the range is full). Without
 * one, ClusterIPs come from 10.96.0.0/16. */
void ks_store_set_ip_alloc(ks_store_t *st, unsigned (*fn)(void *ud), void *ud);

/* True when the namespace object exists. */
bool ks_store_ns_exists(ks_store_t *st, const char *ns);

/* ---- watch streams (HTTP) ---------------------------------------------- */

typedef struct ks_watch ks_watch_t;

/* Opens a watch on rt in ns with selectors (borrowed; they must outlive the
 * watch). rv NULL/""/"0": synthetic ADDED events for the current objects
 * first, then changes. Otherwise changes after rv; -410 Expired when rv is
 * older than the retained history. *out is owned by the caller. */
int ks_watch_open(ks_store_t *st, const ks_rtype_t *rt, const char *ns,
                  const kubeapi_selector_t *lsel, const kubeapi_selector_t *fsel, const char *rv,
                  bool bookmarks, ks_watch_t **out, ks_err_t *e);

/* Waits up to wait_ms for events and returns them as newline-terminated
 * JSON watch events ({"type":..,"object":..}) in a malloc'd string (*len
 * set), or NULL with *len 0 when nothing came. A BOOKMARK is produced when
 * bookmarks were asked for and `bookmark_due`. *closed is set when the
 * watch has ended (store shutdown, ks_store_drop_watches, history
 * overrun: then an ERROR 410 event is returned first). */
char *ks_watch_next(ks_watch_t *w, int wait_ms, bool bookmark_due, size_t *len, bool *closed);
void ks_watch_close(ks_watch_t *w);

/* Ends every open watch stream (fault injection, shutdown). */
void ks_store_drop_watches(ks_store_t *st);
/* Marks the store as shutting down: watches end, waiters wake. */
void ks_store_shutdown(ks_store_t *st);

/* ---- in-process subscribers (seam for controllers) --------------------- */

/* cb gets each committed event of rt (NULL = every type): `obj` is the new
 * state (the last state for DELETED), `old` the previous one (NULL for
 * ADDED); both borrowed for the call. KS_EV_RESYNC (obj NULL) means events
 * were lost: relist. Returns a subscription id >= 0, or -1. */
typedef void (*ks_store_cb)(void *ud, ks_ev_type_t type, const ks_rtype_t *rt, const cJSON *obj,
                            const cJSON *old);
int ks_store_subscribe(ks_store_t *st, const ks_rtype_t *rt, ks_store_cb cb, void *ud);
void ks_store_unsubscribe(ks_store_t *st, int id);
/* Delivers pending events to subscribers; call from the main loop. */
void ks_store_dispatch(ks_store_t *st);

/* ---- snapshot --------------------------------------------------------- */

/* True when something changed since the last successful save. */
bool ks_store_dirty(ks_store_t *st);
/* Writes every object to path atomically (tmp + rename). 0 or -1 (err). */
int ks_store_save(ks_store_t *st, const char *path, char *err, size_t errlen);
/* Loads objects from path into an empty store. 0, 1 when the file does not
 * exist, -1 on a bad file (err). */
int ks_store_load(ks_store_t *st, const char *path, char *err, size_t errlen);

#endif

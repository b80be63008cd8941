/* tests/lib/kube_fakeapi: a small in-process Kubernetes API server for
 * pkg/kube tests and benchmarks (libmicrohttpd, one thread per connection).
 *
 * It stores objects of any resource by path, keeps resourceVersions and an
 * event log, and serves: get, list (label selectors, metadata.name/namespace
 * field selectors, limit/continue paging), watch (resourceVersion, bookmarks,
 * 410 once the log was compacted), create, update (409 on a stale
 * resourceVersion), merge patch, delete (preconditions), deployments/scale.
 * Scripted faults (status + Retry-After for the next N matching requests),
 * dropped watch streams, a rotating bearer token, and an "events.k8s.io is
 * missing" switch let tests drive the client's error paths.
 *
 * Listens on a random 127.4.x.y address (the kube area's loopback range),
 * port chosen by the kernel; with TLS it mints a CA and a serving certificate
 * with the openssl CLI into a temporary directory. */
#ifndef MCP_TESTS_KUBE_FAKEAPI_H
#define MCP_TESTS_KUBE_FAKEAPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct kube_fakeapi kube_fakeapi_t;

/* Starts the server. tls=false serves plain HTTP. NULL with err set. */
kube_fakeapi_t *kube_fakeapi_start(bool tls, char *err, size_t errlen);
/* Stops, removes the temporary directory. NULL is a no-op. */
void kube_fakeapi_stop(kube_fakeapi_t *f);

const char *kube_fakeapi_url(const kube_fakeapi_t *f);         /* "https://127.4.x.y:port" */
const char *kube_fakeapi_ca_file(const kube_fakeapi_t *f);     /* CA that signed the server */
const char *kube_fakeapi_bad_ca_file(const kube_fakeapi_t *f); /* an unrelated CA */
const char *kube_fakeapi_dir(const kube_fakeapi_t *f);         /* temp dir (tokens etc.) */

/* Requires "Authorization: Bearer TOKEN" (NULL: accept anything). */
void kube_fakeapi_set_token(kube_fakeapi_t *f, const char *token);
/* The next `count` requests whose method matches (NULL = any) and whose path
 * contains path_sub (NULL = any) get `status` with a Status body, and a
 * Retry-After header when retry_after_s >= 0. */
void kube_fakeapi_fault(kube_fakeapi_t *f, const char *method, const char *path_sub, int status,
                        int retry_after_s, int count);
/* Forgets every fault and delay not yet used. */
void kube_fakeapi_clear_faults(kube_fakeapi_t *f);
/* The next `count` matching requests are answered only after delay_ms
 * (normally otherwise). */
void kube_fakeapi_delay(kube_fakeapi_t *f, const char *method, const char *path_sub, int delay_ms,
                        int count);
/* Ends every open watch stream abruptly (no terminating chunk). */
void kube_fakeapi_drop_watches(kube_fakeapi_t *f);
/* Forgets the event log: watches from an older resourceVersion get 410. */
void kube_fakeapi_compact(kube_fakeapi_t *f);
/* Watch responses are written in pieces of at most n bytes (0 = whole events). */
void kube_fakeapi_set_watch_chunk(kube_fakeapi_t *f, size_t n);
/* Lists report resourceVersion rv (0 = current), as a list served from a
 * lagging watch cache does; a watch from it then replays the backlog. */
void kube_fakeapi_set_list_rv(kube_fakeapi_t *f, uint64_t rv);
/* Makes events.k8s.io answer 404 page not found. */
void kube_fakeapi_set_events_v1(kube_fakeapi_t *f, bool available);

/* Stores an object directly (as a create/update would, with an event).
 * collection: "/api/v1/namespaces/NS/configmaps". Returns the new
 * resourceVersion, or 0 on a bad object. */
uint64_t kube_fakeapi_put(kube_fakeapi_t *f, const char *collection, const char *json);
/* Deletes directly (with an event). 0 or -1 when absent. */
int kube_fakeapi_delete(kube_fakeapi_t *f, const char *collection, const char *name);
/* Current resourceVersion. */
uint64_t kube_fakeapi_rv(kube_fakeapi_t *f);

/* Requests seen whose method matches (NULL = any) and path contains
 * path_sub (NULL = any). */
unsigned kube_fakeapi_count(kube_fakeapi_t *f, const char *method, const char *path_sub);
/* Monotonic ms of the i-th such request (0-based), -1 if none. */
int64_t kube_fakeapi_time(kube_fakeapi_t *f, const char *method, const char *path_sub, unsigned i);
/* Copies the last request's Content-Type / query string into buf. */
void kube_fakeapi_last_ctype(kube_fakeapi_t *f, char *buf, size_t cap);
void kube_fakeapi_last_query(kube_fakeapi_t *f, char *buf, size_t cap);
/* Number of watch streams currently open. */
int kube_fakeapi_watchers(kube_fakeapi_t *f);

#endif

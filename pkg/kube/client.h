/* pkg/kube/client: Kubernetes REST verbs on a caller-owned kube_loop.
 *
 * Every request is asynchronous: kube_do() returns at once and the callback
 * runs later from the loop, exactly once, unless the call is cancelled first
 * (an asynchronous call that fails to start returns an error and never calls
 * back). kube_do_sync() is the blocking wrapper for tools and tests.
 *
 * What the client does for each request:
 *  - rate limit: a token bucket (qps/burst, as client-go's flags) delays sends;
 *  - timeout: opts.timeout_ms per attempt (watches: none; the server ends
 *    them after timeoutSeconds and the stream is read as it comes);
 *  - retries: as documented in kube/retry.h (429 and Retry-After for every
 *    verb, 5xx and transport errors for idempotent verbs only), with
 *    exponential backoff and jitter; 409 and other 4xx go to the caller;
 *  - auth: bearer token, re-read from the token file every token_reload_ms
 *    (bound service-account tokens rotate) and once more on a 401;
 *  - bodies capped at max_body ("too large" error), Status errors decoded.
 *
 * Handles: kube_call_t is valid from kube_do() until its callback returns or
 * kube_call_cancel() is called. */
#ifndef MCP_KUBE_CLIENT_H
#define MCP_KUBE_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kube/config.h"
#include "kube/kube.h"
#include "kube/loop.h"
#include "kube/retry.h"
#include "kube/watch.h"

typedef struct kube_client kube_client_t;
typedef struct kube_call kube_call_t;

typedef struct {
	double qps;              /* default 20; <= 0 disables the limiter */
	int burst;               /* default 30 */
	int64_t timeout_ms;      /* per attempt, default 30 s */
	size_t max_body;         /* response body cap, default 64 MiB */
	size_t max_event;        /* one watch event cap, default 8 MiB */
	kube_backoff_t backoff;  /* see kube/retry.h */
	int64_t token_reload_ms; /* default 60 s (client-go re-reads every minute) */
	const char *user_agent;  /* default "mcp-autoscaler/VERSION" */
} kube_client_opts_t;

/* Fills o with the defaults above. */
void kube_client_opts_default(kube_client_opts_t *o);

/* Creates a client bound to loop (borrowed; must outlive the client). cfg is
 * copied. o may be NULL for defaults. Reads the token file once now.
 * NULL on failure with err set. */
kube_client_t *kube_client_new(kube_loop_t *loop, const kube_config_t *cfg,
                               const kube_client_opts_t *o, char *err, size_t errlen);
/* Cancels every outstanding call (no callbacks) and frees. NULL is a no-op. */
void kube_client_free(kube_client_t *c);
kube_loop_t *kube_client_loop(kube_client_t *c);
/* The configuration's default namespace (borrowed). */
const char *kube_client_namespace(const kube_client_t *c);
/* Reloads the token file now (also done by a timer). 0 or KUBE_E*. */
int kube_client_reload_token(kube_client_t *c);

typedef enum {
	KUBE_GET,
	KUBE_LIST,
	KUBE_CREATE, /* POST */
	KUBE_UPDATE, /* PUT; the object's metadata.resourceVersion is the precondition */
	KUBE_PATCH,
	KUBE_DELETE,
} kube_verb_t;

typedef enum {
	KUBE_PATCH_MERGE,     /* application/merge-patch+json (idempotent: retried) */
	KUBE_PATCH_JSON,      /* application/json-patch+json (not blindly retried) */
	KUBE_PATCH_STRATEGIC, /* application/strategic-merge-patch+json (built-in kinds) */
} kube_patch_type_t;

typedef struct {
	const char *label_selector; /* validated before sending */
	const char *field_selector;
	long limit;                   /* page size; 0 = everything at once */
	const char *continue_token;   /* from the previous page's metadata.continue */
	const char *resource_version; /* list: "0" serves from cache; watch: start point */
	bool allow_bookmarks;         /* watch */
	long timeout_s;               /* watch: server-side timeoutSeconds; 0 = 300..600 random */
} kube_list_opts_t;

typedef struct {
	kube_verb_t verb;
	const kube_resource_t *res;
	const char *ns;               /* NULL/"" = cluster-scoped, or all namespaces for list */
	const char *name;             /* required except for list and create */
	const char *subresource;      /* "scale", "status" or NULL */
	const kube_list_opts_t *list; /* list only */
	const char *body;             /* create/update: object JSON; patch: the patch */
	kube_patch_type_t patch_type;
	const char *precondition_rv; /* delete: preconditions.resourceVersion */
	bool dry_run;                /* ?dryRun=All */
	int64_t timeout_ms;          /* per attempt; 0 = the client's timeout_ms */
} kube_req_t;

/* Runs once per call. res and what it points to live until return; keep the
 * object with kube_result_take_obj(). */
typedef void (*kube_cb)(kube_result_t *res, void *arg);

/* Starts a request. Returns 0 (cb will run) or KUBE_EINVAL (bad request:
 * err-free, nothing sent; e.g. a malformed selector) / KUBE_ENOMEM. *out may
 * be NULL. */
int kube_do(kube_client_t *c, const kube_req_t *r, kube_cb cb, void *arg, kube_call_t **out);
/* Cancels a call: its callback will not run. NULL is a no-op. */
void kube_call_cancel(kube_call_t *call);
/* Blocking: runs the loop until the call finishes and fills *res (caller
 * clears it with kube_result_clear). Returns res->err. Never call it from a
 * loop callback. */
int kube_do_sync(kube_client_t *c, const kube_req_t *r, kube_result_t *res);

/* Convenience forms of kube_do. body strings are JSON. */
int kube_get(kube_client_t *c, const kube_resource_t *res, const char *ns, const char *name,
             kube_cb cb, void *arg, kube_call_t **out);
int kube_list(kube_client_t *c, const kube_resource_t *res, const char *ns,
              const kube_list_opts_t *o, kube_cb cb, void *arg, kube_call_t **out);
int kube_create(kube_client_t *c, const kube_resource_t *res, const char *ns, const char *body,
                kube_cb cb, void *arg, kube_call_t **out);
int kube_update(kube_client_t *c, const kube_resource_t *res, const char *ns, const char *name,
                const char *body, kube_cb cb, void *arg, kube_call_t **out);
int kube_patch(kube_client_t *c, const kube_resource_t *res, const char *ns, const char *name,
               kube_patch_type_t type, const char *patch, kube_cb cb, void *arg, kube_call_t **out);
int kube_delete(kube_client_t *c, const kube_resource_t *res, const char *ns, const char *name,
                const char *precondition_rv, kube_cb cb, void *arg, kube_call_t **out);
/* Merge-patches one annotation (value NULL removes it). */
int kube_patch_annotation(kube_client_t *c, const kube_resource_t *res, const char *ns,
                          const char *name, const char *key, const char *value, kube_cb cb,
                          void *arg, kube_call_t **out);

/* ---- watch ---- */

/* One event; obj is borrowed for the call. ERROR events never arrive here:
 * they end the watch (see kube_watch). */
typedef void (*kube_watch_event_cb)(kube_event_type_t type, const cJSON *obj, void *arg);

/* Watches res in ns (NULL = all namespaces) from o->resource_version. Opening
 * the stream is retried like a GET. Once streaming, end runs exactly once
 * when the watch stops:
 *   err == 0: the server closed the stream (timeoutSeconds): watch again
 *             from the last resourceVersion seen;
 *   err == KUBE_EAPI, status.code 410: resourceVersion too old: relist;
 *   other errors (dropped connection, decode error): relist after backoff.
 * Handle semantics as kube_do (cancel stops events and end). */
int kube_watch(kube_client_t *c, const kube_resource_t *res, const char *ns,
               const kube_list_opts_t *o, kube_watch_event_cb ev, kube_cb end, void *arg,
               kube_call_t **out);

/* Builds the API path of a request into buf ("/api/v1/namespaces/x/pods/y").
 * Returns 0 or KUBE_EINVAL (too long, missing name). Exposed for tests. */
int kube_build_path(const kube_req_t *r, char *buf, size_t cap);

#endif

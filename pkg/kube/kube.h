/* pkg/kube/kube: shared types of the Kubernetes client: error codes, the API
 * Status object, the result every request hands to its callback, and the
 * resource descriptors (group/version/resource) the client knows by name.
 *
 * Module map (each has its own header):
 *   kube/loop.h      event loop: epoll + curl multi socket API + timers + plain HTTP
 *   kube/config.h    in-cluster and kubeconfig configuration
 *   kube/client.h    verbs (get/list/watch/create/update/patch/delete), retries,
 *                    rate limit, token rotation; /scale, Events, Leases helpers
 *   kube/informer.h  list+watch cache with handlers and resync
 *   kube/watch.h     watch stream decoder (streamed JSON events)
 *   (label and field selectors: pkg/kubeapi, shared with kubesim)
 *   kube/retry.h     backoff and token-bucket rate limiter (pure, clock injected)
 *   kube/store.h     the informer's local object store
 */
#ifndef MCP_KUBE_KUBE_H
#define MCP_KUBE_KUBE_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

/* Error codes: 0 is success, these are negative. */
#define KUBE_EINVAL     (-1)  /* bad argument */
#define KUBE_ENOMEM     (-2)  /* out of memory */
#define KUBE_ETOOBIG    (-3)  /* response body or event over the cap */
#define KUBE_ETRANSPORT (-4)  /* connection refused/reset, DNS, protocol error */
#define KUBE_ETIMEOUT   (-5)  /* request timeout */
#define KUBE_ETLS       (-6)  /* certificate verification or TLS setup failed */
#define KUBE_EAPI       (-7)  /* the API answered with a non-2xx status: see status */
#define KUBE_EDECODE    (-8)  /* body is not the JSON expected */
#define KUBE_ECONFIG    (-9)  /* kubeconfig / in-cluster configuration problem */
#define KUBE_EIO        (-10) /* reading a local file failed */
#define KUBE_ESTATE     (-11) /* call not valid in the current state */

/* A static English string for a KUBE_E* code. */
const char *kube_strerror(int err);

/* The API's Status object (metav1.Status) from an error response. When the
 * body was not a Status, code is the HTTP status and reason/message are empty
 * or carry the start of the body. */
typedef struct {
	int code;
	char reason[64];   /* e.g. "Conflict", "NotFound", "TooManyRequests", "Expired" */
	char message[512]; /* human text, as kubectl prints it */
} kube_status_t;

/* Decodes a Status JSON body into st (HTTP status given as fallback code).
 * Returns 0 when the body was a Status object, -1 otherwise (st still set). */
int kube_status_decode(const char *body, size_t len, int http_status, kube_status_t *st);

/* What a request's callback receives. The callback may keep obj by calling
 * kube_result_take_obj(); everything else is freed after the callback returns. */
typedef struct {
	int err;              /* 0 or KUBE_E* */
	long http_status;     /* 0 when no response arrived */
	kube_status_t status; /* set when err == KUBE_EAPI */
	cJSON *obj;           /* decoded body on success (NULL for empty bodies) */
	int attempts;         /* requests sent, retries included */
	char errmsg[512];     /* one line: what failed and why */
} kube_result_t;

/* Takes ownership of res->obj (the caller frees it with cJSON_Delete). */
cJSON *kube_result_take_obj(kube_result_t *res);
/* Releases what a result owns (obj). Safe on a zeroed result. */
void kube_result_clear(kube_result_t *res);

/* A resource type as the API paths name it. */
typedef struct {
	const char *group;    /* "" for the core group */
	const char *version;  /* "v1" */
	const char *resource; /* plural, lower case: "configmaps" */
	const char *kind;     /* "ConfigMap" */
	bool namespaced;
} kube_resource_t;

extern const kube_resource_t KUBE_RES_CONFIGMAPS;
extern const kube_resource_t KUBE_RES_PODS;
extern const kube_resource_t KUBE_RES_DEPLOYMENTS;
extern const kube_resource_t KUBE_RES_EVENTS;      /* events.k8s.io/v1 */
extern const kube_resource_t KUBE_RES_CORE_EVENTS; /* core v1 events */
extern const kube_resource_t KUBE_RES_LEASES;      /* coordination.k8s.io/v1 */
extern const kube_resource_t KUBE_RES_NAMESPACES;
extern const kube_resource_t KUBE_RES_SECRETS;

/* Borrowed accessors on an object's metadata; NULL when missing. */
const char *kube_obj_name(const cJSON *obj);
const char *kube_obj_namespace(const cJSON *obj);
const char *kube_obj_rv(const cJSON *obj);
const cJSON *kube_obj_labels(const cJSON *obj);

#endif

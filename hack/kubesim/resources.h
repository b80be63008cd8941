/* hack/kubesim/resources: the kinds kubesim serves, their discovery
 * documents, defaulting and validation, and the conversions a few of them
 * need (events.k8s.io/v1 Event <-> core/v1 Event, Deployment <-> Scale,
 * objects -> meta.k8s.io Table for kubectl's printing). */
#ifndef KUBESIM_RESOURCES_H
#define KUBESIM_RESOURCES_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#define KS_RT_STATUS     0x01 /* has a /status subresource; main updates keep status */
#define KS_RT_SCALE      0x02 /* has a /scale subresource (autoscaling/v1 Scale) */
#define KS_RT_GENERATION 0x04 /* metadata.generation bumps on spec change */
#define KS_RT_LOG        0x08 /* pods/log */

typedef struct ks_rtype {
	const char *group; /* "" for the core group */
	const char *version;
	const char *kind;
	const char *plural;
	const char *singular;
	bool namespaced;
	const char *short_names; /* comma separated, or "" */
	unsigned flags;
	const char *categories; /* comma separated, or "" */
	int storage;            /* index of the rtype whose store holds these objects */
} ks_rtype_t;

/* An API error, turned into a Status object by the HTTP layer. */
typedef struct {
	int code;           /* HTTP code: 400, 404, 409, 410, 422, ... */
	const char *reason; /* Status.reason: "NotFound", "AlreadyExists", ... */
	char message[512];
} ks_err_t;

/* Fills e and returns -code; message is printf-formatted. */
int ks_err_set(ks_err_t *e, int code, const char *reason, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/* The table of resource types; ks_rtypes_count() entries. */
const ks_rtype_t *ks_rtypes(void);
size_t ks_rtypes_count(void);
int ks_rtype_index(const ks_rtype_t *rt);
/* Finds a type by group, version and plural; NULL when unknown. */
const ks_rtype_t *ks_rtype_find(const char *group, const char *version, const char *plural);
/* Finds a type by apiVersion ("v1", "apps/v1") and kind; NULL when unknown. */
const ks_rtype_t *ks_rtype_by_kind(const char *api_version, const char *kind);
/* "apps/v1" or "v1" into buf; returns buf. */
char *ks_rtype_api_version(const ks_rtype_t *rt, char *buf, size_t cap);

/* Discovery documents (new trees owned by the caller). */
cJSON *ks_discovery_api_versions(const char *server_addr); /* /api */
cJSON *ks_discovery_groups(void);                          /* /apis */
cJSON *ks_discovery_group(const char *group);              /* /apis/G, NULL if unknown */
cJSON *ks_discovery_resources(const char *group, const char *version); /* NULL if unknown */

/* Checks and defaults an object about to be stored (create: old NULL;
 * update: old is the stored object). Sets apiVersion/kind, checks the name,
 * applies the defaults Kubernetes applies for the kind (Deployment
 * strategy, Service clusterIP and ports, Pod restartPolicy, ...). `alloc_ip`
 * gives the next ClusterIP (host-order IPv4, 0 = range full) when a Service needs one. 0, or -code
 * with e. */
int ks_prepare(const ks_rtype_t *rt, cJSON *obj, const cJSON *old, unsigned (*alloc_ip)(void *),
               void *ud, ks_err_t *e);

/* Strict field validation (fieldValidation=Strict): rejects fields the kind
 * does not have at the top level, in metadata, and in the specs of
 * Deployments, ReplicaSets and Services, with a 400 "strict decoding error"
 * as kube-apiserver words it. 0, or -400 with e. */
int ks_check_fields(const ks_rtype_t *rt, const cJSON *obj, ks_err_t *e);

/* Converts between events.k8s.io/v1 and the stored core/v1 form (in place). */
void ks_event_to_core(cJSON *ev);
void ks_event_from_core(cJSON *ev);

/* Builds an autoscaling/v1 Scale from a Deployment/ReplicaSet (new tree). */
cJSON *ks_scale_from(const ks_rtype_t *rt, const cJSON *obj);

/* Builds a meta.k8s.io/v1 Table for objects of rt (`items` borrowed). Each
 * row carries the object itself when include_object, else its metadata. */
cJSON *ks_table(const ks_rtype_t *rt, const cJSON *items, const char *list_rv, const char *cont,
                bool include_object);

/* Formats the wall clock (or ms since the epoch) as RFC 3339 into buf. */
char *ks_timestamp(char *buf, size_t cap);

#endif

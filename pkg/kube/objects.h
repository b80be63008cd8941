/* pkg/kube/objects: the few typed objects the controller needs, hand-written
 * with explicit presence (has_*), since "replicas: 0" must survive a round
 * trip: Deployment /scale, coordination.k8s.io Leases, and Events. */
#ifndef MCP_KUBE_OBJECTS_H
#define MCP_KUBE_OBJECTS_H

#include <stdbool.h>
#include <stdint.h>

#include "kube/client.h"

/* ---- autoscaling/v1 Scale (deployments/NAME/scale) ---- */
typedef struct {
	bool has_spec_replicas;
	int32_t spec_replicas;
	bool has_status_replicas;
	int32_t status_replicas;
	char selector[512]; /* status.selector, "" when absent */
	char resource_version[64];
} kube_scale_t;

/* Decodes a Scale object. 0, or KUBE_EDECODE with err naming the field. */
int kube_scale_decode(const cJSON *obj, kube_scale_t *s, char *err, size_t errlen);
/* GET deployments/NAME/scale (decode the result with kube_scale_decode). */
int kube_scale_get(kube_client_t *c, const char *ns, const char *name, kube_cb cb, void *arg,
                   kube_call_t **out);
/* Merge-patches spec.replicas on deployments/NAME/scale. replicas >= 0. */
int kube_scale_patch(kube_client_t *c, const char *ns, const char *name, int32_t replicas,
                     kube_cb cb, void *arg, kube_call_t **out);

/* ---- coordination.k8s.io/v1 Lease ---- */
typedef struct {
	char name[254];
	char ns[64];
	char resource_version[64]; /* "" on create; the precondition on update */
	bool has_holder;
	char holder[256];
	bool has_duration;
	int32_t duration_s;
	bool has_acquire_time;
	char acquire_time[40]; /* MicroTime: "2026-12-04T16:00:00.000000Z" */
	bool has_renew_time;
	char renew_time[40];
	bool has_transitions;
	int32_t transitions;
} kube_lease_t;

int kube_lease_decode(const cJSON *obj, kube_lease_t *l, char *err, size_t errlen);
/* Encodes a Lease as JSON (caller frees); metadata.resourceVersion is set
 * when l->resource_version is not empty. NULL on ENOMEM. */
char *kube_lease_encode(const kube_lease_t *l);
/* Formats wall-clock ms as a MicroTime. */
char *kube_microtime(int64_t wall_ms, char *buf, size_t cap);
/* Parses a MicroTime or RFC 3339 time into wall-clock ms; 0 or -1. */
int kube_parse_time(const char *s, int64_t *wall_ms);
int kube_lease_get(kube_client_t *c, const char *ns, const char *name, kube_cb cb, void *arg,
                   kube_call_t **out);
int kube_lease_create(kube_client_t *c, const kube_lease_t *l, kube_cb cb, void *arg,
                      kube_call_t **out);
/* PUT with l->resource_version as precondition: a stale one gets 409. */
int kube_lease_update(kube_client_t *c, const kube_lease_t *l, kube_cb cb, void *arg,
                      kube_call_t **out);

/* ---- Events ---- */
typedef struct {
	const char *ns;          /* the event's namespace (the regarding object's) */
	const char *kind;        /* regarding object: "ConfigMap", "Deployment" */
	const char *api_version; /* "v1", "apps/v1" */
	const char *name;
	const char *uid;                  /* may be NULL */
	const char *type;                 /* "Normal" or "Warning" */
	const char *reason;               /* "SuccessfulRescale" */
	const char *note;                 /* message, cut at 1 KiB as the API requires */
	const char *action;               /* "Scale"; NULL = reason */
	const char *reporting_controller; /* "mcp-autoscaler.io/controller" */
	const char *reporting_instance;   /* pod name or host */
} kube_event_t;

/* Creates an Event with events.k8s.io/v1; when that group is missing (404)
 * the same call falls back to core/v1 and the client remembers it. */
int kube_event_create(kube_client_t *c, const kube_event_t *ev, kube_cb cb, void *arg,
                      kube_call_t **out);
/* The two bodies kube_event_create may send (caller frees); for tests. */
char *kube_event_body_v1(const kube_event_t *ev, int64_t wall_ms);
char *kube_event_body_core(const kube_event_t *ev, int64_t wall_ms);

#endif

/* hack/kubesim/faults: fault injection for tests. Rules match a verb
 * (get, list, watch, create, update, patch, delete, or "*") and a resource
 * plural ("pods", or "*"), optionally of one user only, and inject an error code (409, 429 with
 * Retry-After, 500, 503) with a probability, and/or added latency. An
 * outage makes every API request fail with 503 for a while. Configured by
 * JSON (the admin endpoint's POST /faults, or --faults). Thread safe. */
#ifndef KUBESIM_FAULTS_H
#define KUBESIM_FAULTS_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

typedef struct ks_faults ks_faults_t;

/* What ks_faults_check decided for one request. */
typedef struct {
	int code;        /* 0 = no error to inject */
	int retry_after; /* seconds, for 429/503 (0 = no header) */
	int latency_ms;  /* sleep this long first */
} ks_fault_t;

ks_faults_t *ks_faults_new(void);
void ks_faults_free(ks_faults_t *f);

/* Adds rules from a JSON object or array of objects:
 *   {"verb":"get","resource":"pods","code":500,"rate":0.5,"retryAfter":2,
 *    "latencyMs":100,"count":N,"dropWatches":true,"outage":5,
 *    "user":"system:serviceaccount:NS:SA"}
 * `user` limits a rule to that authenticated user's requests (kubectl is
 * "kubesim-admin"), so a test's own kubectl calls are not hit.
 * `outage` (seconds) starts a full outage now; `dropWatches` asks the caller
 * to end open watches (returned in *drop_watches). `count` limits how many
 * times a rule fires (0 = unlimited). 0, or -1 with err. */
int ks_faults_add(ks_faults_t *f, const cJSON *spec, bool *drop_watches, char *err, size_t errlen);
/* Same, from JSON text. */
int ks_faults_add_text(ks_faults_t *f, const char *json, bool *drop_watches, char *err,
                       size_t errlen);
/* Removes every rule and ends an outage. */
void ks_faults_clear(ks_faults_t *f);
/* The rules and outage state as JSON (new tree). */
cJSON *ks_faults_json(ks_faults_t *f);

/* True during an outage (every API request gets 503). */
bool ks_faults_outage(ks_faults_t *f);

/* Decides for one request of user (NULL matches only rules without one). */
ks_fault_t ks_faults_check(ks_faults_t *f, const char *user, const char *verb,
                           const char *resource);

#endif

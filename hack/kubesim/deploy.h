/* hack/kubesim/deploy: the Deployment controller.
 *
 * Keeps spec.replicas Pods per Deployment directly (kubesim has no
 * ReplicaSet controller: Pods are owned by the Deployment, with
 * ownerReferences controller=true, so deleting the Deployment deletes
 * them). Pods are named DEPLOY-HASH-XXXXX, HASH being the
 * pod-template-hash of the template (also a label, as Kubernetes does).
 * Scale-down removes not-ready pods first, then pending ones, then those
 * with more restarts, then the newest. A template change rolls out:
 * RollingUpdate creates the new pods at once and removes an old pod for
 * each new pod that becomes ready; Recreate removes all old pods first.
 * Status: replicas, updatedReplicas, readyReplicas, availableReplicas,
 * unavailableReplicas, observedGeneration and the Available and
 * Progressing conditions. Runs on the main loop. */
#ifndef KUBESIM_DEPLOY_H
#define KUBESIM_DEPLOY_H

#include <stddef.h>

#include "loop.h"
#include "store.h"

typedef struct ks_deploy ks_deploy_t;

/* Subscribes to Deployments and Pods and starts the sync timer. NULL with
 * err on failure. store and loop are borrowed. */
ks_deploy_t *ks_deploy_new(ks_store_t *st, ks_loop_t *loop, char *err, size_t errlen);
/* NULL is fine. */
void ks_deploy_free(ks_deploy_t *d);

/* The pod-template-hash of a template (borrowed) into out (>= 16 bytes). */
void ks_deploy_template_hash(const cJSON *tmpl, char *out, size_t cap);

#endif

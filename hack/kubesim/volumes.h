/* hack/kubesim/volumes: a pod's volumes as host directories.
 *
 * Scheme: volume V of a pod lives in POD_DIR/volumes/V (POD_DIR is
 * DATA_DIR/pods/NS_NAME_UID). A container's volumeMount {name: V,
 * mountPath: P, subPath: S} maps P to POD_DIR/volumes/V[/S]; the
 * service-account files (token, ca.crt, namespace) live in
 * POD_DIR/volumes/kube-api-access and map from
 * /var/run/secrets/kubernetes.io/serviceaccount, unless
 * automountServiceAccountToken is false (pod, else ServiceAccount).
 *
 * configMap, secret, downwardAPI and projected volumes are written as
 * kubelet's AtomicWriter does: files in a timestamped directory
 * "..2026_01_01_12_00_00.123456789", a symlink "..data" to it swapped with
 * rename(2), and one symlink per top-level entry pointing into "..data".
 * A sync that finds the same content changes nothing. emptyDir is a plain
 * directory. hostPath maps to the host path itself.
 *
 * Called from the kubelet on the main loop; uses the store (thread safe). */
#ifndef KUBESIM_VOLUMES_H
#define KUBESIM_VOLUMES_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "store.h"

#define KS_SA_VOLUME "kube-api-access"
#define KS_SA_MOUNT  "/var/run/secrets/kubernetes.io/serviceaccount"

typedef struct {
	ks_store_t *store;    /* borrowed */
	const char *ca_pem;   /* ca.crt content for service-account volumes */
	const char *sa_token; /* the pod's token, or NULL for no service-account volume */
} ks_vol_ctx_t;

/* Brings every volume of pod (borrowed) up to date under poddir. Returns 0
 * when all are in place, 1 when a required ConfigMap or Secret is missing
 * (err names it; optional sources give empty volumes), -1 on an I/O error
 * or a bad volume (err says which). */
int ks_volumes_sync(const ks_vol_ctx_t *ctx, const cJSON *pod, const char *poddir, char *err,
                    size_t errlen);

/* True when the pod gets the service-account volume. */
bool ks_volumes_automount(ks_store_t *st, const cJSON *pod);

/* Maps a container-side value to the host: when value starts with a mount
 * path of container (of pod, both borrowed) (or is "PREFIX=" followed by one, PREFIX without '/'),
 * that path prefix is replaced by the volume's host directory. Returns a
 * new string (caller frees), NULL on allocation failure. `automount` adds
 * the service-account mount. */
char *ks_volumes_rewrite(const cJSON *pod, const cJSON *container, bool automount,
                         const char *poddir, const char *value);

/* Writes files atomically into dir (created if needed), AtomicWriter
 * style. `files` is a JSON object path -> string content (borrowed).
 * 0, or -1 with err. Exposed for tests. */
int ks_volumes_write_atomic(const char *dir, const cJSON *files, char *err, size_t errlen);

/* Removes a directory tree (symlinks are removed, not followed). 0 or -1. */
int ks_volumes_rm_tree(const char *path);

/* Decodes base64 (skipping other characters) into a new NUL-terminated
 * buffer (caller frees), *outlen its length. NULL on allocation failure. */
char *ks_volumes_b64dec(const char *s, size_t *outlen);

#endif

/* hack/kubesim/probes: readiness, liveness and startup probes of one
 * container, as the kubelet runs them: httpGet (libcurl; 200-399 is
 * success), tcpSocket (connect) and exec (the command with the container's
 * environment; exit 0 is success), with initialDelaySeconds,
 * periodSeconds, timeoutSeconds, successThreshold and failureThreshold.
 * Named ports resolve through the container's ports. grpc probes are not
 * supported (they fail with a message saying so).
 *
 * Each check runs on a short-lived detached thread, so a slow target never
 * stalls the main loop; the owner polls with ks_probe_tick() from one
 * thread. ks_probe_free() may be called while a check is in flight (the
 * check thread drops the last reference). */
#ifndef KUBESIM_PROBES_H
#define KUBESIM_PROBES_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

typedef struct ks_probe ks_probe_t;

typedef enum { KS_PROBE_UNKNOWN = 0, KS_PROBE_SUCCESS, KS_PROBE_FAILURE } ks_probe_result_t;

/* Builds a probe from its spec (borrowed; copied). `container` resolves
 * named ports; ip is the pod IP (httpGet.host overrides it); exec_argv
 * (absolute program path first) and envp are copied, used by exec probes
 * (may be NULL otherwise). NULL with err on a bad spec. */
ks_probe_t *ks_probe_new(const cJSON *spec, const cJSON *container, const char *ip,
                         char *const *exec_argv, char *const *envp, char *err, size_t errlen);

/* Restarts the probe's clock for a container that started at now_ms:
 * verdict back to unknown, first check after initialDelaySeconds. */
void ks_probe_reset(ks_probe_t *p, int64_t now_ms);

/* Collects a finished check and starts the next one when due. Returns the
 * verdict after the thresholds (unknown until the first threshold is met). */
ks_probe_result_t ks_probe_tick(ks_probe_t *p, int64_t now_ms);

/* The message of the last failed check ("" when none); borrowed. */
const char *ks_probe_message(const ks_probe_t *p);

/* Frees the probe (deferred while a check runs). NULL is fine. */
void ks_probe_free(ks_probe_t *p);

#endif

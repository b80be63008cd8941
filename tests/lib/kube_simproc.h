/* tests/lib/kube_simproc: runs build/bin/kubesim as a child process for
 * benchmarks and tests that need the real API server over HTTPS.
 *
 * The child gets a fresh temporary --data-dir, --listen on a random
 * 127.4.x.y address and port (the kube area's loopback range; up to five
 * tries when a port is taken), its log in the temporary directory, and
 * PR_SET_PDEATHSIG(SIGKILL) so it cannot outlive the process that started
 * it, even when that one is killed. kube_simproc_stop() ends it by pid. */
#ifndef MCP_TESTS_KUBE_SIMPROC_H
#define MCP_TESTS_KUBE_SIMPROC_H

#include <stddef.h>
#include <sys/types.h>

typedef struct kube_simproc kube_simproc_t;

/* Starts BIN_DIR/kubesim with --data-dir, --listen and --kubeconfig chosen
 * here plus extra (a NULL-terminated argument list, copied; may be NULL), and
 * waits up to 30 s for its "event=ready" log line. Returns NULL with err set
 * (naming the binary, or quoting the end of kubesim's log) on failure; a
 * child that was started is then already ended. */
kube_simproc_t *kube_simproc_start(const char *bin_dir, const char *const *extra, char *err,
                                   size_t errlen);
/* Sends SIGTERM, waits up to 10 s (then SIGKILL), reaps the child and removes
 * the temporary directory. NULL is a no-op. */
void kube_simproc_stop(kube_simproc_t *s);

/* The kubeconfig kubesim wrote (admin token, CA data); borrowed. */
const char *kube_simproc_kubeconfig(const kube_simproc_t *s);
/* "https://127.4.x.y:port"; borrowed. */
const char *kube_simproc_server(const kube_simproc_t *s);
/* The child's pid, for signal handlers that must end it (kill(pid, SIGTERM)). */
pid_t kube_simproc_pid(const kube_simproc_t *s);
/* The temporary directory (data dir, log, kubeconfig); borrowed. */
const char *kube_simproc_dir(const kube_simproc_t *s);

#endif

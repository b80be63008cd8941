/* hack/kubesim/podlogs: GET pods/NAME/log for the API server.
 *
 * The kubelet appends each container run's stdout and stderr to
 * POD_DIR/logs/CONTAINER/N.log (N = the run, 0 first; the current and the
 * previous run are kept). A log stream reads the file of the current run
 * (or the previous one with previous=true), optionally only its last
 * tailLines lines and at most limitBytes; with follow=true it keeps
 * reading as the file grows until the container stops running (its
 * status, read from the store, shows another run or a terminated state),
 * the pod is gone, or the server stops.
 *
 * Thread safe: streams run on HTTP threads and only read files and the
 * store. */
#ifndef KUBESIM_PODLOGS_H
#define KUBESIM_PODLOGS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "resources.h"
#include "store.h"

typedef struct ks_podlogs ks_podlogs_t;
typedef struct ks_logstream ks_logstream_t;

typedef struct {
	const char *container; /* NULL = the pod's only/first container */
	long tail_lines;       /* < 0 = all */
	long limit_bytes;      /* <= 0 = no limit */
	bool follow;
	bool previous;
} ks_log_req_t;

/* st borrowed; data_dir copied. NULL on allocation failure. */
ks_podlogs_t *ks_podlogs_new(ks_store_t *st, const char *data_dir);
/* Makes following streams end (server shutdown). */
void ks_podlogs_stop(ks_podlogs_t *pl);
void ks_podlogs_free(ks_podlogs_t *pl);

/* Opens a log stream. NULL with e: 404 (pod), 400 (unknown container,
 * container not started yet, no previous run). */
ks_logstream_t *ks_logstream_open(ks_podlogs_t *pl, const char *ns, const char *pod,
                                  const ks_log_req_t *req, ks_err_t *e);
/* Reads up to max bytes into buf: > 0 bytes, 0 at the end. A following
 * stream blocks until data arrives or the stream ends (checking about
 * every 200 ms). */
ssize_t ks_logstream_read(ks_logstream_t *ls, char *buf, size_t max);
void ks_logstream_close(ks_logstream_t *ls);

#endif

/* pkg/kube/loop: one event loop per daemon. epoll drives file descriptors,
 * timers and the libcurl multi interface (socket API, as curl's hiperfifo.c),
 * so Kubernetes watches, API requests and the controller's /metrics scrapes
 * progress together on one thread.
 *
 * Re-entrancy: every callback (timer, fd, HTTP done, HTTP data) may start or
 * cancel HTTP requests and timers. Work started from inside a libcurl
 * callback is queued and handed to libcurl when that callback has returned.
 * The loop is single-threaded: call it only from the thread that runs it. */
#ifndef MCP_KUBE_LOOP_H
#define MCP_KUBE_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct kube_loop kube_loop_t;
typedef struct kube_timer kube_timer_t;
typedef struct kube_http kube_http_t;

/* Creates a loop. NULL on failure with err set. */
kube_loop_t *kube_loop_new(char *err, size_t errlen);
/* Cancels every pending request and timer (no callbacks run) and frees the
 * loop. NULL is a no-op. */
void kube_loop_free(kube_loop_t *loop);

/* Monotonic milliseconds (base_now_ms). */
int64_t kube_loop_now_ms(kube_loop_t *loop);

/* A timer callback returns the delay in ms until it should run again, or a
 * negative value to end; an ended timer is freed by the loop. */
typedef int64_t (*kube_timer_cb)(kube_loop_t *loop, void *arg);
/* Runs cb after delay_ms. The handle is valid until the callback returns a
 * negative value or kube_loop_timer_cancel is called. NULL on ENOMEM. */
kube_timer_t *kube_loop_timer_add(kube_loop_t *loop, int64_t delay_ms, kube_timer_cb cb, void *arg);
/* Cancels and frees a timer; its callback will not run. NULL is a no-op.
 * Must not be called from the timer's own callback (return -1 instead). */
void kube_loop_timer_cancel(kube_loop_t *loop, kube_timer_t *t);

/* Watches a file descriptor the caller owns (signalfd, inotify, pipe).
 * events: EPOLLIN/EPOLLOUT bits. 0 or KUBE_E*. */
typedef void (*kube_fd_cb)(kube_loop_t *loop, int fd, uint32_t events, void *arg);
int kube_loop_fd_add(kube_loop_t *loop, int fd, uint32_t events, kube_fd_cb cb, void *arg);
/* Stops watching fd (does not close it). */
void kube_loop_fd_del(kube_loop_t *loop, int fd);

/* Waits for events for at most max_wait_ms (-1: until something happens) and
 * dispatches them. Returns the number of requests and timers still pending. */
int kube_loop_run_once(kube_loop_t *loop, int64_t max_wait_ms);
/* Runs until kube_loop_stop() is called. */
void kube_loop_run(kube_loop_t *loop);
/* Makes kube_loop_run return after the current dispatch. */
void kube_loop_stop(kube_loop_t *loop);
/* Number of HTTP requests in flight (queued ones included). */
int kube_loop_http_count(kube_loop_t *loop);

/* ---- plain HTTP on the loop (API requests, watches, /metrics scrapes) ---- */

typedef struct {
	const char *url;
	const char *method;         /* NULL = GET */
	const char *const *headers; /* NULL-terminated "Name: value" list, copied */
	const char *body;           /* request body, copied; NULL = none */
	size_t body_len;
	int64_t timeout_ms;         /* whole-transfer timeout; 0 = none (watches) */
	int64_t connect_timeout_ms; /* 0 = 10 s */
	size_t max_body;            /* cap on the buffered response body; 0 = 16 MiB */
	/* TLS: a CA bundle file or PEM bytes (copied), client cert/key files or PEM */
	const char *ca_file;
	const char *ca_pem;
	size_t ca_pem_len;
	bool insecure; /* skip server certificate verification */
	const char *cert_file, *key_file;
	const char *cert_pem, *key_pem;
	size_t cert_pem_len, key_pem_len;
	/* Streaming: when set, the body of a 2xx response goes here as it
	 * arrives instead of into the buffer (for watches; error bodies are still
	 * buffered so the Status can be read). Return non-zero to abort the
	 * transfer: it then ends with err KUBE_ETRANSPORT and aborted = true. */
	int (*on_data)(const char *p, size_t n, void *arg);
	/* Called once the status line and headers are in (may be NULL); lets a
	 * streaming receiver see the status before the body. */
	void (*on_headers)(long status, void *arg);
} kube_http_opts_t;

typedef struct {
	int err;          /* 0, KUBE_ETRANSPORT, KUBE_ETIMEOUT, KUBE_ETLS, KUBE_ETOOBIG */
	long status;      /* HTTP status, 0 if none arrived */
	const char *body; /* buffered body (NUL-terminated), borrowed */
	size_t body_len;
	int64_t retry_after_ms; /* from a Retry-After header (seconds), -1 if none */
	bool aborted;           /* on_data asked to stop */
	const char *errmsg;     /* curl's error text, borrowed */
	double total_s;         /* transfer time */
} kube_http_result_t;

/* Called once per started request, outside libcurl callbacks. The result's
 * pointers are valid only during the call. */
typedef void (*kube_http_done_cb)(const kube_http_result_t *res, void *arg);

/* Starts a request. On success *out (may be NULL) is a handle valid until
 * done is called; done is always called exactly once unless the request is
 * cancelled. Returns 0, KUBE_EINVAL or KUBE_ENOMEM (done is then not called). */
int kube_http_start(kube_loop_t *loop, const kube_http_opts_t *o, kube_http_done_cb done, void *arg,
                    kube_http_t **out);
/* Cancels a request: done will not be called. NULL is a no-op. Must not be
 * called on a handle whose done callback has already run. */
void kube_http_cancel(kube_http_t *h);

/* Blocking convenience: runs the loop until this one request is done. For
 * tools and tests; never call it from inside a loop callback. The body is
 * copied into *body (caller frees; may be NULL). */
int kube_http_get_sync(kube_loop_t *loop, const kube_http_opts_t *o, long *status, char **body,
                       size_t *body_len, char *err, size_t errlen);

#endif

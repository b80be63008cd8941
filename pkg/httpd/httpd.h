/* pkg/httpd: a small HTTP/1.1 server on libmicrohttpd for /metrics,
 * /healthz, /readyz and the like. Paths are registered with a handler that
 * fills in status, content type and body; anything else gets 404, and any
 * method but GET or HEAD gets 405.
 *
 * Threading: libmicrohttpd runs its own polling thread; handlers are called
 * on it (one at a time), never on the caller's thread, so a handler must
 * only read state that is safe to read concurrently (atomics, or under the
 * owner's lock). Register every route before httpd_start().
 *
 * Ownership: the server copies paths; handler contexts stay the caller's
 * and must outlive the server. Errors are negative HTTPD_E* codes with
 * detail in the caller's err buffer. */
#ifndef MCP_HTTPD_HTTPD_H
#define MCP_HTTPD_HTTPD_H

#include <stddef.h>

#include "base/buf.h"

typedef struct httpd httpd_t;

#define HTTPD_EINVAL (-1) /* bad address or argument */
#define HTTPD_ENOMEM (-2)
#define HTTPD_ESYS   (-3) /* socket/bind/listen or the daemon failed to start */

#define HTTPD_MAX_ROUTES 16
#define HTTPD_MAX_BODY   (4 << 20) /* a reply body is capped at 4 MiB */

/* What a handler fills in. status defaults to 200, content_type to
 * "text/plain; charset=utf-8", body starts empty (capped at HTTPD_MAX_BODY;
 * a body that hit the cap is answered with 500). */
typedef struct {
	int status;
	const char *content_type; /* static string */
	base_buf_t body;
} httpd_reply_t;

/* A route handler. `path` is the request path without the query string. */
typedef void (*httpd_handler_fn)(void *ctx, const char *path, httpd_reply_t *r);

/* Creates a server for "ADDR:PORT" (IPv4 or [IPv6]; port 0 picks a free one),
 * not yet listening. Returns 0 and *out, or HTTPD_EINVAL / HTTPD_ENOMEM. */
int httpd_new(const char *addr_port, httpd_t **out, char *err, size_t errlen);

/* Registers fn for an exact path ("/metrics"). HTTPD_EINVAL when the table
 * is full, the path is not absolute, or the server already started. */
int httpd_route(httpd_t *h, const char *path, httpd_handler_fn fn, void *ctx);

/* Binds, listens and starts serving. 0, or HTTPD_ESYS with err saying why
 * (e.g. "bind 127.0.0.1:9090: Address already in use"). */
int httpd_start(httpd_t *h, char *err, size_t errlen);

/* The port actually bound (useful after port 0), or -1 before start. */
int httpd_port(const httpd_t *h);

/* Stops the daemon (waits for the handler in progress), closes the socket and
 * frees everything. NULL is fine. */
void httpd_free(httpd_t *h);

const char *httpd_strerror(int err);

#endif

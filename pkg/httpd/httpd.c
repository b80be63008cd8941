#include "httpd/httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct {
	char path[128];
	httpd_handler_fn fn;
	void *ctx;
} route_t;

struct httpd {
	char host[256];
	char port_str[8];
	int fd;
	int port;
	struct MHD_Daemon *d;
	route_t routes[HTTPD_MAX_ROUTES];
	int nroutes;
};

int httpd_new(const char *addr_port, httpd_t **out, char *err, size_t errlen)
{
	httpd_t *h;
	const char *colon;
	const char *host;
	size_t hlen;
	char *end;
	long port;

	if (out == NULL)
		return HTTPD_EINVAL;
	*out = NULL;
	if (addr_port == NULL || (colon = strrchr(addr_port, ':')) == NULL) {
		snprintf(err, errlen, "http address \"%s\" is not ADDR:PORT",
		         addr_port ? addr_port : "");
		return HTTPD_EINVAL;
	}
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || errno != 0 || port < 0 || port > 65535) {
		snprintf(err, errlen, "http address \"%s\" has no valid port", addr_port);
		return HTTPD_EINVAL;
	}
	host = addr_port;
	hlen = (size_t)(colon - addr_port);
	if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
		host++;
		hlen -= 2;
	}
	if (hlen == 0 || hlen >= sizeof(h->host)) {
		snprintf(err, errlen, "http address \"%s\" has no valid host", addr_port);
		return HTTPD_EINVAL;
	}
	h = calloc(1, sizeof(*h));
	if (h == NULL) {
		snprintf(err, errlen, "out of memory");
		return HTTPD_ENOMEM;
	}
	memcpy(h->host, host, hlen);
	h->host[hlen] = '\0';
	snprintf(h->port_str, sizeof(h->port_str), "%ld", port);
	h->fd = -1;
	h->port = -1;
	*out = h;
	return 0;
}

int httpd_route(httpd_t *h, const char *path, httpd_handler_fn fn, void *ctx)
{
	route_t *r;
	size_t n;
	if (h == NULL || path == NULL || fn == NULL || path[0] != '/' || h->d != NULL ||
	    h->nroutes >= HTTPD_MAX_ROUTES)
		return HTTPD_EINVAL;
	n = strlen(path);
	if (n >= sizeof(h->routes[0].path))
		return HTTPD_EINVAL;
	r = &h->routes[h->nroutes++];
	memcpy(r->path, path, n + 1);
	r->fn = fn;
	r->ctx = ctx;
	return 0;
}

static enum MHD_Result queue_text(struct MHD_Connection *c, unsigned status, const char *ctype,
                                  const char *body, size_t len)
{
	struct MHD_Response *resp;
	enum MHD_Result rc;
	resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	rc = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
	httpd_t *h = cls;
	static const char *plain = "text/plain; charset=utf-8";
	/* Bodies are not accepted: GET and HEAD only. */
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return queue_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, plain, "method not allowed\n",
		                  19);
	for (int i = 0; i < h->nroutes; i++) {
		httpd_reply_t r;
		enum MHD_Result rc;
		if (strcmp(url, h->routes[i].path) != 0)
			continue;
		r.status = 200;
		r.content_type = plain;
		base_buf_init(&r.body, HTTPD_MAX_BODY);
		h->routes[i].fn(h->routes[i].ctx, url, &r);
		if (r.status < 100 || r.status > 599)
			r.status = 500;
		rc = queue_text(c, (unsigned)r.status, r.content_type ? r.content_type : plain,
		                r.body.data ? r.body.data : "", r.body.len);
		base_buf_free(&r.body);
		return rc;
	}
	return queue_text(c, MHD_HTTP_NOT_FOUND, plain, "not found\n", 10);
}

int httpd_start(httpd_t *h, char *err, size_t errlen)
{
	struct addrinfo hints = {0}, *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int one = 1;
	int fd = -1;
	int rc;

	if (h == NULL || h->d != NULL)
		return HTTPD_EINVAL;
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(h->host, h->port_str, &hints, &ai);
	if (rc != 0) {
		snprintf(err, errlen, "http address %s: %s", h->host, gai_strerror(rc));
		return HTTPD_EINVAL;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 128) != 0)
		goto fail;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
		goto fail;
	h->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
	                                         : ((struct sockaddr_in *)&ss)->sin_port);
	freeaddrinfo(ai);
	ai = NULL;
	h->d = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
	                        on_request, h, MHD_OPTION_LISTEN_SOCKET, fd,
	                        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
	                        MHD_OPTION_CONNECTION_LIMIT, (unsigned)64, MHD_OPTION_END);
	if (h->d == NULL) {
		snprintf(err, errlen, "http %s:%s: libmicrohttpd failed to start", h->host,
		         h->port_str);
		close(fd);
		h->port = -1;
		return HTTPD_ESYS;
	}
	h->fd = fd;
	return 0;
fail:
	snprintf(err, errlen, "http %s:%s: %s", h->host, h->port_str, strerror(errno));
	if (fd >= 0)
		close(fd);
	if (ai)
		freeaddrinfo(ai);
	h->port = -1;
	return HTTPD_ESYS;
}

int httpd_port(const httpd_t *h)
{
	return h ? h->port : -1;
}

void httpd_free(httpd_t *h)
{
	if (h == NULL)
		return;
	if (h->d)
		MHD_stop_daemon(h->d);
	if (h->fd >= 0)
		close(h->fd);
	free(h);
}

const char *httpd_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
	case HTTPD_EINVAL:
		return "invalid argument or address";
	case HTTPD_ENOMEM:
		return "out of memory";
	case HTTPD_ESYS:
		return "system call failed";
	default:
		return "unknown httpd error";
	}
}

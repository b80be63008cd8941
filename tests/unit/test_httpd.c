/* cmocka group: pkg/httpd (routes, 404, 405, port 0, bad addresses). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "httpd/httpd.h"

static void metrics(void *ctx, const char *path, httpd_reply_t *r)
{
	int *calls = ctx;
	(*calls)++;
	r->content_type = "text/plain; version=0.0.4";
	base_buf_printf(&r->body, "m_total %d\n", *calls);
}

static void unready(void *ctx, const char *path, httpd_reply_t *r)
{
	r->status = 503;
	base_buf_appends(&r->body, "not ready\n");
}

/* Sends a raw request, returns the whole response in buf. */
static void http_raw(int port, const char *req, char *buf, size_t cap)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	size_t n = 0;
	ssize_t r;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	while (n + 1 < cap && (r = read(fd, buf + n, cap - 1 - n)) > 0)
		n += (size_t)r;
	buf[n] = '\0';
	close(fd);
}

static void test_routes(void **state)
{
	httpd_t *h = NULL;
	char err[256], buf[2048];
	int calls = 0;
	(void)state;
	assert_int_equal(httpd_new("127.0.0.1:0", &h, err, sizeof(err)), 0);
	assert_int_equal(httpd_port(h), -1);
	assert_int_equal(httpd_route(h, "/metrics", metrics, &calls), 0);
	assert_int_equal(httpd_route(h, "/readyz", unready, NULL), 0);
	assert_int_equal(httpd_route(h, "nope", unready, NULL), HTTPD_EINVAL);
	assert_int_equal(httpd_start(h, err, sizeof(err)), 0);
	assert_true(httpd_port(h) > 0);
	assert_int_equal(httpd_route(h, "/late", unready, NULL), HTTPD_EINVAL);

	http_raw(httpd_port(h), "GET /metrics HTTP/1.0\r\n\r\n", buf, sizeof(buf));
	assert_non_null(strstr(buf, "HTTP/1.1 200"));
	assert_non_null(strstr(buf, "version=0.0.4"));
	assert_non_null(strstr(buf, "m_total 1\n"));
	http_raw(httpd_port(h), "GET /metrics?x=1 HTTP/1.0\r\n\r\n", buf, sizeof(buf));
	assert_non_null(strstr(buf, "m_total 2\n"));
	http_raw(httpd_port(h), "GET /readyz HTTP/1.0\r\n\r\n", buf, sizeof(buf));
	assert_non_null(strstr(buf, " 503"));
	http_raw(httpd_port(h), "GET /other HTTP/1.0\r\n\r\n", buf, sizeof(buf));
	assert_non_null(strstr(buf, " 404"));
	http_raw(httpd_port(h), "POST /metrics HTTP/1.0\r\nContent-Length: 0\r\n\r\n", buf,
	         sizeof(buf));
	assert_non_null(strstr(buf, " 405"));
	assert_int_equal(calls, 2);
	httpd_free(h);
	httpd_free(NULL);
}

static void test_bad_addresses(void **state)
{
	static const char *bad[] = {"127.0.0.1", "127.0.0.1:x", "127.0.0.1:70000", ":80", NULL};
	httpd_t *h = NULL;
	char err[256];
	(void)state;
	for (int i = 0; bad[i]; i++) {
		err[0] = '\0';
		assert_int_equal(httpd_new(bad[i], &h, err, sizeof(err)), HTTPD_EINVAL);
		assert_null(h);
		assert_true(strlen(err) > 0);
	}
	/* A name that does not resolve fails at start, naming the address. */
	assert_int_equal(httpd_new("no.such.host.invalid:1", &h, err, sizeof(err)), 0);
	assert_true(httpd_start(h, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "no.such.host.invalid"));
	httpd_free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_routes),
	        cmocka_unit_test(test_bad_addresses),
	};
	return cmocka_run_group_tests_name("httpd", tests, NULL, NULL);
}

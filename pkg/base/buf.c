#include "base/buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void base_buf_init(base_buf_t *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

void base_buf_free(base_buf_t *b)
{
	if (b == NULL)
		return;
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void base_buf_reset(base_buf_t *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

static int reserve(base_buf_t *b, size_t n)
{
	size_t need;
	size_t ncap;
	char *p;

	if (n > b->max || b->len > b->max - n)
		return BASE_ETOOBIG;
	need = b->len + n + 1;
	if (need <= b->cap)
		return 0;
	ncap = b->cap ? b->cap : 64;
	while (ncap < need)
		ncap *= 2;
	if (b->max < SIZE_MAX && ncap > b->max + 1)
		ncap = b->max + 1;
	p = realloc(b->data, ncap);
	if (p == NULL)
		return BASE_ENOMEM;
	b->data = p;
	b->cap = ncap;
	return 0;
}

int base_buf_append(base_buf_t *b, const void *p, size_t n)
{
	int rc = reserve(b, n);
	if (rc != 0)
		return rc;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int base_buf_appends(base_buf_t *b, const char *s)
{
	return base_buf_append(b, s, strlen(s));
}

int base_buf_vprintf(base_buf_t *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int n;
	int rc;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return BASE_ENOMEM;
	rc = reserve(b, (size_t)n);
	if (rc != 0)
		return rc;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int base_buf_printf(base_buf_t *b, const char *fmt, ...)
{
	va_list ap;
	int rc;
	va_start(ap, fmt);
	rc = base_buf_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

void base_buf_consume(base_buf_t *b, size_t n)
{
	if (n >= b->len) {
		base_buf_reset(b);
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	b->data[b->len] = '\0';
}

char *base_buf_take(base_buf_t *b, size_t *len)
{
	char *p = b->data;
	if (len)
		*len = b->len;
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	return p;
}

const char *base_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
	case BASE_ENOMEM:
		return "out of memory";
	case BASE_ETOOBIG:
		return "too large";
	default:
		return "unknown error";
	}
}

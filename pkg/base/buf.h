/* pkg/base/buf: a growable byte buffer with a hard cap, for untrusted input
 * (API bodies, /metrics scrapes, Modbus frames). Appending past the cap fails
 * with BASE_ETOOBIG and leaves the buffer as it was (as curl's dynbuf does).
 * The data is always NUL-terminated (the NUL is not counted in len).
 *
 * The buffer owns `data`; base_buf_take() hands it to the caller. */
#ifndef MCP_BASE_BUF_H
#define MCP_BASE_BUF_H

#include <stdarg.h>
#include <stddef.h>

#define BASE_ENOMEM  (-1)
#define BASE_ETOOBIG (-2)

typedef struct {
	char *data;
	size_t len;
	size_t cap; /* allocated bytes */
	size_t max; /* hard cap on len */
} base_buf_t;

/* Initialises an empty buffer that may hold at most max bytes. No allocation. */
void base_buf_init(base_buf_t *b, size_t max);
/* Frees the data; the buffer may be reused after base_buf_init. NULL is fine. */
void base_buf_free(base_buf_t *b);
/* Empties the buffer, keeping its allocation. */
void base_buf_reset(base_buf_t *b);
/* Appends n bytes; 0, BASE_ETOOBIG (len would pass max) or BASE_ENOMEM. */
int base_buf_append(base_buf_t *b, const void *p, size_t n);
int base_buf_appends(base_buf_t *b, const char *s);
int base_buf_printf(base_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int base_buf_vprintf(base_buf_t *b, const char *fmt, va_list ap);
/* Drops the first n bytes (n > len drops all). */
void base_buf_consume(base_buf_t *b, size_t n);
/* Returns the data (caller frees it, may be NULL when empty) and resets b. */
char *base_buf_take(base_buf_t *b, size_t *len);
/* A static string for BASE_E* codes. */
const char *base_strerror(int err);

#endif

#include "base/base64.h"

#include <stdint.h>
#include <stdlib.h>

char *base_base64_encode(const void *p, size_t n)
{
	static const char T[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const uint8_t *s = p;
	char *out;
	size_t o = 0;

	if (n > (SIZE_MAX - 1) / 4 * 3)
		return NULL;
	out = malloc(4 * ((n + 2) / 3) + 1);
	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)s[i] << 16;
		if (i + 1 < n)
			v |= (unsigned)s[i + 1] << 8;
		if (i + 2 < n)
			v |= s[i + 2];
		out[o++] = T[(v >> 18) & 63];
		out[o++] = T[(v >> 12) & 63];
		out[o++] = i + 1 < n ? T[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? T[v & 63] : '=';
	}
	out[o] = '\0';
	return out;
}

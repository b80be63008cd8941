/* pkg/base/base64: standard base64 (RFC 4648, with padding) encoding, for the
 * places that put bytes into Kubernetes objects and kubeconfigs (Secret data,
 * certificate-authority-data, protobuf bytes fields as JSON). */
#ifndef MCP_BASE_BASE64_H
#define MCP_BASE_BASE64_H

#include <stddef.h>

/* Encodes n bytes of p; returns a new NUL-terminated string the caller frees,
 * or NULL when out of memory. */
char *base_base64_encode(const void *p, size_t n);

#endif

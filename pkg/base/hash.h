/* pkg/base/hash: FNV-1a, 32 bits, over caller-owned bytes: the hash of the
 * metric-name tables (pkg/prom, pkg/autoscale) and, as Kubernetes computes
 * pod-template-hash with FNV-32a, of kubesim's ReplicaSet names. Not for
 * anything an attacker may choose to collide with a purpose (the tables
 * above probe linearly and are bounded). */
#ifndef MCP_BASE_HASH_H
#define MCP_BASE_HASH_H

#include <stddef.h>
#include <stdint.h>

static inline uint32_t base_fnv1a(const void *p, size_t n)
{
	const unsigned char *s = p;
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++) {
		h ^= s[i];
		h *= 16777619u;
	}
	return h;
}

#endif

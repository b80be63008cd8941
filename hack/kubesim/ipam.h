/* hack/kubesim/ipam: address allocation from a loopback CIDR (pod IPs,
 * Service ClusterIPs). The network address, the last address and x.x.x.0 /
 * x.x.x.255 are never handed out. Thread safe (one mutex): ClusterIPs are
 * allocated from HTTP threads, pod IPs on the main loop. */
#ifndef KUBESIM_IPAM_H
#define KUBESIM_IPAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ks_ipam ks_ipam_t;

/* Parses "A.B.C.D/N" (N from 16 to 30, inside 127.0.0.0/8, so traffic
 * never leaves the host). NULL with err on a bad range. */
ks_ipam_t *ks_ipam_new(const char *cidr, char *err, size_t errlen);
void ks_ipam_free(ks_ipam_t *a);

/* Next free address (host byte order), round robin so a released address
 * is not reused at once; 0 when the range is full. */
uint32_t ks_ipam_alloc(ks_ipam_t *a);
/* Marks ip used; false when it is outside the range or already used. */
bool ks_ipam_reserve(ks_ipam_t *a, uint32_t ip);
void ks_ipam_release(ks_ipam_t *a, uint32_t ip);
bool ks_ipam_contains(const ks_ipam_t *a, uint32_t ip);

/* Dotted quad of a host-order address into buf; returns buf. Parse: 0 on
 * a bad literal. */
char *ks_ip_str(uint32_t ip, char *buf, size_t cap);
uint32_t ks_ip_parse(const char *s);

#endif

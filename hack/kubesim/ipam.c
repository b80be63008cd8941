#include "ipam.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ks_ipam {
	pthread_mutex_t mu;
	uint32_t base, size, next;
	uint8_t *used; /* one byte per address: simple and small (<= 64 KiB) */
};

uint32_t ks_ip_parse(const char *s)
{
	struct in_addr a;
	if (!s || inet_pton(AF_INET, s, &a) != 1)
		return 0;
	return ntohl(a.s_addr);
}

char *ks_ip_str(uint32_t ip, char *buf, size_t cap)
{
	snprintf(buf, cap, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
	return buf;
}

ks_ipam_t *ks_ipam_new(const char *cidr, char *err, size_t errlen)
{
	char addr[32];
	const char *slash = strchr(cidr, '/');
	char *end;
	long bits;
	if (!slash || (size_t)(slash - cidr) >= sizeof(addr)) {
		snprintf(err, errlen, "\"%s\" is not a CIDR (A.B.C.D/N)", cidr);
		return NULL;
	}
	memcpy(addr, cidr, (size_t)(slash - cidr));
	addr[slash - cidr] = '\0';
	errno = 0;
	bits = strtol(slash + 1, &end, 10);
	uint32_t ip = ks_ip_parse(addr);
	if (errno || *end || bits < 16 || bits > 30 || !ip) {
		snprintf(err, errlen, "\"%s\" is not a CIDR with a prefix from /16 to /30", cidr);
		return NULL;
	}
	if ((ip >> 24) != 127) {
		snprintf(err, errlen, "\"%s\" is not inside 127.0.0.0/8 (loopback only)", cidr);
		return NULL;
	}
	ks_ipam_t *a = calloc(1, sizeof(*a));
	if (!a) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	a->size = 1u << (32 - bits);
	a->base = ip & ~(a->size - 1);
	a->used = calloc(a->size, 1);
	if (!a->used) {
		free(a);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&a->mu, NULL);
	a->next = 1;
	return a;
}

void ks_ipam_free(ks_ipam_t *a)
{
	if (!a)
		return;
	pthread_mutex_destroy(&a->mu);
	free(a->used);
	free(a);
}

static bool usable(const ks_ipam_t *a, uint32_t off)
{
	uint32_t ip = a->base + off;
	return off != 0 && off != a->size - 1 && (ip & 255) != 0 && (ip & 255) != 255;
}

uint32_t ks_ipam_alloc(ks_ipam_t *a)
{
	uint32_t ip = 0;
	pthread_mutex_lock(&a->mu);
	for (uint32_t i = 0; i < a->size; i++) {
		uint32_t off = (a->next + i) % a->size;
		if (usable(a, off) && !a->used[off]) {
			a->used[off] = 1;
			a->next = (off + 1) % a->size;
			ip = a->base + off;
			break;
		}
	}
	pthread_mutex_unlock(&a->mu);
	return ip;
}

bool ks_ipam_contains(const ks_ipam_t *a, uint32_t ip)
{
	return ip >= a->base && ip - a->base < a->size && usable(a, ip - a->base);
}

bool ks_ipam_reserve(ks_ipam_t *a, uint32_t ip)
{
	bool ok = false;
	if (!ks_ipam_contains(a, ip))
		return false;
	pthread_mutex_lock(&a->mu);
	if (!a->used[ip - a->base]) {
		a->used[ip - a->base] = 1;
		ok = true;
	}
	pthread_mutex_unlock(&a->mu);
	return ok;
}

void ks_ipam_release(ks_ipam_t *a, uint32_t ip)
{
	if (!ks_ipam_contains(a, ip))
		return;
	pthread_mutex_lock(&a->mu);
	a->used[ip - a->base] = 0;
	pthread_mutex_unlock(&a->mu);
}

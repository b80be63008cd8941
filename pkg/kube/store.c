#include "kube/store.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube/kube.h"

typedef struct entry {
	char *key;
	uint64_t hash;
	cJSON *obj;
	struct entry *next;
} entry_t;

struct kube_store {
	entry_t **buckets;
	size_t nbuckets;
	size_t count;
};

static uint64_t fnv(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

static char *make_key(const char *ns, const char *name)
{
	size_t a = ns ? strlen(ns) : 0;
	size_t b = strlen(name);
	char *k = malloc(a + b + 2);
	if (k == NULL)
		return NULL;
	if (a) {
		memcpy(k, ns, a);
		k[a++] = '/';
	}
	memcpy(k + a, name, b + 1);
	return k;
}

kube_store_t *kube_store_new(void)
{
	kube_store_t *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->nbuckets = 64;
	s->buckets = calloc(s->nbuckets, sizeof(*s->buckets));
	if (s->buckets == NULL) {
		free(s);
		return NULL;
	}
	return s;
}

void kube_store_free(kube_store_t *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->nbuckets; i++) {
		entry_t *e = s->buckets[i];
		while (e) {
			entry_t *n = e->next;
			cJSON_Delete(e->obj);
			free(e->key);
			free(e);
			e = n;
		}
	}
	free(s->buckets);
	free(s);
}

static void grow(kube_store_t *s)
{
	size_t nb = s->nbuckets * 2;
	entry_t **b = calloc(nb, sizeof(*b));
	if (b == NULL)
		return; /* keep the longer chains; still correct */
	for (size_t i = 0; i < s->nbuckets; i++) {
		entry_t *e = s->buckets[i];
		while (e) {
			entry_t *n = e->next;
			size_t j = e->hash & (nb - 1);
			e->next = b[j];
			b[j] = e;
			e = n;
		}
	}
	free(s->buckets);
	s->buckets = b;
	s->nbuckets = nb;
}

static entry_t **find(const kube_store_t *s, const char *key, uint64_t h)
{
	entry_t **pp = &s->buckets[h & (s->nbuckets - 1)];
	while (*pp && ((*pp)->hash != h || strcmp((*pp)->key, key) != 0))
		pp = &(*pp)->next;
	return pp;
}

int kube_store_put(kube_store_t *s, cJSON *obj, cJSON **old)
{
	const char *name = kube_obj_name(obj);
	char *key;
	uint64_t h;
	entry_t **pp;

	if (old)
		*old = NULL;
	if (name == NULL || name[0] == '\0') {
		cJSON_Delete(obj);
		return KUBE_EINVAL;
	}
	key = make_key(kube_obj_namespace(obj), name);
	if (key == NULL) {
		cJSON_Delete(obj);
		return KUBE_ENOMEM;
	}
	h = fnv(key);
	pp = find(s, key, h);
	if (*pp) {
		if (old)
			*old = (*pp)->obj;
		else
			cJSON_Delete((*pp)->obj);
		(*pp)->obj = obj;
		free(key);
		return 0;
	}
	entry_t *e = calloc(1, sizeof(*e));
	if (e == NULL) {
		free(key);
		cJSON_Delete(obj);
		return KUBE_ENOMEM;
	}
	e->key = key;
	e->hash = h;
	e->obj = obj;
	e->next = s->buckets[h & (s->nbuckets - 1)];
	s->buckets[h & (s->nbuckets - 1)] = e;
	s->count++;
	if (s->count > s->nbuckets)
		grow(s);
	return 0;
}

cJSON *kube_store_remove(kube_store_t *s, const char *ns, const char *name)
{
	char *key;
	entry_t **pp;
	cJSON *obj = NULL;

	if (name == NULL)
		return NULL;
	key = make_key(ns, name);
	if (key == NULL)
		return NULL;
	pp = find(s, key, fnv(key));
	if (*pp) {
		entry_t *e = *pp;
		*pp = e->next;
		obj = e->obj;
		free(e->key);
		free(e);
		s->count--;
	}
	free(key);
	return obj;
}

const cJSON *kube_store_get(const kube_store_t *s, const char *ns, const char *name)
{
	char key[512];
	int n;
	if (name == NULL)
		return NULL;
	if (ns && ns[0])
		n = snprintf(key, sizeof(key), "%s/%s", ns, name);
	else
		n = snprintf(key, sizeof(key), "%s", name);
	if (n < 0 || (size_t)n >= sizeof(key))
		return NULL;
	entry_t **pp = find(s, key, fnv(key));
	return *pp ? (*pp)->obj : NULL;
}

size_t kube_store_count(const kube_store_t *s)
{
	return s ? s->count : 0;
}

void kube_store_foreach(const kube_store_t *s, void (*fn)(const cJSON *obj, void *arg), void *arg)
{
	for (size_t i = 0; i < s->nbuckets; i++) {
		for (entry_t *e = s->buckets[i]; e; e = e->next)
			fn(e->obj, arg);
	}
}

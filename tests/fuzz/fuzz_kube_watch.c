/* libFuzzer harness: the watch-event decoder. The first byte picks a chunk
 * size, so the same stream is also fed in arbitrary splits; events decoded
 * must not depend on the split (checked against a one-shot decode). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kube/watch.h"

struct tally {
	unsigned n;
	uint32_t sum;
};

static int count(kube_event_type_t t, cJSON *obj, void *arg)
{
	struct tally *s = arg;
	s->n++;
	s->sum = s->sum * 31u + (uint32_t)t + (uint32_t)cJSON_GetArraySize(obj);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[128];
	struct tally whole = {0, 0}, split = {0, 0};
	size_t chunk;
	int rc1, rc2 = 0;

	if (size < 1)
		return 0;
	chunk = (size_t)data[0] % 17 + 1;
	data++;
	size--;
	kube_wdec_t *d = kube_wdec_new(4096);
	if (d == NULL)
		return 0;
	rc1 = kube_wdec_feed(d, (const char *)data, size, count, &whole, err, sizeof(err));
	kube_wdec_reset(d);
	for (size_t off = 0; off < size && rc2 == 0; off += chunk) {
		size_t n = size - off < chunk ? size - off : chunk;
		rc2 = kube_wdec_feed(d, (const char *)data + off, n, count, &split, err,
		                     sizeof(err));
	}
	if (rc1 != rc2 || whole.n != split.n || whole.sum != split.sum)
		abort();
	kube_wdec_free(d);
	return 0;
}

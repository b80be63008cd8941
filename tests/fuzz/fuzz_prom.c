/* libFuzzer harness: the Prometheus text parser, the worker extraction and
 * histogram_quantile on whatever buckets the input yields. Any input must give
 * 0 or a PROM_E* code with a NUL-terminated message, never a crash. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "prom/prom.h"

static int count_cb(const prom_sample_t *s, void *ud)
{
	size_t *n = ud;
	/* touch every borrowed string */
	*n += strlen(s->name);
	for (size_t i = 0; i < s->nlabels; i++)
		*n += strlen(s->labels[i].name) + strlen(s->labels[i].value);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	size_t n = 0;
	prom_worker_metrics_t m;
	int rc = prom_parse((const char *)data, size, 1 << 20, count_cb, &n, err, sizeof(err));
	if (rc != 0 && memchr(err, '\0', sizeof(err)) == NULL)
		__builtin_trap();
	rc = prom_worker_extract((const char *)data, size, 1 << 20, &m, err, sizeof(err));
	if (rc == 0) {
		if (m.nbuckets > PROM_MAX_BUCKETS)
			__builtin_trap();
		for (size_t i = 1; i < m.nbuckets; i++) {
			if (!(m.buckets[i - 1].le < m.buckets[i].le))
				__builtin_trap();
		}
		(void)prom_histogram_quantile(0.99, m.buckets, m.nbuckets);
	}
	return 0;
}

/* libFuzzer harness: Kubernetes quantities (pkg/kubeapi/quantity), which the
 * controller reads from API responses (PodMetrics usage, pod requests) and
 * the policy ConfigMap. Any input must give 0 or -1 with a NUL-terminated
 * message, never a crash; and both readings must agree: the milli-units are
 * the float value x 1000 rounded away from zero, within the float's own
 * precision. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kubeapi/quantity.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char s[128], err[256];
	int64_t m = 0;
	double f = 0;
	int rm, rf;
	if (size >= sizeof(s))
		size = sizeof(s) - 1;
	memcpy(s, data, size);
	s[size] = '\0';
	rm = kubeapi_quantity_milli(s, &m, err, sizeof(err));
	if (rm != 0 && memchr(err, '\0', sizeof(err)) == NULL)
		__builtin_trap();
	rf = kubeapi_quantity_float(s, &f, err, sizeof(err));
	if (rf != 0 && memchr(err, '\0', sizeof(err)) == NULL)
		__builtin_trap();
	/* Whatever fits int64 milli-units is a finite double. */
	if (rm == 0 && rf != 0)
		__builtin_trap();
	if (rm == 0 && fabs(f * 1000 - (double)m) > 1 + fabs((double)m) * 1e-12)
		__builtin_trap();
	return 0;
}

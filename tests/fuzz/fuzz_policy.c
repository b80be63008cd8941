/* libFuzzer harness: the policy parser. The input is split into key/value
 * pairs at NUL bytes (key\0value\0key\0value...), so the fuzzer explores both
 * known keys with odd values and the `behavior` YAML. A valid policy must be
 * consistent; an invalid one must come with a message. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "autoscale/autoscale.h"

#define MAXP 32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1);
	const char *parts[2 * MAXP];
	size_t np = 0;
	autoscale_policy_t pol;
	char err[1024];
	int rc;

	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	for (size_t off = 0; off <= size && np < 2 * MAXP;) {
		parts[np++] = buf + off;
		off += strlen(buf + off) + 1;
	}
	if (np % 2)
		np--;
	/* an empty ConfigMap lacks the required keys */
	if (autoscale_policy_parse(NULL, NULL, 0, &pol, err, sizeof(err)) != AUTOSCALE_EINVAL)
		__builtin_trap();
	{
		const char *keys[MAXP], *vals[MAXP];
		for (size_t i = 0; i < np / 2; i++) {
			keys[i] = parts[2 * i];
			vals[i] = parts[2 * i + 1];
		}
		rc = autoscale_policy_parse(keys, vals, np / 2, &pol, err, sizeof(err));
	}
	if (rc == 0) {
		if (pol.min_replicas > pol.max_replicas || pol.pool_min_size > pol.pool_max_size ||
		    pol.scale_up.npolicies == 0 || pol.scale_down.npolicies == 0)
			__builtin_trap();
	} else if (err[0] == '\0') {
		__builtin_trap();
	}
	/* the behavior parser alone on the whole input */
	{
		autoscale_rules_t up, down;
		(void)autoscale_behavior_parse(buf, &up, &down, err, sizeof(err));
	}
	free(buf);
	return 0;
}

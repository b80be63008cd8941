/* libFuzzer harness: the kubeconfig parser (libyaml document walk, merges,
 * base64 -data fields). Any input must give a config or a clean error. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kube/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	kube_config_t *c = NULL;
	err[0] = '\0';
	int rc = kube_config_parse((const char *)data, size, "/base", NULL, &c, err, sizeof(err));
	if (rc == 0) {
		if (c == NULL || c->server == NULL || c->namespace == NULL)
			abort();
		kube_config_free(c);
	} else if (c != NULL || err[0] == '\0') {
		abort();
	}
	return 0;
}

/* libFuzzer harness: label and field selector parsing and matching, and the
 * canonical form re-parsing to an equivalent selector. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kubeapi/kubeapi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	kubeapi_selector_t *s = NULL;
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	cJSON *labels = cJSON_Parse("{\"app\":\"worker\",\"tier\":\"gold\",\"n\":\"5\"}");
	if (kubeapi_selector_parse(text, &s, NULL, 0) == 0) {
		char buf[8192];
		kubeapi_selector_t *s2 = NULL;
		bool m = kubeapi_selector_matches(s, labels);
		kubeapi_selector_format(s, buf, sizeof(buf));
		if (strlen(buf) < sizeof(buf) - 1 &&
		    kubeapi_selector_parse(buf, &s2, NULL, 0) == 0 &&
		    kubeapi_selector_matches(s2, labels) != m)
			abort();
		kubeapi_selector_free(s2);
	}
	kubeapi_selector_free(s);
	s = NULL;
	if (kubeapi_fieldsel_parse(text, &s, NULL, 0) == 0)
		(void)kubeapi_fieldsel_matches(s, labels);
	kubeapi_selector_free(s);
	cJSON_Delete(labels);
	free(text);
	return 0;
}

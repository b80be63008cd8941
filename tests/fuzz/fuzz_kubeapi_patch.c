/* libFuzzer harness: the three patch kinds on a fixed Deployment-like
 * document. Input: first byte picks the kind, the rest is the patch JSON.
 * A failed patch must leave the document unchanged. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kubeapi/kubeapi.h"

static const char DOC[] =
        "{\"metadata\":{\"name\":\"w\",\"labels\":{\"a\":\"1\"},\"finalizers\":[\"x\"]},"
        "\"spec\":{\"replicas\":2,\"template\":{\"spec\":{\"containers\":[{\"name\":\"c\","
        "\"env\":[{\"name\":\"A\",\"value\":\"1\"}],\"ports\":[{\"containerPort\":80}]}]}}},"
        "\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	if (size < 1)
		return 0;
	cJSON *patch = cJSON_ParseWithLength((const char *)data + 1, size - 1);
	cJSON *doc = cJSON_Parse(DOC);
	cJSON *orig = cJSON_Duplicate(doc, 1);
	int rc = 0;
	if (patch && doc) {
		switch (data[0] % 3) {
		case 0:
			rc = kubeapi_merge_patch(&doc, patch);
			break;
		case 1:
			rc = kubeapi_json_patch(&doc, patch, err, sizeof(err));
			break;
		default:
			rc = kubeapi_strategic_merge_patch(&doc, patch, NULL, err, sizeof(err));
			break;
		}
		if (rc != 0 && !cJSON_Compare(doc, orig, 1))
			abort();
	}
	cJSON_Delete(orig);
	cJSON_Delete(doc);
	cJSON_Delete(patch);
	return 0;
}

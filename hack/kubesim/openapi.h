/* hack/kubesim/openapi: the OpenAPI v3 discovery that kubectl reads to
 * decide on server-side field validation (see openapi.c for why it is
 * deliberately small). */
#ifndef KUBESIM_OPENAPI_H
#define KUBESIM_OPENAPI_H

#include <cjson/cJSON.h>

#include "resources.h"

/* /openapi/v3: the index of group-version documents (new tree). */
cJSON *ks_openapi_root(void);
/* /openapi/v3/api/v1, /openapi/v3/apis/G/V: NULL when unknown. */
cJSON *ks_openapi_gv(const char *gvpath);

#endif

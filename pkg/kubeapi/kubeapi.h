/* pkg/kubeapi: pure pieces of the Kubernetes API machinery, shared by
 * hack/kubesim (the local API server) and, later, pkg/kube (the client):
 *   - label selectors (equality and set-based) and field selectors,
 *   - JSON merge patch (RFC 7386), JSON patch (RFC 6902),
 *   - strategic merge patch as kubectl sends it for built-in kinds.
 * Resource quantities ("250m", "1Gi") are in kubeapi/quantity.h, which needs
 * no cJSON (pkg/autoscale reads its tolerances with it).
 * No I/O, no global state; objects are cJSON trees. Thread safe as long as
 * callers do not share a tree being modified. */
#ifndef MCP_KUBEAPI_KUBEAPI_H
#define MCP_KUBEAPI_KUBEAPI_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#define KUBEAPI_EINVAL  (-1) /* malformed input (selector, patch, pointer) */
#define KUBEAPI_ENOMEM  (-2) /* allocation failed */
#define KUBEAPI_ETEST   (-3) /* a JSON patch "test" operation failed */
#define KUBEAPI_ENOPATH (-4) /* a JSON patch path does not exist */
#define KUBEAPI_ETOOBIG (-5) /* input beyond a fixed limit */

/* A static sentence for a KUBEAPI_E* code. */
const char *kubeapi_strerror(int err);

/* ---- selectors ---------------------------------------------------------- */

typedef struct kubeapi_selector kubeapi_selector_t;

/* Parses a label selector in the text form of the API's labelSelector
 * query parameter: comma-separated requirements
 *   key | !key | key=v | key==v | key!=v | key in (a,b) | key notin (a,b)
 *   | key>N | key<N
 * An empty or NULL text selects everything. On success *out is a new
 * selector owned by the caller (kubeapi_selector_free). Returns 0, or
 * KUBEAPI_EINVAL with err naming the problem, or KUBEAPI_ENOMEM. */
int kubeapi_selector_parse(const char *text, kubeapi_selector_t **out, char *err, size_t errlen);

/* Parses a field selector (key=v, key==v, key!=v, comma separated). Keys are
 * dotted paths into the object ("metadata.name", "status.phase",
 * "involvedObject.uid"); a missing field compares as "". Same contract as
 * kubeapi_selector_parse. */
int kubeapi_fieldsel_parse(const char *text, kubeapi_selector_t **out, char *err, size_t errlen);

/* Builds a selector from the API's LabelSelector object
 * ({"matchLabels":{..},"matchExpressions":[{key,operator,values}]}); NULL or
 * an empty object selects everything (as Kubernetes' LabelSelectorAsSelector).
 * Same contract as kubeapi_selector_parse. */
int kubeapi_selector_from_json(const cJSON *label_selector, kubeapi_selector_t **out, char *err,
                               size_t errlen);

/* True when the label map (a cJSON object of strings, NULL = no labels)
 * satisfies every requirement of a label selector. */
bool kubeapi_selector_matches(const kubeapi_selector_t *s, const cJSON *labels);

/* True when an object satisfies every requirement of a field selector. */
bool kubeapi_fieldsel_matches(const kubeapi_selector_t *s, const cJSON *obj);

/* True when the selector has no requirement (selects everything). */
bool kubeapi_selector_empty(const kubeapi_selector_t *s);

/* Writes the canonical text form ("a=b,c in (x,y)") into buf; returns buf. */
char *kubeapi_selector_format(const kubeapi_selector_t *s, char *buf, size_t cap);

/* Frees a selector; NULL is a no-op. */
void kubeapi_selector_free(kubeapi_selector_t *s);

/* Checks a label selector and a field selector in text form (either may be
 * NULL or empty) without keeping them: for clients that send them to the API
 * and want a clear local error first. 0, or KUBEAPI_EINVAL / KUBEAPI_ENOMEM
 * with err naming the problem. */
int kubeapi_selectors_validate(const char *labels, const char *fields, char *err, size_t errlen);

/* Resolves a dotted path ("metadata.name"; a number indexes an array:
 * "spec.containers.0.image") in obj; returns a borrowed node or NULL when a
 * step is missing. */
const cJSON *kubeapi_get_path(const cJSON *obj, const char *dotted);

/* ---- patches ------------------------------------------------------------ */

/* Applies an RFC 7386 JSON merge patch to *doc in place. *doc may be replaced
 * (a non-object patch replaces the whole document); the old tree is freed.
 * `patch` is borrowed. Returns 0 or KUBEAPI_ENOMEM. */
int kubeapi_merge_patch(cJSON **doc, const cJSON *patch);

/* Applies an RFC 6902 JSON patch (an array of operations) to *doc. Atomic:
 * on failure *doc is untouched. Returns 0, KUBEAPI_EINVAL (malformed
 * operation), KUBEAPI_ENOPATH, KUBEAPI_ETEST or KUBEAPI_ENOMEM, with err
 * naming the operation index and problem. */
int kubeapi_json_patch(cJSON **doc, const cJSON *ops, char *err, size_t errlen);

/* Schema knowledge a strategic merge patch needs: for a list field, the key
 * that identifies its elements. A rule applies to a list named `field` whose
 * parent object is named `parent` ("*" matches any parent). merge_key NULL
 * with `set` true means a list of primitives merged as a set (finalizers).
 * Lists without a rule are replaced wholesale, as Kubernetes does for
 * atomic lists. */
typedef struct {
	const char *parent;
	const char *field;
	const char *merge_key;
	bool set;
} kubeapi_smp_rule_t;

/* The rules for the built-in kinds kubesim serves (Pod specs and templates,
 * Services, metadata, conditions), ended by a {NULL} entry. */
extern const kubeapi_smp_rule_t kubeapi_smp_builtin[];

/* Applies a strategic merge patch (as `kubectl apply/edit/label/scale`
 * send) to *doc. Supports null deletion, merge-key lists, primitive-set
 * lists, and the directives $patch (replace/delete/merge), $retainKeys,
 * $setElementOrder/<f> and $deleteFromPrimitiveList/<f>. Atomic: on failure
 * *doc is untouched. `rules` NULL means kubeapi_smp_builtin. Returns 0,
 * KUBEAPI_EINVAL (bad directive, err says which) or KUBEAPI_ENOMEM. */
int kubeapi_strategic_merge_patch(cJSON **doc, const cJSON *patch, const kubeapi_smp_rule_t *rules,
                                  char *err, size_t errlen);

#endif

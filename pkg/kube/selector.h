/* pkg/kube/selector: Kubernetes label selectors, as labels.Parse accepts them:
 * comma-separated requirements of the forms
 *   key=value  key==value  key!=value  key in (a,b)  key notin (a,b)  key  !key
 * Keys are [prefix/]name (name <= 63 chars, alphanumeric at both ends, '-',
 * '_', '.' inside; prefix a DNS subdomain <= 253); values <= 63 chars of the
 * same alphabet, or empty. The empty selector matches everything.
 * Used to validate selectors before they go into a URL and to filter objects
 * locally (tests' fake API server, informer sanity checks). */
#ifndef MCP_KUBE_SELECTOR_H
#define MCP_KUBE_SELECTOR_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

typedef struct kube_selector kube_selector_t;

/* Parses s. Returns 0 and *out (caller frees with kube_selector_free), or
 * KUBE_EINVAL with err naming the problem and its position, or KUBE_ENOMEM. */
int kube_selector_parse(const char *s, kube_selector_t **out, char *err, size_t errlen);
/* True when labels (a JSON object of string values, NULL = none) satisfy
 * every requirement. */
bool kube_selector_match(const kube_selector_t *sel, const cJSON *labels);
/* Number of requirements. */
size_t kube_selector_count(const kube_selector_t *sel);
void kube_selector_free(kube_selector_t *sel);

/* Validates a field selector: comma-separated field=value, field==value or
 * field!=value (fields like metadata.name, status.phase). 0 or KUBE_EINVAL. */
int kube_field_selector_validate(const char *s, char *err, size_t errlen);

#endif

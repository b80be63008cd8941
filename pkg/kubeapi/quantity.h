/* pkg/kubeapi/quantity: Kubernetes resource quantities ("250m", "1.5Gi",
 * "1e3"), after k8s.io/apimachinery/pkg/api/resource. Pure functions of a
 * caller-owned string; no allocation, no global state, thread safe.
 *
 * The grammar, strict as Kubernetes' ParseQuantity: [+-] digits [. digits]
 * (at least one digit), then nothing, a decimal SI suffix (n u m k M G T P
 * E), a binary one (Ki Mi Gi Ti Pi Ei) or a decimal exponent (e3, E-2), and
 * nothing else (no spaces, no hex, no "inf"). Errors name the quantity and
 * the problem (empty, no number, unknown suffix, too many digits, out of
 * range). Used by the controller (CPU requests and usage) and by
 * pkg/autoscale (behavior tolerances). */
#ifndef MCP_KUBEAPI_QUANTITY_H
#define MCP_KUBEAPI_QUANTITY_H

#include <stddef.h>
#include <stdint.h>

/* The value in milli-units rounded away from zero, as Quantity.MilliValue()
 * ("1500000n" -> 2, "12345u" -> 13). Returns 0, or -1 with err set (out of
 * range: beyond int64 milli-units). */
int kubeapi_quantity_milli(const char *s, int64_t *out, char *err, size_t errlen);

/* The value as the nearest double, as Quantity.AsApproximateFloat64()
 * ("0.05", "50m" -> 0.05). Returns 0, or -1 with err set (out of range: not
 * finite as a double). */
int kubeapi_quantity_float(const char *s, double *out, char *err, size_t errlen);

#endif

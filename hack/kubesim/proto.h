/* hack/kubesim/proto: decodes the Kubernetes protobuf envelope
 * ("k8s\0" + runtime.Unknown) that kubectl's typed clients send for
 * `kubectl create namespace|configmap|secret|serviceaccount|deployment|
 * service ...`, `kubectl run` and `kubectl expose`, for the fields those kinds and generators use.
 * Decoding is schema-driven and strict: a field kubesim does not know fails with 415, so nothing is
 * silently dropped. Pure function; thread safe. */
#ifndef KUBESIM_PROTO_H
#define KUBESIM_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "resources.h"

/* Decodes an envelope carrying an object of kind rt into a new JSON tree
 * (owned by the caller). NULL with e set: 415 for kinds or fields not
 * supported, 400 for malformed input. */
cJSON *ks_proto_decode(const ks_rtype_t *rt, const uint8_t *data, size_t len, ks_err_t *e);

#endif

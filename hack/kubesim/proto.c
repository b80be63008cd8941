#include "proto.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/base64.h"

typedef enum {
	T_STR,       /* string */
	T_INT,       /* varint, JSON number; 0 dropped (a non-pointer Go field) */
	T_PINT,      /* varint of a pointer field: 0 kept (replicas: 0) */
	T_BOOL,      /* varint 0/1; false dropped */
	T_PBOOL,     /* pointer bool: false kept */
	T_BYTES,     /* bytes, JSON base64 string */
	T_MSG,       /* nested message (sub schema) */
	T_REP_STR,   /* repeated string */
	T_REP_MSG,   /* repeated message */
	T_MAP_STR,   /* map<string,string> */
	T_MAP_BYTES, /* map<string,bytes> (base64 values) */
	T_MAP_QTY,   /* map<string,Quantity> */
	T_TIME,      /* meta.v1.Time {seconds, nanos} -> RFC 3339 */
	T_IOS,       /* IntOrString */
	T_SKIP,      /* accepted and ignored (status on create) */
} ftype_t;

typedef struct field {
	int num;
	const char *name;
	ftype_t type;
	const struct field *sub; /* T_MSG, T_REP_MSG; ended by {0} */
} field_t;

#define END                                                                                        \
	{                                                                                          \
		0, NULL, T_STR, NULL                                                               \
	}

static const field_t OWNER_REF[] = {{1, "kind", T_STR, NULL},
                                    {3, "name", T_STR, NULL},
                                    {4, "uid", T_STR, NULL},
                                    {5, "apiVersion", T_STR, NULL},
                                    {6, "controller", T_PBOOL, NULL},
                                    {7, "blockOwnerDeletion", T_PBOOL, NULL},
                                    END};
static const field_t META[] = {
        {1, "name", T_STR, NULL},
        {2, "generateName", T_STR, NULL},
        {3, "namespace", T_STR, NULL},
        {4, "selfLink", T_STR, NULL},
        {5, "uid", T_STR, NULL},
        {6, "resourceVersion", T_STR, NULL},
        {7, "generation", T_INT, NULL},
        {8, "creationTimestamp", T_TIME, NULL},
        {9, "deletionTimestamp", T_TIME, NULL},
        {10, "deletionGracePeriodSeconds", T_PINT, NULL},
        {11, "labels", T_MAP_STR, NULL},
        {12, "annotations", T_MAP_STR, NULL},
        {13, "ownerReferences", T_REP_MSG, OWNER_REF},
        {14, "finalizers", T_REP_STR, NULL},
        {17, "managedFields", T_SKIP, NULL},
        END,
};
static const field_t OBJ_REF[] = {
        {1, "kind", T_STR, NULL},       {2, "namespace", T_STR, NULL},
        {3, "name", T_STR, NULL},       {4, "uid", T_STR, NULL},
        {5, "apiVersion", T_STR, NULL}, {6, "resourceVersion", T_STR, NULL},
        {7, "fieldPath", T_STR, NULL},  END};
static const field_t LOCAL_REF[] = {{1, "name", T_STR, NULL}, END};
static const field_t NS_SPEC[] = {{1, "finalizers", T_REP_STR, NULL}, END};

static const field_t CONFIGMAP[] = {{1, "metadata", T_MSG, META},
                                    {2, "data", T_MAP_STR, NULL},
                                    {3, "binaryData", T_MAP_BYTES, NULL},
                                    {4, "immutable", T_PBOOL, NULL},
                                    END};
static const field_t SECRET[] = {
        {1, "metadata", T_MSG, META},    {2, "data", T_MAP_BYTES, NULL},
        {3, "type", T_STR, NULL},        {4, "stringData", T_MAP_STR, NULL},
        {5, "immutable", T_PBOOL, NULL}, END};
static const field_t NAMESPACE[] = {{1, "metadata", T_MSG, META},
                                    {2, "spec", T_MSG, NS_SPEC},
                                    {3, "status", T_SKIP, NULL},
                                    END};
static const field_t SERVICEACCOUNT[] = {{1, "metadata", T_MSG, META},
                                         {2, "secrets", T_REP_MSG, OBJ_REF},
                                         {3, "imagePullSecrets", T_REP_MSG, LOCAL_REF},
                                         {4, "automountServiceAccountToken", T_PBOOL, NULL},
                                         END};

static const field_t REQ[] = {
        {1, "key", T_STR, NULL}, {2, "operator", T_STR, NULL}, {3, "values", T_REP_STR, NULL}, END};
static const field_t LABEL_SEL[] = {
        {1, "matchLabels", T_MAP_STR, NULL}, {2, "matchExpressions", T_REP_MSG, REQ}, END};
static const field_t CPORT[] = {{1, "name", T_STR, NULL},          {2, "hostPort", T_INT, NULL},
                                {3, "containerPort", T_INT, NULL}, {4, "protocol", T_STR, NULL},
                                {5, "hostIP", T_STR, NULL},        END};
static const field_t ENVVAR[] = {{1, "name", T_STR, NULL}, {2, "value", T_STR, NULL}, END};
static const field_t RESOURCES[] = {
        {1, "limits", T_MAP_QTY, NULL}, {2, "requests", T_MAP_QTY, NULL}, END};
static const field_t CONTAINER[] = {{1, "name", T_STR, NULL},
                                    {2, "image", T_STR, NULL},
                                    {3, "command", T_REP_STR, NULL},
                                    {4, "args", T_REP_STR, NULL},
                                    {5, "workingDir", T_STR, NULL},
                                    {6, "ports", T_REP_MSG, CPORT},
                                    {7, "env", T_REP_MSG, ENVVAR},
                                    {8, "resources", T_MSG, RESOURCES},
                                    {13, "terminationMessagePath", T_STR, NULL},
                                    {14, "imagePullPolicy", T_STR, NULL},
                                    {20, "terminationMessagePolicy", T_STR, NULL},
                                    END};
static const field_t POD_SPEC[] = {{2, "containers", T_REP_MSG, CONTAINER},
                                   {3, "restartPolicy", T_STR, NULL},
                                   {4, "terminationGracePeriodSeconds", T_PINT, NULL},
                                   {6, "dnsPolicy", T_STR, NULL},
                                   {7, "nodeSelector", T_MAP_STR, NULL},
                                   {8, "serviceAccountName", T_STR, NULL},
                                   {9, "serviceAccount", T_STR, NULL},
                                   {10, "nodeName", T_STR, NULL},
                                   {19, "schedulerName", T_STR, NULL},
                                   {20, "initContainers", T_REP_MSG, CONTAINER},
                                   END};
static const field_t POD_TEMPLATE[] = {
        {1, "metadata", T_MSG, META}, {2, "spec", T_MSG, POD_SPEC}, END};
static const field_t ROLLING[] = {
        {1, "maxUnavailable", T_IOS, NULL}, {2, "maxSurge", T_IOS, NULL}, END};
static const field_t STRATEGY[] = {
        {1, "type", T_STR, NULL}, {2, "rollingUpdate", T_MSG, ROLLING}, END};
static const field_t DEPLOY_SPEC[] = {{1, "replicas", T_PINT, NULL},
                                      {2, "selector", T_MSG, LABEL_SEL},
                                      {3, "template", T_MSG, POD_TEMPLATE},
                                      {4, "strategy", T_MSG, STRATEGY},
                                      {5, "minReadySeconds", T_INT, NULL},
                                      {6, "revisionHistoryLimit", T_PINT, NULL},
                                      {7, "paused", T_BOOL, NULL},
                                      {9, "progressDeadlineSeconds", T_PINT, NULL},
                                      END};
static const field_t DEPLOYMENT[] = {{1, "metadata", T_MSG, META},
                                     {2, "spec", T_MSG, DEPLOY_SPEC},
                                     {3, "status", T_SKIP, NULL},
                                     END};
static const field_t POD[] = {{1, "metadata", T_MSG, META},
                              {2, "spec", T_MSG, POD_SPEC},
                              {3, "status", T_SKIP, NULL},
                              END};
static const field_t SPORT[] = {{1, "name", T_STR, NULL},     {2, "protocol", T_STR, NULL},
                                {3, "port", T_INT, NULL},     {4, "targetPort", T_IOS, NULL},
                                {5, "nodePort", T_INT, NULL}, END};
static const field_t SVC_SPEC[] = {{1, "ports", T_REP_MSG, SPORT},
                                   {2, "selector", T_MAP_STR, NULL},
                                   {3, "clusterIP", T_STR, NULL},
                                   {4, "type", T_STR, NULL},
                                   {5, "externalIPs", T_REP_STR, NULL},
                                   {7, "sessionAffinity", T_STR, NULL},
                                   {10, "externalName", T_STR, NULL},
                                   {18, "clusterIPs", T_REP_STR, NULL},
                                   END};
static const field_t SERVICE[] = {{1, "metadata", T_MSG, META},
                                  {2, "spec", T_MSG, SVC_SPEC},
                                  {3, "status", T_SKIP, NULL},
                                  END};

static const struct {
	const char *group, *kind;
	const field_t *schema;
} KINDS[] = {
        {"", "ConfigMap", CONFIGMAP},
        {"", "Secret", SECRET},
        {"", "Namespace", NAMESPACE},
        {"", "ServiceAccount", SERVICEACCOUNT},
        {"apps", "Deployment", DEPLOYMENT},
        {"", "Service", SERVICE},
        {"", "Pod", POD},
};

typedef struct {
	const uint8_t *p, *end;
} rd_t;

static bool varint(rd_t *r, uint64_t *out)
{
	uint64_t v = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		if (r->p >= r->end)
			return false;
		uint8_t b = *r->p++;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*out = v;
			return true;
		}
	}
	return false;
}

/* Reads one key; *wt wire type, *num field number. */
static bool key(rd_t *r, int *num, int *wt)
{
	uint64_t k;
	if (!varint(r, &k) || (k >> 3) == 0 || (k >> 3) > 536870911)
		return false;
	*num = (int)(k >> 3);
	*wt = (int)(k & 7);
	return true;
}

static bool lenbytes(rd_t *r, rd_t *sub)
{
	uint64_t n;
	if (!varint(r, &n) || n > (uint64_t)(r->end - r->p))
		return false;
	sub->p = r->p;
	sub->end = r->p + n;
	r->p += n;
	return true;
}

static bool skip(rd_t *r, int wt)
{
	uint64_t v;
	rd_t s;
	switch (wt) {
	case 0:
		return varint(r, &v);
	case 1:
		if (r->end - r->p < 8)
			return false;
		r->p += 8;
		return true;
	case 2:
		return lenbytes(r, &s);
	case 5:
		if (r->end - r->p < 4)
			return false;
		r->p += 4;
		return true;
	default:
		return false;
	}
}

static char *dupn(const uint8_t *p, size_t n)
{
	char *s = malloc(n + 1);
	if (s) {
		memcpy(s, p, n);
		s[n] = '\0';
	}
	return s;
}

static int decode_msg(rd_t *r, const field_t *schema, cJSON *out, int depth, ks_err_t *e);

static int bad(ks_err_t *e, const char *what)
{
	return ks_err_set(e, 400, "BadRequest", "malformed protobuf body: %s", what);
}

/* Decodes a map entry {1: key, 2: value} into obj. */
static int map_entry(rd_t *r, ftype_t t, cJSON *obj, ks_err_t *e)
{
	char *k = NULL;
	cJSON *v = NULL;
	while (r->p < r->end) {
		int num, wt;
		rd_t s;
		if (!key(r, &num, &wt))
			goto malformed;
		if (wt != 2) {
			if (!skip(r, wt))
				goto malformed;
			continue;
		}
		if (!lenbytes(r, &s))
			goto malformed;
		if (num == 1) {
			free(k);
			k = dupn(s.p, (size_t)(s.end - s.p));
		} else if (num == 2) {
			cJSON_Delete(v);
			if (t == T_MAP_STR) {
				char *str = dupn(s.p, (size_t)(s.end - s.p));
				v = cJSON_CreateString(str ? str : "");
				free(str);
			} else if (t == T_MAP_BYTES) {
				char *enc = base_base64_encode(s.p, (size_t)(s.end - s.p));
				v = cJSON_CreateString(enc ? enc : "");
				free(enc);
			} else { /* Quantity {1: string} */
				int qn, qwt;
				rd_t qs;
				v = NULL;
				while (s.p < s.end) {
					if (!key(&s, &qn, &qwt))
						goto malformed;
					if (qn == 1 && qwt == 2 && lenbytes(&s, &qs)) {
						char *str = dupn(qs.p, (size_t)(qs.end - qs.p));
						cJSON_Delete(v);
						v = cJSON_CreateString(str ? str : "");
						free(str);
					} else if (!skip(&s, qwt)) {
						goto malformed;
					}
				}
			}
		}
	}
	if (k) {
		cJSON_DeleteItemFromObjectCaseSensitive(obj, k);
		cJSON_AddItemToObject(obj, k, v ? v : cJSON_CreateString(""));
		v = NULL;
	}
	free(k);
	cJSON_Delete(v);
	return 0;
malformed:
	free(k);
	cJSON_Delete(v);
	return bad(e, "map entry");
}

static cJSON *time_value(rd_t *s, ks_err_t *e)
{
	uint64_t secs = 0, v;
	int num, wt;
	while (s->p < s->end) {
		if (!key(s, &num, &wt))
			return NULL;
		if (num == 1 && wt == 0) {
			if (!varint(s, &secs))
				return NULL;
		} else if (!(wt == 0 ? varint(s, &v) : skip(s, wt))) {
			return NULL;
		}
	}
	if (secs == 0)
		return cJSON_CreateNull(); /* the zero Time: absent */
	time_t t = (time_t)(int64_t)secs;
	struct tm tm;
	char buf[32];
	if (!gmtime_r(&t, &tm) || strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return NULL;
	(void)e;
	return cJSON_CreateString(buf);
}

static cJSON *ios_value(rd_t *s)
{
	uint64_t type = 0, iv = 0;
	char *str = NULL;
	int num, wt;
	rd_t sub;
	while (s->p < s->end) {
		if (!key(s, &num, &wt))
			goto fail;
		if (wt == 0 && (num == 1 || num == 2)) {
			if (!varint(s, num == 1 ? &type : &iv))
				goto fail;
		} else if (wt == 2 && num == 3) {
			if (!lenbytes(s, &sub))
				goto fail;
			free(str);
			str = dupn(sub.p, (size_t)(sub.end - sub.p));
		} else if (!skip(s, wt)) {
			goto fail;
		}
	}
	cJSON *v = type == 1 ? cJSON_CreateString(str ? str : "")
	                     : cJSON_CreateNumber((double)(int32_t)iv);
	free(str);
	return v;
fail:
	free(str);
	return NULL;
}

static int decode_msg(rd_t *r, const field_t *schema, cJSON *out, int depth, ks_err_t *e)
{
	if (depth > 32)
		return bad(e, "nested too deeply");
	while (r->p < r->end) {
		int num, wt;
		const field_t *f = NULL;
		uint64_t v;
		rd_t s;
		if (!key(r, &num, &wt))
			return bad(e, "field key");
		for (const field_t *g = schema; g->num; g++) {
			if (g->num == num)
				f = g;
		}
		if (!f) {
			/* gogo-protobuf emits every non-pointer field, zero or not;
			 * a zero value equals the field's absence in JSON. */
			rd_t peek = *r;
			rd_t z;
			if ((wt == 0 && varint(&peek, &v) && v == 0) ||
			    (wt == 2 && lenbytes(&peek, &z) && z.p == z.end)) {
				*r = peek;
				continue;
			}
		}
		if (!f)
			return ks_err_set(
			        e, 415, "UnsupportedMediaType",
			        "kubesim decodes only part of the protobuf schema (field %d is "
			        "not known); send application/json",
			        num);
		if (f->type == T_SKIP) {
			if (!skip(r, wt))
				return bad(e, f->name);
			continue;
		}
		if (f->type == T_INT || f->type == T_BOOL || f->type == T_PINT ||
		    f->type == T_PBOOL) {
			if (wt != 0 || !varint(r, &v))
				return bad(e, f->name);
			cJSON_DeleteItemFromObjectCaseSensitive(out, f->name);
			if (v == 0 && (f->type == T_INT || f->type == T_BOOL))
				continue; /* zero value of a non-pointer field: absent in JSON */
			if (f->type == T_BOOL || f->type == T_PBOOL)
				cJSON_AddBoolToObject(out, f->name, v != 0);
			else
				cJSON_AddNumberToObject(out, f->name, (double)(int64_t)v);
			continue;
		}
		if (wt != 2 || !lenbytes(r, &s))
			return bad(e, f->name);
		cJSON *item = NULL;
		switch (f->type) {
		case T_STR:
		case T_BYTES: {
			if (s.p == s.end)
				break; /* "" is how gogo-protobuf writes an unset string */
			char *str = f->type == T_STR
			                    ? dupn(s.p, (size_t)(s.end - s.p))
			                    : base_base64_encode(s.p, (size_t)(s.end - s.p));
			item = cJSON_CreateString(str ? str : "");
			free(str);
			cJSON_DeleteItemFromObjectCaseSensitive(out, f->name);
			cJSON_AddItemToObject(out, f->name, item);
			break;
		}
		case T_MSG: {
			item = cJSON_GetObjectItemCaseSensitive(out, f->name);
			if (!item)
				item = cJSON_AddObjectToObject(out, f->name);
			int rc = decode_msg(&s, f->sub, item, depth + 1, e);
			if (rc)
				return rc;
			break;
		}
		case T_REP_STR:
		case T_REP_MSG: {
			cJSON *arr = cJSON_GetObjectItemCaseSensitive(out, f->name);
			if (!arr)
				arr = cJSON_AddArrayToObject(out, f->name);
			if (f->type == T_REP_STR) {
				char *str = dupn(s.p, (size_t)(s.end - s.p));
				cJSON_AddItemToArray(arr, cJSON_CreateString(str ? str : ""));
				free(str);
			} else {
				cJSON *m = cJSON_CreateObject();
				cJSON_AddItemToArray(arr, m);
				int rc = decode_msg(&s, f->sub, m, depth + 1, e);
				if (rc)
					return rc;
			}
			break;
		}
		case T_MAP_STR:
		case T_MAP_BYTES:
		case T_MAP_QTY: {
			cJSON *map = cJSON_GetObjectItemCaseSensitive(out, f->name);
			if (!map)
				map = cJSON_AddObjectToObject(out, f->name);
			int rc = map_entry(&s, f->type, map, e);
			if (rc)
				return rc;
			break;
		}
		case T_TIME:
		case T_IOS:
			item = f->type == T_TIME ? time_value(&s, e) : ios_value(&s);
			if (!item)
				return bad(e, f->name);
			cJSON_DeleteItemFromObjectCaseSensitive(out, f->name);
			if (cJSON_IsNull(item))
				cJSON_Delete(item);
			else
				cJSON_AddItemToObject(out, f->name, item);
			break;
		default:
			return bad(e, f->name);
		}
	}
	return 0;
}

cJSON *ks_proto_decode(const ks_rtype_t *rt, const uint8_t *data, size_t len, ks_err_t *e)
{
	const field_t *schema = NULL;
	rd_t r = {data + 4, data + len};
	rd_t raw = {NULL, NULL};
	cJSON *out;

	for (size_t i = 0; i < sizeof(KINDS) / sizeof(KINDS[0]); i++) {
		if (strcmp(KINDS[i].kind, rt->kind) == 0 && strcmp(KINDS[i].group, rt->group) == 0)
			schema = KINDS[i].schema;
	}
	if (!schema) {
		ks_err_set(e, 415, "UnsupportedMediaType",
		           "kubesim accepts protobuf bodies only for ConfigMap, Secret, Namespace, "
		           "ServiceAccount, Service, Pod and Deployment; send application/json");
		return NULL;
	}
	if (len < 4 || memcmp(data, "k8s\0", 4) != 0) {
		bad(e, "missing the k8s envelope");
		return NULL;
	}
	while (r.p < r.end) {
		int num, wt;
		rd_t s;
		if (!key(&r, &num, &wt)) {
			bad(e, "envelope");
			return NULL;
		}
		if (wt == 2 && num == 2) {
			if (!lenbytes(&r, &raw)) {
				bad(e, "envelope raw");
				return NULL;
			}
		} else if (wt == 2 && num == 4) {
			if (!lenbytes(&r, &s)) {
				bad(e, "envelope");
				return NULL;
			}
			if (s.end > s.p) {
				ks_err_set(e, 415, "UnsupportedMediaType",
				           "nested content types in protobuf are not supported");
				return NULL;
			}
		} else if (!skip(&r, wt)) {
			bad(e, "envelope");
			return NULL;
		}
	}
	if (!raw.p) {
		bad(e, "envelope without an object");
		return NULL;
	}
	out = cJSON_CreateObject();
	if (!out) {
		ks_err_set(e, 500, "InternalError", "out of memory");
		return NULL;
	}
	if (decode_msg(&raw, schema, out, 0, e)) {
		cJSON_Delete(out);
		return NULL;
	}
	return out;
}

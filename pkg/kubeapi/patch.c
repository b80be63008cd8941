/* JSON merge patch (RFC 7386), JSON patch (RFC 6902) and strategic merge
 * patch (k8s.io/apimachinery/pkg/util/strategicpatch, the subset kubectl
 * sends for built-in kinds). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubeapi/kubeapi.h"

#define PATCH_MAX_DEPTH 64

/* Puts v (NULL: allocation failed) in place of *doc, which is freed. */
static int set_doc(cJSON **doc, cJSON *v)
{
	if (!v)
		return KUBEAPI_ENOMEM;
	cJSON_Delete(*doc);
	*doc = v;
	return 0;
}

/* ---- RFC 7386 ------------------------------------------------------------ */

static int merge_rec(cJSON **doc, const cJSON *patch, int depth)
{
	const cJSON *it;
	if (depth > PATCH_MAX_DEPTH)
		return KUBEAPI_ETOOBIG;
	if (!cJSON_IsObject(patch)) /* a non-object patch replaces the document */
		return set_doc(doc, cJSON_Duplicate(patch, 1));
	if ((!*doc || !cJSON_IsObject(*doc)) && set_doc(doc, cJSON_CreateObject()) != 0)
		return KUBEAPI_ENOMEM;
	cJSON_ArrayForEach(it, patch)
	{
		if (cJSON_IsNull(it)) {
			cJSON_DeleteItemFromObjectCaseSensitive(*doc, it->string);
			continue;
		}
		cJSON *cur = cJSON_DetachItemFromObjectCaseSensitive(*doc, it->string);
		int rc = merge_rec(&cur, it, depth + 1);
		if (rc) {
			cJSON_Delete(cur);
			return rc;
		}
		cJSON_AddItemToObject(*doc, it->string, cur);
	}
	return 0;
}

int kubeapi_merge_patch(cJSON **doc, const cJSON *patch)
{
	cJSON *work = *doc ? cJSON_Duplicate(*doc, 1) : NULL;
	int rc;
	if (*doc && !work)
		return KUBEAPI_ENOMEM;
	rc = merge_rec(&work, patch, 0);
	if (rc) {
		cJSON_Delete(work);
		return rc;
	}
	cJSON_Delete(*doc);
	*doc = work;
	return 0;
}

/* ---- RFC 6902 ------------------------------------------------------------ */

/* Decodes one reference token (~1 -> /, ~0 -> ~) into out. */
static int pointer_token(const char **pp, char *out, size_t cap)
{
	const char *p = *pp;
	size_t o = 0;
	while (*p && *p != '/') {
		char c = *p++;
		if (c == '~') {
			if (*p == '0')
				c = '~';
			else if (*p == '1')
				c = '/';
			else
				return KUBEAPI_EINVAL;
			p++;
		}
		if (o + 1 >= cap)
			return KUBEAPI_ETOOBIG;
		out[o++] = c;
	}
	out[o] = '\0';
	*pp = p;
	return 0;
}

static int parse_index(const char *tok, size_t size, bool allow_end, size_t *out)
{
	char *end;
	long long v;
	if (allow_end && strcmp(tok, "-") == 0) {
		*out = size;
		return 0;
	}
	if (!*tok || (tok[0] == '0' && tok[1]) || tok[0] == '-' || tok[0] == '+')
		return KUBEAPI_EINVAL;
	errno = 0;
	v = strtoll(tok, &end, 10);
	if (errno || *end || v < 0)
		return KUBEAPI_EINVAL;
	if ((size_t)v > size || (!allow_end && (size_t)v == size))
		return KUBEAPI_ENOPATH;
	*out = (size_t)v;
	return 0;
}

/* Resolves the parent of the pointer's last token: *parent is the container
 * and last the decoded final token. The root pointer "" has no parent. */
static int resolve_parent(cJSON *root, const char *ptr, cJSON **parent, char *last, size_t cap)
{
	const char *p = ptr;
	cJSON *cur = root;
	char tok[512];
	int rc;
	if (*p != '/')
		return KUBEAPI_EINVAL;
	for (;;) {
		p++;
		rc = pointer_token(&p, tok, sizeof(tok));
		if (rc)
			return rc;
		if (*p == '\0') {
			*parent = cur;
			if (strlen(tok) >= cap)
				return KUBEAPI_ETOOBIG;
			memcpy(last, tok, strlen(tok) + 1);
			return 0;
		}
		if (cJSON_IsObject(cur)) {
			cur = cJSON_GetObjectItemCaseSensitive(cur, tok);
		} else if (cJSON_IsArray(cur)) {
			size_t idx;
			rc = parse_index(tok, (size_t)cJSON_GetArraySize(cur), false, &idx);
			if (rc)
				return rc;
			cur = cJSON_GetArrayItem(cur, (int)idx);
		} else {
			cur = NULL;
		}
		if (!cur)
			return KUBEAPI_ENOPATH;
	}
}

static cJSON *pointer_get(cJSON *root, const char *ptr)
{
	cJSON *parent;
	char last[512];
	if (*ptr == '\0')
		return root;
	if (resolve_parent(root, ptr, &parent, last, sizeof(last)))
		return NULL;
	if (cJSON_IsObject(parent))
		return cJSON_GetObjectItemCaseSensitive(parent, last);
	if (cJSON_IsArray(parent)) {
		size_t idx;
		if (parse_index(last, (size_t)cJSON_GetArraySize(parent), false, &idx))
			return NULL;
		return cJSON_GetArrayItem(parent, (int)idx);
	}
	return NULL;
}

/* Detaches the value at ptr (not the root); NULL when missing. */
static cJSON *pointer_detach(cJSON *root, const char *ptr, int *rc)
{
	cJSON *parent;
	char last[512];
	*rc = resolve_parent(root, ptr, &parent, last, sizeof(last));
	if (*rc)
		return NULL;
	if (cJSON_IsObject(parent)) {
		cJSON *v = cJSON_DetachItemFromObjectCaseSensitive(parent, last);
		*rc = v ? 0 : KUBEAPI_ENOPATH;
		return v;
	}
	if (cJSON_IsArray(parent)) {
		size_t idx;
		*rc = parse_index(last, (size_t)cJSON_GetArraySize(parent), false, &idx);
		return *rc ? NULL : cJSON_DetachItemFromArray(parent, (int)idx);
	}
	*rc = KUBEAPI_ENOPATH;
	return NULL;
}

/* Inserts item at idx (< size) by moving the tail: cJSON_InsertItemInArray
 * of some cJSON releases refuses parsed arrays. */
static void array_insert(cJSON *arr, size_t idx, cJSON *item)
{
	cJSON *tail = cJSON_CreateArray();
	while ((size_t)cJSON_GetArraySize(arr) > idx)
		cJSON_AddItemToArray(tail, cJSON_DetachItemFromArray(arr, (int)idx));
	cJSON_AddItemToArray(arr, item);
	while (tail->child)
		cJSON_AddItemToArray(arr, cJSON_DetachItemViaPointer(tail, tail->child));
	cJSON_Delete(tail);
}

/* Adds value (ownership taken on success) at ptr; "" replaces the root. */
static int pointer_add(cJSON **root, const char *ptr, cJSON *value)
{
	cJSON *parent;
	char last[512];
	int rc;
	if (*ptr == '\0') {
		cJSON_Delete(*root);
		*root = value;
		return 0;
	}
	rc = resolve_parent(*root, ptr, &parent, last, sizeof(last));
	if (rc)
		return rc;
	if (cJSON_IsObject(parent)) {
		if (cJSON_GetObjectItemCaseSensitive(parent, last))
			cJSON_ReplaceItemInObjectCaseSensitive(parent, last, value);
		else
			cJSON_AddItemToObject(parent, last, value);
		return 0;
	}
	if (cJSON_IsArray(parent)) {
		size_t idx, n = (size_t)cJSON_GetArraySize(parent);
		rc = parse_index(last, n, true, &idx);
		if (rc)
			return rc;
		if (idx == n)
			cJSON_AddItemToArray(parent, value);
		else
			array_insert(parent, idx, value);
		return 0;
	}
	return KUBEAPI_ENOPATH;
}

static int jp_fail(char *err, size_t errlen, int idx, const char *op, const char *what, int rc)
{
	if (err && errlen)
		snprintf(err, errlen, "json patch operation %d (%s): %s", idx, op, what);
	return rc;
}

int kubeapi_json_patch(cJSON **doc, const cJSON *ops, char *err, size_t errlen)
{
	cJSON *work;
	const cJSON *op;
	int idx = 0;
	int rc = 0;

	if (!cJSON_IsArray(ops))
		return jp_fail(err, errlen, 0, "-", "patch is not a JSON array", KUBEAPI_EINVAL);
	work = *doc ? cJSON_Duplicate(*doc, 1) : cJSON_CreateNull();
	if (!work)
		return KUBEAPI_ENOMEM;
	cJSON_ArrayForEach(op, ops)
	{
		const cJSON *jop = cJSON_GetObjectItemCaseSensitive(op, "op");
		const cJSON *jpath = cJSON_GetObjectItemCaseSensitive(op, "path");
		const cJSON *jfrom = cJSON_GetObjectItemCaseSensitive(op, "from");
		const cJSON *jval = cJSON_GetObjectItemCaseSensitive(op, "value");
		const char *name = cJSON_IsString(jop) ? jop->valuestring : "?";
		if (!cJSON_IsString(jop) || !cJSON_IsString(jpath)) {
			rc = jp_fail(err, errlen, idx, name, "needs string \"op\" and \"path\"",
			             KUBEAPI_EINVAL);
			goto out;
		}
		const char *path = jpath->valuestring;
		if (*path && *path != '/') {
			rc = jp_fail(err, errlen, idx, name, "path must start with \"/\"",
			             KUBEAPI_EINVAL);
			goto out;
		}
		if (strcmp(name, "add") == 0 || strcmp(name, "replace") == 0 ||
		    strcmp(name, "test") == 0) {
			if (!jval) {
				rc = jp_fail(err, errlen, idx, name, "missing \"value\"",
				             KUBEAPI_EINVAL);
				goto out;
			}
		}
		if (strcmp(name, "add") == 0) {
			cJSON *v = cJSON_Duplicate(jval, 1);
			if (!v) {
				rc = KUBEAPI_ENOMEM;
				goto out;
			}
			rc = pointer_add(&work, path, v);
			if (rc) {
				cJSON_Delete(v);
				rc = jp_fail(err, errlen, idx, name, "path does not exist", rc);
				goto out;
			}
		} else if (strcmp(name, "remove") == 0 || strcmp(name, "replace") == 0) {
			cJSON *old;
			if (*path == '\0') {
				rc = jp_fail(err, errlen, idx, name, "cannot remove the root",
				             KUBEAPI_EINVAL);
				goto out;
			}
			old = pointer_detach(work, path, &rc);
			if (!old) {
				rc = jp_fail(err, errlen, idx, name, "path does not exist",
				             rc ? rc : KUBEAPI_ENOPATH);
				goto out;
			}
			cJSON_Delete(old);
			if (name[0] == 'r' && name[2] == 'p') { /* replace */
				cJSON *v = cJSON_Duplicate(jval, 1);
				if (!v) {
					rc = KUBEAPI_ENOMEM;
					goto out;
				}
				rc = pointer_add(&work, path, v);
				if (rc) {
					cJSON_Delete(v);
					rc = jp_fail(err, errlen, idx, name, "path does not exist",
					             rc);
					goto out;
				}
			}
		} else if (strcmp(name, "move") == 0 || strcmp(name, "copy") == 0) {
			cJSON *v;
			if (!cJSON_IsString(jfrom)) {
				rc = jp_fail(err, errlen, idx, name, "missing \"from\"",
				             KUBEAPI_EINVAL);
				goto out;
			}
			if (name[0] == 'm') {
				size_t fl = strlen(jfrom->valuestring);
				if (strncmp(path, jfrom->valuestring, fl) == 0 && path[fl] == '/') {
					rc = jp_fail(err, errlen, idx, name,
					             "cannot move a value into itself",
					             KUBEAPI_EINVAL);
					goto out;
				}
				if (strcmp(path, jfrom->valuestring) == 0)
					goto next;
				v = pointer_detach(work, jfrom->valuestring, &rc);
			} else {
				cJSON *src = pointer_get(work, jfrom->valuestring);
				v = src ? cJSON_Duplicate(src, 1) : NULL;
			}
			if (!v) {
				rc = jp_fail(err, errlen, idx, name, "\"from\" does not exist",
				             KUBEAPI_ENOPATH);
				goto out;
			}
			rc = pointer_add(&work, path, v);
			if (rc) {
				cJSON_Delete(v);
				rc = jp_fail(err, errlen, idx, name, "path does not exist", rc);
				goto out;
			}
		} else if (strcmp(name, "test") == 0) {
			cJSON *cur = pointer_get(work, path);
			if (!cur || !cJSON_Compare(cur, jval, 1)) {
				rc = jp_fail(err, errlen, idx, name, "value differs",
				             KUBEAPI_ETEST);
				goto out;
			}
		} else {
			rc = jp_fail(err, errlen, idx, name, "unknown operation", KUBEAPI_EINVAL);
			goto out;
		}
	next:
		idx++;
	}
out:
	if (rc) {
		cJSON_Delete(work);
		return rc;
	}
	cJSON_Delete(*doc);
	*doc = work;
	return 0;
}

/* ---- strategic merge patch ----------------------------------------------- */

const kubeapi_smp_rule_t kubeapi_smp_builtin[] = {
        {"*", "containers", "name", false},
        {"*", "initContainers", "name", false},
        {"*", "ephemeralContainers", "name", false},
        {"containers", "ports", "containerPort", false},
        {"initContainers", "ports", "containerPort", false},
        {"spec", "ports", "port", false}, /* Service */
        {"*", "env", "name", false},
        {"*", "volumeMounts", "mountPath", false},
        {"*", "volumeDevices", "devicePath", false},
        {"*", "volumes", "name", false},
        {"*", "imagePullSecrets", "name", false},
        {"*", "hostAliases", "ip", false},
        {"*", "topologySpreadConstraints", "topologyKey", false},
        {"*", "resourceClaims", "name", false},
        {"*", "schedulingGates", "name", false},
        {"*", "conditions", "type", false},
        {"*", "ownerReferences", "uid", false},
        {"metadata", "finalizers", NULL, true},
        {"*", "containerStatuses", NULL, false},
        {NULL, NULL, NULL, false},
};

typedef struct {
	const kubeapi_smp_rule_t *rules;
	char *err;
	size_t errlen;
} smp_ctx_t;

static const kubeapi_smp_rule_t *find_rule(const smp_ctx_t *c, const char *parent,
                                           const char *field)
{
	const kubeapi_smp_rule_t *wild = NULL;
	for (const kubeapi_smp_rule_t *r = c->rules; r->field; r++) {
		if (strcmp(r->field, field) != 0)
			continue;
		if (parent && strcmp(r->parent, parent) == 0)
			return r;
		if (strcmp(r->parent, "*") == 0 && !wild)
			wild = r;
	}
	return wild;
}

static int smp_fail(smp_ctx_t *c, const char *what, const char *name)
{
	if (c->err && c->errlen)
		snprintf(c->err, c->errlen, "strategic merge patch: %s \"%s\"", what,
		         name ? name : "");
	return KUBEAPI_EINVAL;
}

static int smp_map(smp_ctx_t *c, cJSON **doc, const cJSON *patch, const char *name, int depth);

/* Copies a patch value, stripping directives from nested maps. */
static cJSON *clean_copy(const cJSON *v)
{
	cJSON *copy = cJSON_Duplicate(v, 1);
	if (!copy || !cJSON_IsObject(copy))
		return copy;
	cJSON *it = copy->child;
	while (it) {
		cJSON *next = it->next;
		if (it->string && it->string[0] == '$')
			cJSON_Delete(cJSON_DetachItemViaPointer(copy, it));
		it = next;
	}
	return copy;
}

static bool same_key(const cJSON *a, const cJSON *b, const char *key)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(a, key);
	const cJSON *y = cJSON_GetObjectItemCaseSensitive(b, key);
	return x && y && cJSON_Compare(x, y, 1);
}

/* Merges a list with a merge key: elements matched by key are merged, new
 * ones appended, {"$patch":"delete"} elements removed, {"$patch":"replace"}
 * replaces the whole list. */
static int smp_keyed_list(smp_ctx_t *c, cJSON **doc, const cJSON *patch, const char *name,
                          const char *key, int depth)
{
	const cJSON *pe;
	cJSON_ArrayForEach(pe, patch)
	{
		const cJSON *d = cJSON_GetObjectItemCaseSensitive(pe, "$patch");
		if (cJSON_IsString(d) && strcmp(d->valuestring, "replace") == 0) {
			cJSON *list = cJSON_CreateArray();
			const cJSON *q;
			if (!list)
				return KUBEAPI_ENOMEM;
			cJSON_ArrayForEach(q, patch)
			{
				if (q == pe)
					continue;
				cJSON_AddItemToArray(list, clean_copy(q));
			}
			cJSON_Delete(*doc);
			*doc = list;
			return 0;
		}
	}
	if (!*doc || !cJSON_IsArray(*doc)) {
		cJSON_Delete(*doc);
		*doc = cJSON_CreateArray();
		if (!*doc)
			return KUBEAPI_ENOMEM;
	}
	cJSON_ArrayForEach(pe, patch)
	{
		cJSON *te = NULL;
		const cJSON *d;
		if (!cJSON_IsObject(pe))
			return smp_fail(c, "list element is not an object in", name);
		d = cJSON_GetObjectItemCaseSensitive(pe, "$patch");
		if (!cJSON_GetObjectItemCaseSensitive(pe, key))
			return smp_fail(c, "list element lacks its merge key in", name);
		cJSON_ArrayForEach(te, *doc)
		{
			if (same_key(te, pe, key))
				break;
		}
		if (cJSON_IsString(d) && strcmp(d->valuestring, "delete") == 0) {
			if (te)
				cJSON_Delete(cJSON_DetachItemViaPointer(*doc, te));
			continue;
		}
		if (d && !(cJSON_IsString(d) && strcmp(d->valuestring, "merge") == 0))
			return smp_fail(c, "unknown $patch directive in list", name);
		if (te) {
			/* Merged elements go to the end; the caller restores the
			 * server's order afterwards (reorder). */
			cJSON *cur = cJSON_DetachItemViaPointer(*doc, te);
			int rc = smp_map(c, &cur, pe, name, depth + 1);
			if (rc) {
				cJSON_Delete(cur);
				return rc;
			}
			cJSON_AddItemToArray(*doc, cur);
		} else {
			cJSON *copy = clean_copy(pe);
			if (!copy)
				return KUBEAPI_ENOMEM;
			cJSON_AddItemToArray(*doc, copy);
		}
	}
	return 0;
}

/* Puts the elements of list in the order their keys have in `order` (a list
 * of objects or primitives), the unlisted ones after, in current order. */
static int reorder(cJSON *list, const cJSON *order, const char *key)
{
	cJSON *out = cJSON_CreateArray();
	const cJSON *o;
	if (!out)
		return KUBEAPI_ENOMEM;
	cJSON_ArrayForEach(o, order)
	{
		cJSON *e = list->child;
		while (e) {
			bool m = key ? same_key(e, o, key) : cJSON_Compare(e, o, 1);
			if (m)
				break;
			e = e->next;
		}
		if (e)
			cJSON_AddItemToArray(out, cJSON_DetachItemViaPointer(list, e));
	}
	while (list->child)
		cJSON_AddItemToArray(out, cJSON_DetachItemViaPointer(list, list->child));
	/* Move everything back into list (keeping the caller's pointer). */
	while (out->child)
		cJSON_AddItemToArray(list, cJSON_DetachItemViaPointer(out, out->child));
	cJSON_Delete(out);
	return 0;
}

static int smp_map(smp_ctx_t *c, cJSON **doc, const cJSON *patch, const char *name, int depth)
{
	const cJSON *it;
	const cJSON *d;
	const cJSON *retain;
	int rc;

	if (depth > PATCH_MAX_DEPTH)
		return KUBEAPI_ETOOBIG;
	if (!cJSON_IsObject(patch)) /* a non-object patch replaces the document */
		return set_doc(doc, cJSON_Duplicate(patch, 1));
	d = cJSON_GetObjectItemCaseSensitive(patch, "$patch");
	if (d) {
		if (!cJSON_IsString(d))
			return smp_fail(c, "$patch is not a string in", name);
		if (strcmp(d->valuestring, "replace") == 0)
			return set_doc(doc, clean_copy(patch));
		if (strcmp(d->valuestring, "delete") == 0) {
			cJSON_Delete(*doc);
			*doc = NULL;
			return 0;
		}
		if (strcmp(d->valuestring, "merge") != 0)
			return smp_fail(c, "unknown $patch directive in", name);
	}
	if ((!*doc || !cJSON_IsObject(*doc)) && set_doc(doc, cJSON_CreateObject()) != 0)
		return KUBEAPI_ENOMEM;
	cJSON_ArrayForEach(it, patch)
	{
		const char *k = it->string;
		if (k[0] == '$') {
			if (strcmp(k, "$patch") == 0 || strcmp(k, "$retainKeys") == 0)
				continue;
			if (strncmp(k, "$setElementOrder/", 17) == 0)
				continue; /* applied after the merge */
			if (strncmp(k, "$deleteFromPrimitiveList/", 25) == 0) {
				cJSON *list = cJSON_GetObjectItemCaseSensitive(*doc, k + 25);
				const cJSON *v;
				if (!cJSON_IsArray(it))
					return smp_fail(c, "directive value is not a list:", k);
				cJSON_ArrayForEach(v, it)
				{
					cJSON *e = list ? list->child : NULL;
					while (e) {
						cJSON *next = e->next;
						if (cJSON_Compare(e, v, 1))
							cJSON_Delete(cJSON_DetachItemViaPointer(
							        list, e));
						e = next;
					}
				}
				continue;
			}
			return smp_fail(c, "unknown directive", k);
		}
		if (cJSON_IsNull(it)) {
			cJSON_DeleteItemFromObjectCaseSensitive(*doc, k);
			continue;
		}
		cJSON *cur = cJSON_DetachItemFromObjectCaseSensitive(*doc, k);
		if (cJSON_IsArray(it)) {
			const kubeapi_smp_rule_t *r = find_rule(c, name, k);
			if (r && r->merge_key) {
				cJSON *before = cur ? cJSON_Duplicate(cur, 1) : NULL;
				rc = smp_keyed_list(c, &cur, it, k, r->merge_key, depth);
				if (rc == 0 && before && cJSON_IsArray(cur))
					rc = reorder(cur, before, r->merge_key);
				cJSON_Delete(before);
			} else if (r && r->set) {
				const cJSON *v;
				rc = 0;
				if (!cur || !cJSON_IsArray(cur)) {
					cJSON_Delete(cur);
					cur = cJSON_CreateArray();
				}
				cJSON_ArrayForEach(v, it)
				{
					const cJSON *e;
					bool found = false;
					cJSON_ArrayForEach(e, cur)
					{
						if (cJSON_Compare(e, v, 1))
							found = true;
					}
					if (!found)
						cJSON_AddItemToArray(cur, cJSON_Duplicate(v, 1));
				}
			} else {
				cJSON_Delete(cur);
				cur = clean_copy(it);
				rc = cur ? 0 : KUBEAPI_ENOMEM;
			}
		} else {
			rc = smp_map(c, &cur, it, k, depth + 1);
		}
		if (rc) {
			cJSON_Delete(cur);
			return rc;
		}
		if (cur)
			cJSON_AddItemToObject(*doc, k, cur);
	}
	cJSON_ArrayForEach(it, patch)
	{
		const char *k = it->string;
		if (strncmp(k, "$setElementOrder/", 17) == 0) {
			cJSON *list = cJSON_GetObjectItemCaseSensitive(*doc, k + 17);
			const kubeapi_smp_rule_t *r = find_rule(c, name, k + 17);
			if (!cJSON_IsArray(it))
				return smp_fail(c, "directive value is not a list:", k);
			if (cJSON_IsArray(list)) {
				rc = reorder(list, it, r ? r->merge_key : NULL);
				if (rc)
					return rc;
			}
		}
	}
	retain = cJSON_GetObjectItemCaseSensitive(patch, "$retainKeys");
	if (retain) {
		cJSON *e;
		if (!cJSON_IsArray(retain))
			return smp_fail(c, "$retainKeys is not a list in", name);
		e = (*doc)->child;
		while (e) {
			cJSON *next = e->next;
			bool keep = false;
			const cJSON *r;
			cJSON_ArrayForEach(r, retain)
			{
				if (cJSON_IsString(r) && strcmp(r->valuestring, e->string) == 0)
					keep = true;
			}
			if (!keep)
				cJSON_Delete(cJSON_DetachItemViaPointer(*doc, e));
			e = next;
		}
	}
	return 0;
}

int kubeapi_strategic_merge_patch(cJSON **doc, const cJSON *patch, const kubeapi_smp_rule_t *rules,
                                  char *err, size_t errlen)
{
	smp_ctx_t c = {rules ? rules : kubeapi_smp_builtin, err, errlen};
	cJSON *work;
	int rc;

	if (!cJSON_IsObject(patch)) {
		if (err && errlen)
			snprintf(err, errlen,
			         "strategic merge patch: the patch is not a JSON object");
		return KUBEAPI_EINVAL;
	}
	work = *doc ? cJSON_Duplicate(*doc, 1) : NULL;
	if (*doc && !work)
		return KUBEAPI_ENOMEM;
	rc = smp_map(&c, &work, patch, NULL, 0);
	if (rc) {
		cJSON_Delete(work);
		return rc;
	}
	if (!work) {
		work = cJSON_CreateObject();
		if (!work)
			return KUBEAPI_ENOMEM;
	}
	cJSON_Delete(*doc);
	*doc = work;
	return 0;
}

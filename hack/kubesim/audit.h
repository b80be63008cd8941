/* hack/kubesim/audit: an audit-like request log (--audit-log FILE).
 *
 * One JSON object per line, per API request that reached routing:
 *   {"ts":"2026-...Z","user":"system:serviceaccount:mcp:mcp-autoscaler",
 *    "verb":"patch","group":"apps","resource":"deployments",
 *    "subresource":"scale","namespace":"mcp","name":"mcp-worker","code":200}
 * `verb` is Kubernetes' (get, list, watch, create, update, patch, delete,
 * deletecollection), `group` is "" for the core group, and `resource`,
 * `subresource`, `namespace`, `name` are "" when the request has none
 * (discovery, OpenAPI). `user` is "" when authentication failed (code 401).
 * Tests compare what a client actually sent with the RBAC rules it is
 * granted (tests/integration/8N_e2e_*.sh). Thread safe: lines from
 * concurrent requests never interleave. */
#ifndef KUBESIM_AUDIT_H
#define KUBESIM_AUDIT_H

#include <stddef.h>

typedef struct ks_audit ks_audit_t;

/* One request, filled in while it is served. */
typedef struct {
	char user[320];
	char verb[24];
	char group[64];
	char resource[64];
	char subresource[32];
	char ns[128];
	char name[256];
	int code; /* HTTP status sent; 0 = none yet */
} ks_audit_rec_t;

/* Opens (appends to, creating 0600) PATH. NULL with err on failure. */
ks_audit_t *ks_audit_open(const char *path, char *err, size_t errlen);
/* Closes the file. NULL is fine. */
void ks_audit_free(ks_audit_t *a);
/* The JSON line for rec, without the newline, and without "ts" when ts is
 * NULL (new string, caller frees; NULL when out of memory). */
char *ks_audit_line(const ks_audit_rec_t *rec, const char *ts);
/* Appends rec's line (with the current time) and flushes. A write error is
 * logged once and later lines are dropped. a NULL: nothing. */
void ks_audit_write(ks_audit_t *a, const ks_audit_rec_t *rec);

#endif

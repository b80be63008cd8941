/* hack/kubesim/auth: the TLS material and bearer tokens.
 * At first start it mints, with the openssl command-line tool, a CA
 * (ca.crt/ca.key) and a serving certificate (server.crt/server.key) for the
 * listen IP, 127.0.0.1, localhost and kubernetes.default.svc in DATA_DIR; a
 * later start reuses them (the serving certificate is re-minted when the
 * listen IP changed). Tokens: one admin token (DATA_DIR/admin.token, written
 * into the kubeconfig) and service-account tokens minted on demand
 * (DATA_DIR/tokens.json), so a restart keeps every token valid.
 * Thread safe (one mutex). */
#ifndef KUBESIM_AUTH_H
#define KUBESIM_AUTH_H

#include <stdbool.h>
#include <stddef.h>

typedef struct ks_auth ks_auth_t;

/* Loads or creates certificates and tokens in data_dir for listen_ip.
 * Returns NULL with err set (e.g. "openssl failed: ..."). */
ks_auth_t *ks_auth_new(const char *data_dir, const char *listen_ip, char *err, size_t errlen);
void ks_auth_free(ks_auth_t *a);

/* PEM texts (borrowed, live as long as a). */
const char *ks_auth_cert_pem(const ks_auth_t *a);
const char *ks_auth_key_pem(const ks_auth_t *a);
const char *ks_auth_ca_pem(const ks_auth_t *a);
const char *ks_auth_admin_token(const ks_auth_t *a);

/* Checks an Authorization header value ("Bearer TOKEN"). On success writes
 * the user name ("kubesim-admin" or "system:serviceaccount:NS:SA") into user
 * and returns true. */
bool ks_auth_check(ks_auth_t *a, const char *authorization, char *user, size_t cap);

/* Mints a token for namespace/serviceaccount into out (cap >= 80) and
 * persists it. 0, or -1 with err. */
int ks_auth_mint(ks_auth_t *a, const char *ns, const char *sa, char *out, size_t cap, char *err,
                 size_t errlen);
/* Revokes a token; true when it existed. */
bool ks_auth_revoke(ks_auth_t *a, const char *token);

/* Writes a kubeconfig (cluster with certificate-authority-data, user with
 * the admin token, context "kubesim", namespace default) for server URL.
 * 0, or -1 with err. */
int ks_auth_write_kubeconfig(const ks_auth_t *a, const char *path, const char *server, char *err,
                             size_t errlen);

#endif

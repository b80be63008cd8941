/* pkg/kube/config: where the API server is and how to authenticate.
 *
 * Sources, in the order kube_config_load() tries them (controller-runtime's
 * order, which puts in-cluster before ~/.kube/config so a pod never picks up
 * a developer's kubeconfig by accident):
 *   1. the --kubeconfig flag (one file, must exist)
 *   2. $KUBECONFIG: a colon-separated list merged as kubectl merges it: the
 *      first file that sets current-context wins, and for each named context,
 *      cluster and user the first file that defines that name wins; missing
 *      files are skipped
 *   3. in-cluster: $KUBERNETES_SERVICE_HOST/$KUBERNETES_SERVICE_PORT plus the
 *      service-account files token, ca.crt and namespace in
 *      $KUBERNETES_SA_DIR (kubesim sets it per pod) or else
 *      /var/run/secrets/kubernetes.io/serviceaccount
 *   4. $HOME/.kube/config
 * Relative paths inside a kubeconfig are resolved against that file's folder,
 * as kubectl does. Exec and auth-provider credential plugins are refused with
 * a clear error. */
#ifndef MCP_KUBE_CONFIG_H
#define MCP_KUBE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#define KUBE_SA_DIR_DEFAULT "/var/run/secrets/kubernetes.io/serviceaccount"

/* A resolved configuration. Every string is owned by the struct (freed by
 * kube_config_free) and NULL when absent; PEM fields hold decoded bytes. */
typedef struct {
	char *server;  /* "https://host:port" */
	char *ca_file; /* certificate-authority */
	char *ca_pem;  /* certificate-authority-data, decoded */
	size_t ca_pem_len;
	bool insecure;    /* insecure-skip-tls-verify */
	char *token;      /* static bearer token */
	char *token_file; /* tokenFile / service-account token: re-read periodically;
	                     its content wins over token when readable (client-go) */
	char *cert_file;  /* client-certificate */
	char *key_file;   /* client-key */
	char *cert_pem;   /* client-certificate-data, decoded */
	size_t cert_pem_len;
	char *key_pem; /* client-key-data, decoded */
	size_t key_pem_len;
	char *username; /* basic auth (rare; kept for completeness) */
	char *password;
	char *namespace; /* context namespace or the SA namespace file; never NULL
	                    after a successful load ("default") */
	char *context;   /* context name used, "in-cluster" for in-cluster */
	char *source;    /* which file(s) or "in-cluster": for log lines */
} kube_config_t;

/* Loads by the precedence above. explicit_path: the --kubeconfig flag or
 * NULL/"". context: a context name or NULL for current-context.
 * Returns 0 and *out (caller frees), or KUBE_ECONFIG/KUBE_EIO/KUBE_ENOMEM with
 * err naming the file and the problem. */
int kube_config_load(const char *explicit_path, const char *context, kube_config_t **out, char *err,
                     size_t errlen);

/* Loads a kubeconfig from a colon-separated list of files (merged as above). */
int kube_config_from_kubeconfig(const char *paths, const char *context, kube_config_t **out,
                                char *err, size_t errlen);

/* Parses kubeconfig YAML held in memory; base_dir resolves relative paths
 * (NULL = cwd). For tests and the fuzzer. */
int kube_config_parse(const char *yaml, size_t len, const char *base_dir, const char *context,
                      kube_config_t **out, char *err, size_t errlen);

/* In-cluster configuration (step 3 alone). KUBE_ECONFIG when not in a pod. */
int kube_config_in_cluster(kube_config_t **out, char *err, size_t errlen);

void kube_config_free(kube_config_t *cfg);

/* Reads a bearer token file (trimmed of surrounding whitespace; at most
 * 64 KiB). Returns 0 and *token (caller frees), or KUBE_EIO/KUBE_ECONFIG. */
int kube_config_read_token(const char *path, char **token, char *err, size_t errlen);

/* Decodes standard base64 (whitespace ignored). 0 and *out (caller frees,
 * NUL-terminated) or KUBE_EINVAL. */
int kube_base64_decode(const char *in, size_t len, char **out, size_t *outlen);

#endif

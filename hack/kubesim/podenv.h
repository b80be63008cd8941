/* hack/kubesim/podenv: the pure parts of how a container's process is
 * composed: an ordered environment, Kubernetes' $(VAR) expansion, Service
 * environment variable names, image -> program name. No I/O. */
#ifndef KUBESIM_PODENV_H
#define KUBESIM_PODENV_H

#include <stdbool.h>
#include <stddef.h>

/* An ordered NAME=value list; setting an existing name replaces its value
 * in place (as a later `env` entry overrides an earlier one). */
typedef struct {
	char **v; /* "NAME=value" strings, NULL-terminated when n < cap */
	size_t n, cap;
} ks_env_t;

/* Sets name to value (both copied). 0, or -1 on allocation failure. */
int ks_env_set(ks_env_t *e, const char *name, const char *value);
/* The value of name (borrowed), or NULL. */
const char *ks_env_get(const ks_env_t *e, const char *name);
/* Frees the strings; the struct may be reused after. */
void ks_env_free(ks_env_t *e);
/* NULL-terminated view for execve (borrowed from e). */
char *const *ks_env_vec(ks_env_t *e);

/* Expands $(NAME) references in `in` with the values in env, as
 * Kubernetes does for env values, command and args: "$$" becomes "$" (so
 * "$$(X)" stays literally "$(X)"), an unknown $(NAME) or an unclosed "$("
 * is kept as written. Returns a new string (caller frees), NULL on
 * allocation failure. */
char *ks_expand(const char *in, const ks_env_t *env);

/* "mcp-devsim" -> "MCP_DEVSIM" (upper case, '-' and '.' -> '_'). */
void ks_service_env_name(const char *svc, char *out, size_t cap);

/* The program name of an image: the last path component without the tag
 * or digest ("ghcr.io/x/mcp-worker:0.1.0" -> "mcp-worker",
 * "localhost:5000/a/b@sha256:..." -> "b"). 0, or -1 when empty. */
int ks_image_program(const char *image, char *out, size_t cap);

/* snprintf that truncates silently (the result is always terminated);
 * for paths and messages whose length is bounded by design. */
void ks_fmt(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif

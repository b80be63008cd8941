#include "kube/config.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "base/buf.h"
#include "kube/kube.h"

#define MAX_KUBECONFIG_BYTES (4u << 20)
#define MAX_FILES            16

typedef struct {
	yaml_document_t doc;
	bool loaded;
	char dir[PATH_MAX];
	char path[PATH_MAX];
} kcfile_t;

static char *xstrdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

void kube_config_free(kube_config_t *c)
{
	if (c == NULL)
		return;
	free(c->server);
	free(c->ca_file);
	free(c->ca_pem);
	free(c->token);
	free(c->token_file);
	free(c->cert_file);
	free(c->key_file);
	free(c->cert_pem);
	free(c->key_pem);
	free(c->username);
	free(c->password);
	free(c->namespace);
	free(c->context);
	free(c->source);
	free(c);
}

static int read_file(const char *path, size_t max, char **out, size_t *len, char *err,
                     size_t errlen)
{
	FILE *f = fopen(path, "rb");
	base_buf_t b;
	char chunk[8192];
	size_t n;

	if (f == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return KUBE_EIO;
	}
	base_buf_init(&b, max);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		int rc = base_buf_append(&b, chunk, n);
		if (rc != 0) {
			snprintf(err, errlen, "%s: file too large (cap %zu bytes)", path, max);
			base_buf_free(&b);
			fclose(f);
			return rc == BASE_ETOOBIG ? KUBE_ECONFIG : KUBE_ENOMEM;
		}
	}
	if (ferror(f)) {
		snprintf(err, errlen, "%s: read error", path);
		base_buf_free(&b);
		fclose(f);
		return KUBE_EIO;
	}
	fclose(f);
	if (b.data == NULL && base_buf_append(&b, "", 0) != 0) {
		base_buf_free(&b);
		return KUBE_ENOMEM;
	}
	if (b.data == NULL) {
		*out = calloc(1, 1);
		*len = 0;
		return *out ? 0 : KUBE_ENOMEM;
	}
	*out = base_buf_take(&b, len);
	return 0;
}

int kube_config_read_token(const char *path, char **token, char *err, size_t errlen)
{
	char *data;
	size_t len;
	int rc = read_file(path, 64 * 1024, &data, &len, err, errlen);
	if (rc != 0)
		return rc;
	size_t s = 0;
	while (s < len && (data[s] == ' ' || data[s] == '\n' || data[s] == '\r' || data[s] == '\t'))
		s++;
	while (len > s && (data[len - 1] == ' ' || data[len - 1] == '\n' || data[len - 1] == '\r' ||
	                   data[len - 1] == '\t'))
		len--;
	if (len == s) {
		free(data);
		snprintf(err, errlen, "%s: token file is empty", path);
		return KUBE_ECONFIG;
	}
	for (size_t i = s; i < len; i++) {
		if ((unsigned char)data[i] < 0x21 || (unsigned char)data[i] > 0x7e) {
			free(data);
			snprintf(err, errlen, "%s: token contains a non-printable byte", path);
			return KUBE_ECONFIG;
		}
	}
	memmove(data, data + s, len - s);
	data[len - s] = '\0';
	*token = data;
	return 0;
}

int kube_base64_decode(const char *in, size_t len, char **out, size_t *outlen)
{
	char *o = malloc(len / 4 * 3 + 4);
	uint32_t acc = 0;
	int bits = 0;
	size_t n = 0;
	bool pad = false;

	if (o == NULL)
		return KUBE_ENOMEM;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		int v;
		if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
			continue;
		if (c == '=') {
			pad = true;
			continue;
		}
		if (pad)
			goto bad; /* data after padding */
		if (c >= 'A' && c <= 'Z')
			v = c - 'A';
		else if (c >= 'a' && c <= 'z')
			v = c - 'a' + 26;
		else if (c >= '0' && c <= '9')
			v = c - '0' + 52;
		else if (c == '+')
			v = 62;
		else if (c == '/')
			v = 63;
		else
			goto bad;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			o[n++] = (char)((acc >> bits) & 0xff);
		}
	}
	if (bits >= 6)
		goto bad; /* a lone sextet cannot encode a byte */
	o[n] = '\0';
	*out = o;
	*outlen = n;
	return 0;
bad:
	free(o);
	return KUBE_EINVAL;
}

/* ---- YAML navigation ---------------------------------------------------- */

static yaml_node_t *ynode(yaml_document_t *d, int idx)
{
	return idx > 0 ? yaml_document_get_node(d, idx) : NULL;
}

static yaml_node_t *yget(yaml_document_t *d, yaml_node_t *map, const char *key)
{
	if (map == NULL || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = ynode(d, p->key);
		if (k && k->type == YAML_SCALAR_NODE && k->data.scalar.length == strlen(key) &&
		    memcmp(k->data.scalar.value, key, k->data.scalar.length) == 0)
			return ynode(d, p->value);
	}
	return NULL;
}

/* Scalar text (NUL-terminated by libyaml), NULL for non-scalars. A YAML null
 * ("", "~", "null" plain) reads as NULL too. */
static const char *yscalar(yaml_node_t *n)
{
	if (n == NULL || n->type != YAML_SCALAR_NODE)
		return NULL;
	const char *s = (const char *)n->data.scalar.value;
	if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	    (s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0))
		return NULL;
	if (strlen(s) != n->data.scalar.length)
		return NULL; /* embedded NUL: refuse */
	return s;
}

static const char *ygets(yaml_document_t *d, yaml_node_t *map, const char *key)
{
	return yscalar(yget(d, map, key));
}

/* Finds {name: NAME, <field>: {...}} in the sequence under `list`. */
static yaml_node_t *find_named(yaml_document_t *d, const char *list, const char *field,
                               const char *name)
{
	yaml_node_t *seq = yget(d, yaml_document_get_root_node(d), list);
	if (seq == NULL || seq->type != YAML_SEQUENCE_NODE)
		return NULL;
	for (yaml_node_item_t *it = seq->data.sequence.items.start;
	     it < seq->data.sequence.items.top; it++) {
		yaml_node_t *e = ynode(d, *it);
		const char *n = ygets(d, e, "name");
		if (n && strcmp(n, name) == 0) {
			yaml_node_t *inner = yget(d, e, field);
			return inner ? inner : e; /* an entry without body: treat as empty */
		}
	}
	return NULL;
}

static int parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes", "on", "On", NULL};
	static const char *const no[] = {"false", "False", "FALSE", "no", "No", "off", "Off", NULL};
	if (s == NULL) {
		*out = false;
		return 0;
	}
	for (int i = 0; yes[i]; i++) {
		if (strcmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
	}
	for (int i = 0; no[i]; i++) {
		if (strcmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

static char *resolve_path(const char *dir, const char *p)
{
	char buf[PATH_MAX];
	if (p == NULL)
		return NULL;
	if (p[0] == '/' || dir == NULL || dir[0] == '\0')
		return strdup(p);
	if (snprintf(buf, sizeof(buf), "%s/%s", dir, p) >= (int)sizeof(buf))
		return NULL;
	return strdup(buf);
}

static int load_doc(kcfile_t *f, const char *data, size_t len, char *err, size_t errlen)
{
	yaml_parser_t parser;
	if (!yaml_parser_initialize(&parser))
		return KUBE_ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
	if (!yaml_parser_load(&parser, &f->doc)) {
		snprintf(err, errlen, "%s: YAML error: %s at line %zu",
		         f->path[0] ? f->path : "kubeconfig",
		         parser.problem ? parser.problem : "unknown",
		         (size_t)parser.problem_mark.line + 1);
		yaml_parser_delete(&parser);
		return KUBE_ECONFIG;
	}
	yaml_parser_delete(&parser);
	f->loaded = true;
	yaml_node_t *root = yaml_document_get_root_node(&f->doc);
	if (root != NULL && root->type != YAML_MAPPING_NODE) {
		snprintf(err, errlen, "%s: kubeconfig is not a YAML mapping",
		         f->path[0] ? f->path : "kubeconfig");
		return KUBE_ECONFIG;
	}
	return 0;
}

/* Literal defaults: a plain strdup. */
#define SET_LIT(field, lit)                                                                        \
	do {                                                                                       \
		(field) = strdup(lit);                                                             \
		if ((field) == NULL)                                                               \
			goto nomem;                                                                \
	} while (0)

#define SET_DUP(field, val)                                                                        \
	do {                                                                                       \
		if ((val) != NULL) {                                                               \
			(field) = strdup(val);                                                     \
			if ((field) == NULL)                                                       \
				goto nomem;                                                        \
		}                                                                                  \
	} while (0)

static int set_pem(const char *b64, char **out, size_t *outlen, const char *what, const char *src,
                   char *err, size_t errlen)
{
	int rc;
	if (b64 == NULL)
		return 0;
	rc = kube_base64_decode(b64, strlen(b64), out, outlen);
	if (rc == KUBE_EINVAL)
		snprintf(err, errlen, "%s: %s is not valid base64", src, what);
	if (rc == 0 && *outlen == 0) {
		snprintf(err, errlen, "%s: %s is empty", src, what);
		free(*out);
		*out = NULL;
		return KUBE_ECONFIG;
	}
	return rc == KUBE_EINVAL ? KUBE_ECONFIG : rc;
}

/* Resolves a context across the loaded files. */
static int resolve(kcfile_t *files, int nfiles, const char *context, kube_config_t **out, char *err,
                   size_t errlen)
{
	kube_config_t *c = calloc(1, sizeof(*c));
	const char *ctxname = context && context[0] ? context : NULL;
	yaml_node_t *ctx = NULL, *cluster = NULL, *user = NULL;
	kcfile_t *cf = NULL, *uf = NULL;
	const char *s;
	int rc;

	if (c == NULL)
		return KUBE_ENOMEM;
	for (int i = 0; i < nfiles && ctxname == NULL; i++)
		ctxname = ygets(&files[i].doc, yaml_document_get_root_node(&files[i].doc),
		                "current-context");
	if (ctxname == NULL) {
		snprintf(err, errlen, "kubeconfig: no current-context set and no context given");
		rc = KUBE_ECONFIG;
		goto fail;
	}
	yaml_document_t *ctxdoc = NULL;
	for (int i = 0; i < nfiles && ctx == NULL; i++) {
		ctx = find_named(&files[i].doc, "contexts", "context", ctxname);
		ctxdoc = &files[i].doc;
	}
	if (ctx == NULL) {
		snprintf(err, errlen, "kubeconfig: context \"%s\" not found", ctxname);
		rc = KUBE_ECONFIG;
		goto fail;
	}
	const char *clname = ygets(ctxdoc, ctx, "cluster");
	const char *uname = ygets(ctxdoc, ctx, "user");
	SET_DUP(c->namespace, ygets(ctxdoc, ctx, "namespace"));
	SET_DUP(c->context, ctxname);
	if (clname == NULL) {
		snprintf(err, errlen, "kubeconfig: context \"%s\" names no cluster", ctxname);
		rc = KUBE_ECONFIG;
		goto fail;
	}
	for (int i = 0; i < nfiles && cluster == NULL; i++) {
		cluster = find_named(&files[i].doc, "clusters", "cluster", clname);
		cf = &files[i];
	}
	if (cluster == NULL) {
		snprintf(err, errlen, "kubeconfig: cluster \"%s\" (context \"%s\") not found",
		         clname, ctxname);
		rc = KUBE_ECONFIG;
		goto fail;
	}
	s = ygets(&cf->doc, cluster, "server");
	if (s == NULL || (strncmp(s, "https://", 8) != 0 && strncmp(s, "http://", 7) != 0)) {
		snprintf(err, errlen, "kubeconfig: cluster \"%s\": server must be an http(s) URL",
		         clname);
		rc = KUBE_ECONFIG;
		goto fail;
	}
	SET_DUP(c->server, s);
	/* Drop a trailing slash so paths join cleanly. */
	size_t sl = strlen(c->server);
	while (sl > 8 && c->server[sl - 1] == '/')
		c->server[--sl] = '\0';
	s = ygets(&cf->doc, cluster, "certificate-authority");
	if (s) {
		c->ca_file = resolve_path(cf->dir, s);
		if (c->ca_file == NULL)
			goto nomem;
	}
	rc = set_pem(ygets(&cf->doc, cluster, "certificate-authority-data"), &c->ca_pem,
	             &c->ca_pem_len, "certificate-authority-data", clname, err, errlen);
	if (rc != 0)
		goto fail;
	if (parse_bool(ygets(&cf->doc, cluster, "insecure-skip-tls-verify"), &c->insecure) != 0) {
		snprintf(err, errlen,
		         "kubeconfig: cluster \"%s\": insecure-skip-tls-verify must be true or "
		         "false",
		         clname);
		rc = KUBE_ECONFIG;
		goto fail;
	}
	if (c->insecure && (c->ca_file || c->ca_pem)) {
		/* kubectl refuses this too: which one was meant? */
		snprintf(err, errlen,
		         "kubeconfig: cluster \"%s\": certificate-authority and "
		         "insecure-skip-tls-verify together are not allowed",
		         clname);
		rc = KUBE_ECONFIG;
		goto fail;
	}
	if (uname != NULL) {
		for (int i = 0; i < nfiles && user == NULL; i++) {
			user = find_named(&files[i].doc, "users", "user", uname);
			uf = &files[i];
		}
		if (user == NULL) {
			snprintf(err, errlen, "kubeconfig: user \"%s\" (context \"%s\") not found",
			         uname, ctxname);
			rc = KUBE_ECONFIG;
			goto fail;
		}
		if (yget(&uf->doc, user, "exec") || yget(&uf->doc, user, "auth-provider")) {
			snprintf(err, errlen,
			         "kubeconfig: user \"%s\": exec and auth-provider credential "
			         "plugins "
			         "are not supported; use a token, tokenFile or client certificate",
			         uname);
			rc = KUBE_ECONFIG;
			goto fail;
		}
		SET_DUP(c->token, ygets(&uf->doc, user, "token"));
		s = ygets(&uf->doc, user, "tokenFile");
		if (s) {
			c->token_file = resolve_path(uf->dir, s);
			if (c->token_file == NULL)
				goto nomem;
		}
		s = ygets(&uf->doc, user, "client-certificate");
		if (s) {
			c->cert_file = resolve_path(uf->dir, s);
			if (c->cert_file == NULL)
				goto nomem;
		}
		s = ygets(&uf->doc, user, "client-key");
		if (s) {
			c->key_file = resolve_path(uf->dir, s);
			if (c->key_file == NULL)
				goto nomem;
		}
		rc = set_pem(ygets(&uf->doc, user, "client-certificate-data"), &c->cert_pem,
		             &c->cert_pem_len, "client-certificate-data", uname, err, errlen);
		if (rc != 0)
			goto fail;
		rc = set_pem(ygets(&uf->doc, user, "client-key-data"), &c->key_pem, &c->key_pem_len,
		             "client-key-data", uname, err, errlen);
		if (rc != 0)
			goto fail;
		SET_DUP(c->username, ygets(&uf->doc, user, "username"));
		SET_DUP(c->password, ygets(&uf->doc, user, "password"));
		bool has_cert = c->cert_file || c->cert_pem;
		bool has_key = c->key_file || c->key_pem;
		if (has_cert != has_key) {
			snprintf(err, errlen,
			         "kubeconfig: user \"%s\": a client certificate needs its key and "
			         "the other way round",
			         uname);
			rc = KUBE_ECONFIG;
			goto fail;
		}
	}
	if (c->namespace == NULL)
		SET_LIT(c->namespace, "default");
	*out = c;
	return 0;
nomem:
	rc = KUBE_ENOMEM;
	snprintf(err, errlen, "out of memory");
fail:
	kube_config_free(c);
	return rc;
}

static void free_files(kcfile_t *files, int n)
{
	for (int i = 0; i < n; i++) {
		if (files[i].loaded)
			yaml_document_delete(&files[i].doc);
	}
	free(files);
}

int kube_config_parse(const char *yaml, size_t len, const char *base_dir, const char *context,
                      kube_config_t **out, char *err, size_t errlen)
{
	kcfile_t *f = calloc(1, sizeof(*f));
	int rc;

	*out = NULL;
	if (f == NULL)
		return KUBE_ENOMEM;
	if (len > MAX_KUBECONFIG_BYTES) {
		free(f);
		snprintf(err, errlen, "kubeconfig: too large (cap %u bytes)", MAX_KUBECONFIG_BYTES);
		return KUBE_ECONFIG;
	}
	snprintf(f->dir, sizeof(f->dir), "%s", base_dir ? base_dir : "");
	rc = load_doc(f, yaml, len, err, errlen);
	if (rc == 0)
		rc = resolve(f, 1, context, out, err, errlen);
	free_files(f, 1);
	return rc;
}

int kube_config_from_kubeconfig(const char *paths, const char *context, kube_config_t **out,
                                char *err, size_t errlen)
{
	kcfile_t *files = calloc(MAX_FILES, sizeof(*files));
	int n = 0;
	int rc = 0;
	base_buf_t src;
	const char *p = paths;

	*out = NULL;
	if (files == NULL)
		return KUBE_ENOMEM;
	base_buf_init(&src, 4096);
	while (p && *p) {
		const char *colon = strchr(p, ':');
		size_t l = colon ? (size_t)(colon - p) : strlen(p);
		char path[PATH_MAX];
		char *data;
		size_t dlen;
		struct stat st;

		if (l == 0 || l >= sizeof(path)) {
			p = colon ? colon + 1 : NULL;
			continue;
		}
		memcpy(path, p, l);
		path[l] = '\0';
		p = colon ? colon + 1 : NULL;
		if (stat(path, &st) != 0 && strchr(paths, ':') != NULL)
			continue; /* kubectl skips missing files of a list */
		if (n >= MAX_FILES) {
			snprintf(err, errlen, "kubeconfig: more than %d files", MAX_FILES);
			rc = KUBE_ECONFIG;
			goto out;
		}
		kcfile_t *f = &files[n];
		snprintf(f->path, sizeof(f->path), "%s", path);
		snprintf(f->dir, sizeof(f->dir), "%s", path);
		char *slash = strrchr(f->dir, '/');
		if (slash)
			*slash = '\0';
		else
			f->dir[0] = '\0';
		rc = read_file(path, MAX_KUBECONFIG_BYTES, &data, &dlen, err, errlen);
		if (rc != 0)
			goto out;
		rc = load_doc(f, data, dlen, err, errlen);
		free(data);
		n++;
		if (rc != 0)
			goto out;
		base_buf_printf(&src, "%s%s", src.len ? ":" : "", path);
	}
	if (n == 0) {
		snprintf(err, errlen, "kubeconfig: none of \"%s\" exists", paths ? paths : "");
		rc = KUBE_ECONFIG;
		goto out;
	}
	rc = resolve(files, n, context, out, err, errlen);
	if (rc == 0) {
		(*out)->source = xstrdup(src.data ? src.data : paths);
		if ((*out)->source == NULL) {
			kube_config_free(*out);
			*out = NULL;
			rc = KUBE_ENOMEM;
		}
	}
out:
	base_buf_free(&src);
	free_files(files, n);
	return rc;
}

int kube_config_in_cluster(kube_config_t **out, char *err, size_t errlen)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	const char *dir = getenv("KUBERNETES_SA_DIR");
	char path[PATH_MAX];
	char *tok = NULL;
	kube_config_t *c;
	int rc;

	*out = NULL;
	if (host == NULL || host[0] == '\0' || port == NULL || port[0] == '\0') {
		snprintf(err, errlen,
		         "in-cluster: KUBERNETES_SERVICE_HOST and "
		         "KUBERNETES_SERVICE_PORT must be set");
		return KUBE_ECONFIG;
	}
	if (dir == NULL || dir[0] == '\0')
		dir = KUBE_SA_DIR_DEFAULT;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return KUBE_ENOMEM;
	char url[512];
	bool v6 = strchr(host, ':') != NULL;
	if (snprintf(url, sizeof(url), "https://%s%s%s:%s", v6 ? "[" : "", host, v6 ? "]" : "",
	             port) >= (int)sizeof(url)) {
		snprintf(err, errlen, "in-cluster: service host too long");
		rc = KUBE_ECONFIG;
		goto fail;
	}
	SET_DUP(c->server, url);
	snprintf(path, sizeof(path), "%s/token", dir);
	rc = kube_config_read_token(path, &tok, err, errlen);
	if (rc != 0)
		goto fail;
	c->token = tok;
	SET_DUP(c->token_file, path);
	snprintf(path, sizeof(path), "%s/ca.crt", dir);
	if (access(path, R_OK) != 0) {
		snprintf(err, errlen, "in-cluster: %s: %s", path, strerror(errno));
		rc = KUBE_ECONFIG;
		goto fail;
	}
	SET_DUP(c->ca_file, path);
	snprintf(path, sizeof(path), "%s/namespace", dir);
	char *ns = NULL;
	char nerr[64];
	if (kube_config_read_token(path, &ns, nerr, sizeof(nerr)) == 0)
		c->namespace = ns;
	else
		SET_LIT(c->namespace, "default");
	SET_LIT(c->context, "in-cluster");
	SET_LIT(c->source, "in-cluster");
	*out = c;
	return 0;
nomem:
	rc = KUBE_ENOMEM;
fail:
	kube_config_free(c);
	return rc;
}

int kube_config_load(const char *explicit_path, const char *context, kube_config_t **out, char *err,
                     size_t errlen)
{
	const char *env = getenv("KUBECONFIG");
	const char *home = getenv("HOME");
	char path[PATH_MAX];

	*out = NULL;
	if (explicit_path && explicit_path[0]) {
		if (strchr(explicit_path, ':')) {
			snprintf(err, errlen, "--kubeconfig names one file, not a list");
			return KUBE_ECONFIG;
		}
		return kube_config_from_kubeconfig(explicit_path, context, out, err, errlen);
	}
	if (env && env[0])
		return kube_config_from_kubeconfig(env, context, out, err, errlen);
	if (getenv("KUBERNETES_SERVICE_HOST"))
		return kube_config_in_cluster(out, err, errlen);
	if (home && home[0] &&
	    snprintf(path, sizeof(path), "%s/.kube/config", home) < (int)sizeof(path) &&
	    access(path, R_OK) == 0)
		return kube_config_from_kubeconfig(path, context, out, err, errlen);
	snprintf(err, errlen,
	         "no Kubernetes configuration: pass --kubeconfig, set KUBECONFIG, run "
	         "in a pod, or create ~/.kube/config");
	return KUBE_ECONFIG;
}

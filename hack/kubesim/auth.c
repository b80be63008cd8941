#include "auth.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "base/base64.h"
#include "base/buf.h"

#define MAX_PEM    (64u << 10)
#define MAX_TOKENS 4096

typedef struct {
	char token[80];
	char user[300];
} tok_t;

struct ks_auth {
	char dir[2048];
	char *cert, *key, *ca;
	char admin[80];
	tok_t *toks;
	size_t ntoks;
	pthread_mutex_t mu;
};

static int path_in(char *out, size_t cap, const char *dir, const char *name)
{
	int n = snprintf(out, cap, "%s/%s", dir, name);
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static char *read_file(const char *path, size_t max)
{
	FILE *f = fopen(path, "r");
	base_buf_t b;
	char chunk[4096];
	size_t n;
	if (!f)
		return NULL;
	base_buf_init(&b, max);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (base_buf_append(&b, chunk, n)) {
			fclose(f);
			base_buf_free(&b);
			return NULL;
		}
	}
	fclose(f);
	if (!b.data)
		base_buf_append(&b, "", 0);
	return base_buf_take(&b, &n);
}

static int write_file(const char *path, const char *text, mode_t mode)
{
	char tmp[4200];
	int fd;
	size_t len = strlen(text);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -1;
	if (write(fd, text, len) != (ssize_t)len) {
		close(fd);
		unlink(tmp);
		return -1;
	}
	if (close(fd) != 0 || rename(tmp, path) != 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* Runs openssl with argv (NULL-terminated), stdout/stderr to log. */
static int run_openssl(const char *const *argv, const char *log, char *err, size_t errlen)
{
	pid_t pid = fork();
	int status;
	if (pid < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execvp("openssl", (char *const *)argv);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			snprintf(err, errlen, "waitpid: %s", strerror(errno));
			return -1;
		}
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		snprintf(err, errlen, "openssl %s failed (exit %d); see %s", argv[1],
		         WIFEXITED(status) ? WEXITSTATUS(status) : -1, log);
		return -1;
	}
	return 0;
}

static void random_hex(char *out, size_t nbytes)
{
	unsigned char b[64];
	if (nbytes > sizeof(b))
		nbytes = sizeof(b);
	if (getrandom(b, nbytes, 0) != (ssize_t)nbytes) {
		FILE *f = fopen("/dev/urandom", "r");
		if (!f || fread(b, 1, nbytes, f) != nbytes)
			abort(); /* no randomness: refuse to mint guessable tokens */
		fclose(f);
	}
	for (size_t i = 0; i < nbytes; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static int mint_certs(ks_auth_t *a, const char *ip, char *err, size_t errlen)
{
	char ca_crt[2100], ca_key[2100], crt[2100], key[2100], csr[2100], ext[2100], log[2100],
	        sanf[2100];
	char extbody[1024];
	path_in(ca_crt, sizeof(ca_crt), a->dir, "ca.crt");
	path_in(ca_key, sizeof(ca_key), a->dir, "ca.key");
	path_in(crt, sizeof(crt), a->dir, "server.crt");
	path_in(key, sizeof(key), a->dir, "server.key");
	path_in(csr, sizeof(csr), a->dir, "server.csr");
	path_in(ext, sizeof(ext), a->dir, "server.ext");
	path_in(log, sizeof(log), a->dir, "openssl.log");
	path_in(sanf, sizeof(sanf), a->dir, "server.ip");

	if (access(ca_crt, R_OK) != 0 || access(ca_key, R_OK) != 0) {
		const char *ca_argv[] = {"openssl",
		                         "req",
		                         "-x509",
		                         "-newkey",
		                         "ec",
		                         "-pkeyopt",
		                         "ec_paramgen_curve:prime256v1",
		                         "-nodes",
		                         "-keyout",
		                         ca_key,
		                         "-out",
		                         ca_crt,
		                         "-days",
		                         "3650",
		                         "-subj",
		                         "/CN=kubesim-ca",
		                         "-addext",
		                         "basicConstraints=critical,CA:TRUE",
		                         "-addext",
		                         "keyUsage=critical,keyCertSign,cRLSign",
		                         NULL};
		if (run_openssl(ca_argv, log, err, errlen))
			return -1;
		unlink(crt);
	}
	char *old_ip = read_file(sanf, 256);
	bool fresh = access(crt, R_OK) == 0 && access(key, R_OK) == 0 && old_ip &&
	             strcmp(old_ip, ip) == 0;
	free(old_ip);
	if (fresh)
		return 0;
	const char *key_argv[] = {"openssl",     "req",      "-newkey",
	                          "ec",          "-pkeyopt", "ec_paramgen_curve:prime256v1",
	                          "-nodes",      "-keyout",  key,
	                          "-out",        csr,        "-subj",
	                          "/CN=kubesim", NULL};
	if (run_openssl(key_argv, log, err, errlen))
		return -1;
	snprintf(extbody, sizeof(extbody),
	         "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
	         "extendedKeyUsage=serverAuth\nsubjectAltName=IP:%s,IP:127.0.0.1,DNS:localhost,"
	         "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,"
	         "DNS:kubernetes.default.svc.cluster.local\n",
	         ip);
	if (write_file(ext, extbody, 0600)) {
		snprintf(err, errlen, "%s: %s", ext, strerror(errno));
		return -1;
	}
	const char *sign_argv[] = {"openssl", "x509", "-req",   "-in",  csr,
	                           "-CA",     ca_crt, "-CAkey", ca_key, "-CAcreateserial",
	                           "-out",    crt,    "-days",  "3650", "-extfile",
	                           ext,       NULL};
	if (run_openssl(sign_argv, log, err, errlen))
		return -1;
	unlink(csr);
	if (write_file(sanf, ip, 0600)) {
		snprintf(err, errlen, "%s: %s", sanf, strerror(errno));
		return -1;
	}
	return 0;
}

static int save_tokens(ks_auth_t *a, char *err, size_t errlen)
{
	char path[2100];
	cJSON *arr = cJSON_CreateArray();
	char *text;
	for (size_t i = 0; arr && i < a->ntoks; i++) {
		cJSON *t = cJSON_CreateObject();
		cJSON_AddStringToObject(t, "token", a->toks[i].token);
		cJSON_AddStringToObject(t, "user", a->toks[i].user);
		cJSON_AddItemToArray(arr, t);
	}
	text = arr ? cJSON_Print(arr) : NULL;
	cJSON_Delete(arr);
	path_in(path, sizeof(path), a->dir, "tokens.json");
	if (!text || write_file(path, text, 0600)) {
		snprintf(err, errlen, "%s: cannot write", path);
		free(text);
		return -1;
	}
	free(text);
	return 0;
}

static void load_tokens(ks_auth_t *a)
{
	char path[2100];
	path_in(path, sizeof(path), a->dir, "tokens.json");
	char *text = read_file(path, 4u << 20);
	cJSON *arr = text ? cJSON_Parse(text) : NULL;
	const cJSON *t;
	free(text);
	cJSON_ArrayForEach(t, arr)
	{
		const char *tok =
		        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(t, "token"));
		const char *user =
		        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(t, "user"));
		if (!tok || !user || a->ntoks >= MAX_TOKENS)
			continue;
		tok_t *nt = realloc(a->toks, (a->ntoks + 1) * sizeof(tok_t));
		if (!nt)
			break;
		a->toks = nt;
		snprintf(a->toks[a->ntoks].token, sizeof(a->toks[0].token), "%s", tok);
		snprintf(a->toks[a->ntoks].user, sizeof(a->toks[0].user), "%s", user);
		a->ntoks++;
	}
	cJSON_Delete(arr);
}

ks_auth_t *ks_auth_new(const char *data_dir, const char *listen_ip, char *err, size_t errlen)
{
	ks_auth_t *a = calloc(1, sizeof(*a));
	char path[2100];
	char *tok;
	if (!a) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&a->mu, NULL);
	snprintf(a->dir, sizeof(a->dir), "%s", data_dir);
	if (mint_certs(a, listen_ip, err, errlen))
		goto fail;
	path_in(path, sizeof(path), a->dir, "server.crt");
	a->cert = read_file(path, MAX_PEM);
	path_in(path, sizeof(path), a->dir, "server.key");
	a->key = read_file(path, MAX_PEM);
	path_in(path, sizeof(path), a->dir, "ca.crt");
	a->ca = read_file(path, MAX_PEM);
	if (!a->cert || !a->key || !a->ca) {
		snprintf(err, errlen, "cannot read the certificates in %s", a->dir);
		goto fail;
	}
	path_in(path, sizeof(path), a->dir, "admin.token");
	tok = read_file(path, 128);
	if (tok && strlen(tok) >= 32 && strlen(tok) < sizeof(a->admin)) {
		snprintf(a->admin, sizeof(a->admin), "%s", tok);
	} else {
		random_hex(a->admin, 24);
		if (write_file(path, a->admin, 0600)) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			free(tok);
			goto fail;
		}
	}
	free(tok);
	load_tokens(a);
	return a;
fail:
	ks_auth_free(a);
	return NULL;
}

void ks_auth_free(ks_auth_t *a)
{
	if (!a)
		return;
	free(a->cert);
	free(a->key);
	free(a->ca);
	free(a->toks);
	pthread_mutex_destroy(&a->mu);
	free(a);
}

const char *ks_auth_cert_pem(const ks_auth_t *a)
{
	return a->cert;
}
const char *ks_auth_key_pem(const ks_auth_t *a)
{
	return a->key;
}
const char *ks_auth_ca_pem(const ks_auth_t *a)
{
	return a->ca;
}
const char *ks_auth_admin_token(const ks_auth_t *a)
{
	return a->admin;
}

/* Constant-time comparison of two NUL-terminated strings. */
static bool same(const char *x, const char *y)
{
	size_t lx = strlen(x), ly = strlen(y);
	unsigned char d = lx != ly;
	for (size_t i = 0; i < lx && i < ly; i++)
		d |= (unsigned char)(x[i] ^ y[i]);
	return d == 0;
}

bool ks_auth_check(ks_auth_t *a, const char *authz, char *user, size_t cap)
{
	const char *tok;
	bool ok = false;
	if (!authz || strncasecmp(authz, "Bearer ", 7) != 0)
		return false;
	tok = authz + 7;
	while (*tok == ' ')
		tok++;
	if (!*tok)
		return false;
	if (same(tok, a->admin)) {
		snprintf(user, cap, "kubesim-admin");
		return true;
	}
	pthread_mutex_lock(&a->mu);
	for (size_t i = 0; i < a->ntoks; i++) {
		if (same(tok, a->toks[i].token)) {
			snprintf(user, cap, "%s", a->toks[i].user);
			ok = true;
			break;
		}
	}
	pthread_mutex_unlock(&a->mu);
	return ok;
}

int ks_auth_mint(ks_auth_t *a, const char *ns, const char *sa, char *out, size_t cap, char *err,
                 size_t errlen)
{
	int rc;
	if (cap < 80) {
		snprintf(err, errlen, "token buffer too small");
		return -1;
	}
	pthread_mutex_lock(&a->mu);
	if (a->ntoks >= MAX_TOKENS) {
		pthread_mutex_unlock(&a->mu);
		snprintf(err, errlen, "too many tokens (%d)", MAX_TOKENS);
		return -1;
	}
	tok_t *nt = realloc(a->toks, (a->ntoks + 1) * sizeof(tok_t));
	if (!nt) {
		pthread_mutex_unlock(&a->mu);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	a->toks = nt;
	tok_t *t = &a->toks[a->ntoks++];
	memcpy(t->token, "kst-", 4);
	random_hex(t->token + 4, 24);
	snprintf(t->user, sizeof(t->user), "system:serviceaccount:%s:%s", ns, sa);
	snprintf(out, cap, "%s", t->token);
	rc = save_tokens(a, err, errlen);
	pthread_mutex_unlock(&a->mu);
	return rc;
}

bool ks_auth_revoke(ks_auth_t *a, const char *token)
{
	bool found = false;
	char err[256];
	pthread_mutex_lock(&a->mu);
	for (size_t i = 0; i < a->ntoks; i++) {
		if (strcmp(a->toks[i].token, token) == 0) {
			a->toks[i] = a->toks[--a->ntoks];
			found = true;
			break;
		}
	}
	if (found)
		save_tokens(a, err, sizeof(err));
	pthread_mutex_unlock(&a->mu);
	return found;
}

int ks_auth_write_kubeconfig(const ks_auth_t *a, const char *path, const char *server, char *err,
                             size_t errlen)
{
	char *ca = base_base64_encode(a->ca, strlen(a->ca));
	base_buf_t b;
	int rc;
	if (!ca) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	base_buf_init(&b, 1u << 20);
	rc = base_buf_printf(
	        &b,
	        "apiVersion: v1\nkind: Config\nclusters:\n- name: kubesim\n  cluster:\n"
	        "    server: %s\n    certificate-authority-data: %s\nusers:\n"
	        "- name: kubesim-admin\n  user:\n    token: %s\ncontexts:\n"
	        "- name: kubesim\n  context:\n    cluster: kubesim\n    user: kubesim-admin\n"
	        "    namespace: default\ncurrent-context: kubesim\npreferences: {}\n",
	        server, ca, a->admin);
	free(ca);
	if (rc || write_file(path, b.data, 0600)) {
		snprintf(err, errlen, "%s: cannot write: %s", path,
		         rc ? "too large" : strerror(errno));
		base_buf_free(&b);
		return -1;
	}
	base_buf_free(&b);
	return 0;
}

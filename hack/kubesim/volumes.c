#include "volumes.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kubeapi/kubeapi.h"
#include "podenv.h"

#define PATHCAP 4096

static const char *jstr(const cJSON *o, const char *k)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

static int mkdirs(const char *path)
{
	char tmp[PATHCAP];
	ks_fmt(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p == '/') {
			*p = '\0';
			if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
				return -1;
			*p = '/';
		}
	}
	if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
		return -1;
	return 0;
}

int ks_volumes_rm_tree(const char *path)
{
	struct stat st;
	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISDIR(st.st_mode))
		return unlink(path);
	DIR *d = opendir(path);
	if (!d)
		return -1;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		char sub[PATHCAP];
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		ks_fmt(sub, sizeof(sub), "%s/%s", path, de->d_name);
		ks_volumes_rm_tree(sub);
	}
	closedir(d);
	return rmdir(path);
}

static int write_file(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	while (len) {
		ssize_t w = write(fd, data, len);
		if (w <= 0) {
			close(fd);
			return -1;
		}
		data += w;
		len -= (size_t)w;
	}
	return close(fd);
}

/* True when path holds exactly data. */
static bool same_file(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char buf[8192];
	size_t off = 0;
	bool same = true;
	if (fd < 0)
		return false;
	for (;;) {
		ssize_t r = read(fd, buf, sizeof(buf));
		if (r < 0) {
			same = false;
			break;
		}
		if (r == 0)
			break;
		if (off + (size_t)r > len || memcmp(buf, data + off, (size_t)r) != 0) {
			same = false;
			break;
		}
		off += (size_t)r;
	}
	close(fd);
	return same && off == len;
}

/* Counts regular files below dir (recursively). */
static int count_files(const char *dir)
{
	DIR *d = opendir(dir);
	int n = 0;
	if (!d)
		return -1;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		char sub[PATHCAP];
		struct stat st;
		if (de->d_name[0] == '.' &&
		    (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
			continue;
		ks_fmt(sub, sizeof(sub), "%s/%s", dir, de->d_name);
		if (lstat(sub, &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			int k = count_files(sub);
			n += k > 0 ? k : 0;
		} else {
			n++;
		}
	}
	closedir(d);
	return n;
}

static bool safe_relpath(const char *p)
{
	if (!*p || *p == '/' || strlen(p) > 1024)
		return false;
	if (strncmp(p, "..", 2) == 0)
		return false; /* also keeps "..data" names reserved */
	return strstr(p, "/../") == NULL && strstr(p, "/..") == NULL;
}

int ks_volumes_write_atomic(const char *dir, const cJSON *files, char *err, size_t errlen)
{
	char data_link[PATHCAP], tsdir[PATHCAP], tsname[128], old[PATHCAP] = "";
	const cJSON *f;
	bool same = true;
	ssize_t n;

	if (mkdirs(dir) != 0) {
		ks_fmt(err, errlen, "mkdir %s: %s", dir, strerror(errno));
		return -1;
	}
	ks_fmt(data_link, sizeof(data_link), "%s/..data", dir);
	n = readlink(data_link, old, sizeof(old) - 1);
	if (n > 0) {
		old[n] = '\0';
		char cur[PATHCAP];
		int cnt = 0;
		cJSON_ArrayForEach(f, files)
		{
			const char *v = cJSON_GetStringValue(f);
			ks_fmt(cur, sizeof(cur), "%s/%s/%s", dir, old, f->string);
			cnt++;
			if (!v || !same_file(cur, v, strlen(v))) {
				same = false;
				break;
			}
		}
		ks_fmt(cur, sizeof(cur), "%s/%s", dir, old);
		if (same && count_files(cur) == cnt)
			return 0;
	} else {
		old[0] = '\0';
	}
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	ks_fmt(tsname, sizeof(tsname), "..%04d_%02d_%02d_%02d_%02d_%02d.%09ld", tm.tm_year + 1900,
	       tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long)ts.tv_nsec);
	if (old[0] && strcmp(old, tsname) == 0)
		ks_fmt(tsname + strlen(tsname), sizeof(tsname) - strlen(tsname), "b");
	ks_fmt(tsdir, sizeof(tsdir), "%s/%s", dir, tsname);
	if (mkdir(tsdir, 0755) != 0) {
		ks_fmt(err, errlen, "mkdir %s: %s", tsdir, strerror(errno));
		return -1;
	}
	cJSON_ArrayForEach(f, files)
	{
		char path[PATHCAP];
		const char *v = cJSON_GetStringValue(f);
		if (!v || !safe_relpath(f->string)) {
			ks_fmt(err, errlen, "invalid file path \"%s\"", f->string);
			ks_volumes_rm_tree(tsdir);
			return -1;
		}
		ks_fmt(path, sizeof(path), "%s/%s", tsdir, f->string);
		char *slash = strrchr(path, '/');
		*slash = '\0';
		mkdirs(path);
		*slash = '/';
		if (write_file(path, v, strlen(v)) != 0) {
			ks_fmt(err, errlen, "write %s: %s", path, strerror(errno));
			ks_volumes_rm_tree(tsdir);
			return -1;
		}
	}
	char tmp_link[PATHCAP];
	ks_fmt(tmp_link, sizeof(tmp_link), "%s/..data_tmp", dir);
	unlink(tmp_link);
	if (symlink(tsname, tmp_link) != 0 || rename(tmp_link, data_link) != 0) {
		ks_fmt(err, errlen, "swap %s: %s", data_link, strerror(errno));
		return -1;
	}
	/* Top-level links into ..data: add the new ones, drop the stale ones. */
	cJSON_ArrayForEach(f, files)
	{
		char top[PATHCAP], link[PATHCAP], target[PATHCAP];
		ks_fmt(top, sizeof(top), "%s", f->string);
		char *slash = strchr(top, '/');
		if (slash)
			*slash = '\0';
		ks_fmt(link, sizeof(link), "%s/%s", dir, top);
		ks_fmt(target, sizeof(target), "..data/%s", top);
		struct stat st;
		if (lstat(link, &st) != 0 && symlink(target, link) != 0) {
			ks_fmt(err, errlen, "symlink %s: %s", link, strerror(errno));
			return -1;
		}
	}
	DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		bool keep = false;
		cJSON_ArrayForEach(f, files)
		{
			size_t l = strlen(de->d_name);
			if (strncmp(f->string, de->d_name, l) == 0 &&
			    (f->string[l] == '\0' || f->string[l] == '/'))
				keep = true;
		}
		if (!keep) {
			char link[PATHCAP];
			ks_fmt(link, sizeof(link), "%s/%s", dir, de->d_name);
			unlink(link);
		}
	}
	if (d)
		closedir(d);
	if (old[0]) {
		char oldp[PATHCAP];
		ks_fmt(oldp, sizeof(oldp), "%s/%s", dir, old);
		ks_volumes_rm_tree(oldp);
	}
	return 0;
}

/* ---- sources ------------------------------------------------------------ */

char *ks_volumes_b64dec(const char *s, size_t *outlen)
{
	size_t n = strlen(s);
	char *out = malloc(n / 4 * 3 + 4);
	unsigned v = 0;
	int bits = 0;
	size_t o = 0;
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		int d;
		if (c >= 'A' && c <= 'Z')
			d = c - 'A';
		else if (c >= 'a' && c <= 'z')
			d = c - 'a' + 26;
		else if (c >= '0' && c <= '9')
			d = c - '0' + 52;
		else if (c == '+')
			d = 62;
		else if (c == '/')
			d = 63;
		else
			continue;
		v = (v << 6) | (unsigned)d;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (char)((v >> bits) & 0xff);
		}
	}
	out[o] = '\0';
	*outlen = o;
	return out;
}

/* Adds the keys of a ConfigMap/Secret (data map, base64 for secrets) to
 * files, honouring items[] {key, path}. Returns 0, 1 (missing, required),
 * -1 (a listed key is missing). */
static int add_kv_source(ks_store_t *st, const char *ns, const char *res, const cJSON *src,
                         cJSON *files, char *err, size_t errlen)
{
	const ks_rtype_t *rt = ks_rtype_find("", "v1", res);
	bool secret = strcmp(res, "secrets") == 0;
	const char *name = jstr(src, secret ? "secretName" : "name");
	if (!name)
		name = jstr(src, "name");
	bool optional = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(src, "optional"));
	cJSON *obj = NULL;
	ks_err_t e;
	if (!name || ks_store_get(st, rt, ns, name, &obj, &e) != 0) {
		if (optional)
			return 0;
		ks_fmt(err, errlen, "%s \"%s\" not found", secret ? "secret" : "configmap",
		       name ? name : "");
		return 1;
	}
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(obj, "data");
	const cJSON *items = cJSON_GetObjectItemCaseSensitive(src, "items");
	const cJSON *kv;
	int rc = 0;
	if (cJSON_GetArraySize(items) > 0) {
		const cJSON *it;
		cJSON_ArrayForEach(it, items)
		{
			const char *key = jstr(it, "key"), *path = jstr(it, "path");
			const cJSON *v = cJSON_GetObjectItemCaseSensitive(data, key ? key : "");
			if (!cJSON_IsString(v)) {
				if (optional)
					continue;
				ks_fmt(err, errlen, "%s \"%s\" has no key \"%s\"",
				       secret ? "secret" : "configmap", name, key ? key : "");
				rc = 1;
				break;
			}
			kv = v;
			if (secret) {
				size_t l;
				char *dec = ks_volumes_b64dec(v->valuestring, &l);
				cJSON_DeleteItemFromObjectCaseSensitive(files, path ? path : key);
				cJSON_AddStringToObject(files, path ? path : key, dec ? dec : "");
				free(dec);
			} else {
				cJSON_DeleteItemFromObjectCaseSensitive(files, path ? path : key);
				cJSON_AddStringToObject(files, path ? path : key, kv->valuestring);
			}
		}
	} else {
		cJSON_ArrayForEach(kv, data)
		{
			if (!cJSON_IsString(kv))
				continue;
			char *val = kv->valuestring;
			size_t l;
			char *dec = secret ? ks_volumes_b64dec(val, &l) : NULL;
			cJSON_DeleteItemFromObjectCaseSensitive(files, kv->string);
			cJSON_AddStringToObject(files, kv->string, secret ? (dec ? dec : "") : val);
			free(dec);
		}
	}
	cJSON_Delete(obj);
	return rc;
}

/* metadata.labels as the downward API writes them: key="value" lines. */
static char *map_text(const cJSON *m)
{
	size_t cap = 1;
	const cJSON *kv;
	cJSON_ArrayForEach(kv, m) cap +=
	        strlen(kv->string) + strlen(cJSON_GetStringValue(kv) ?: "") * 2 + 8;
	char *out = malloc(cap);
	size_t o = 0;
	if (!out)
		return NULL;
	out[0] = '\0';
	cJSON_ArrayForEach(kv, m)
	{
		const char *v = cJSON_GetStringValue(kv) ?: "";
		ks_fmt(out + o, cap - o, "%s%s=\"", o ? "\n" : "", kv->string);
		o += strlen(out + o);
		for (; *v && o + 3 < cap; v++) {
			if (*v == '"' || *v == '\\')
				out[o++] = '\\';
			out[o++] = *v;
		}
		if (o + 1 < cap)
			out[o++] = '"';
		out[o] = '\0';
	}
	return out;
}

/* Resolves a downward API fieldRef path on the pod into a new string. */
static char *field_value(const cJSON *pod, const char *path)
{
	char key[300];
	if (strncmp(path, "metadata.labels['", 17) == 0 ||
	    strncmp(path, "metadata.annotations['", 22) == 0) {
		bool lab = path[9] == 'l';
		const char *k = path + (lab ? 17 : 22);
		ks_fmt(key, sizeof(key), "%s", k);
		char *q = strstr(key, "']");
		if (q)
			*q = '\0';
		const cJSON *m =
		        kubeapi_get_path(pod, lab ? "metadata.labels" : "metadata.annotations");
		return strdup(jstr(m, key) ?: "");
	}
	if (strcmp(path, "metadata.labels") == 0 || strcmp(path, "metadata.annotations") == 0)
		return map_text(kubeapi_get_path(pod, path));
	if (strcmp(path, "status.podIPs") == 0 || strcmp(path, "status.hostIPs") == 0)
		path = path[7] == 'p' ? "status.podIP" : "status.hostIP";
	if (strcmp(path, "spec.serviceAccountName") == 0 && !kubeapi_get_path(pod, path))
		return strdup("default");
	const cJSON *v = kubeapi_get_path(pod, path);
	if (cJSON_IsString(v))
		return strdup(v->valuestring);
	if (cJSON_IsNumber(v)) {
		char b[32];
		ks_fmt(b, sizeof(b), "%g", v->valuedouble);
		return strdup(b);
	}
	return strdup("");
}

static int add_downward(const cJSON *pod, const cJSON *src, cJSON *files, char *err, size_t errlen)
{
	const cJSON *it;
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(src, "items"))
	{
		const char *path = jstr(it, "path");
		const char *fp = cJSON_GetStringValue(kubeapi_get_path(it, "fieldRef.fieldPath"));
		if (!path) {
			ks_fmt(err, errlen, "downwardAPI item without a path");
			return -1;
		}
		char *v = fp ? field_value(pod, fp) : strdup("");
		cJSON_AddStringToObject(files, path, v ? v : "");
		free(v);
	}
	return 0;
}

bool ks_volumes_automount(ks_store_t *st, const cJSON *pod)
{
	const cJSON *a = kubeapi_get_path(pod, "spec.automountServiceAccountToken");
	if (cJSON_IsBool(a))
		return cJSON_IsTrue(a);
	const char *ns = cJSON_GetStringValue(kubeapi_get_path(pod, "metadata.namespace"));
	const char *sa = cJSON_GetStringValue(kubeapi_get_path(pod, "spec.serviceAccountName"));
	cJSON *obj = NULL;
	ks_err_t e;
	bool on = true;
	if (ns && ks_store_get(st, ks_rtype_find("", "v1", "serviceaccounts"), ns,
	                       sa ? sa : "default", &obj, &e) == 0) {
		const cJSON *x =
		        cJSON_GetObjectItemCaseSensitive(obj, "automountServiceAccountToken");
		if (cJSON_IsBool(x))
			on = cJSON_IsTrue(x);
		cJSON_Delete(obj);
	}
	return on;
}

static void vol_dir(const char *poddir, const char *vol, char *out, size_t cap)
{
	ks_fmt(out, cap, "%s/volumes/%s", poddir, vol);
}

int ks_volumes_sync(const ks_vol_ctx_t *ctx, const cJSON *pod, const char *poddir, char *err,
                    size_t errlen)
{
	const char *ns =
	        cJSON_GetStringValue(kubeapi_get_path(pod, "metadata.namespace")) ?: "default";
	const cJSON *v;
	char dir[PATHCAP];
	int result = 0;

	cJSON_ArrayForEach(v, kubeapi_get_path(pod, "spec.volumes"))
	{
		const char *name = jstr(v, "name");
		const cJSON *src;
		int rc = 0;
		if (!name || !*name || strchr(name, '/') || name[0] == '.') {
			ks_fmt(err, errlen, "volume with an invalid name");
			return -1;
		}
		vol_dir(poddir, name, dir, sizeof(dir));
		cJSON *files = cJSON_CreateObject();
		bool atomic = true;
		if ((src = cJSON_GetObjectItemCaseSensitive(v, "configMap"))) {
			rc = add_kv_source(ctx->store, ns, "configmaps", src, files, err, errlen);
		} else if ((src = cJSON_GetObjectItemCaseSensitive(v, "secret"))) {
			rc = add_kv_source(ctx->store, ns, "secrets", src, files, err, errlen);
		} else if ((src = cJSON_GetObjectItemCaseSensitive(v, "downwardAPI"))) {
			rc = add_downward(pod, src, files, err, errlen);
		} else if ((src = cJSON_GetObjectItemCaseSensitive(v, "projected"))) {
			const cJSON *s;
			cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(src, "sources"))
			{
				const cJSON *x;
				if ((x = cJSON_GetObjectItemCaseSensitive(s, "configMap")))
					rc = add_kv_source(ctx->store, ns, "configmaps", x, files,
					                   err, errlen);
				else if ((x = cJSON_GetObjectItemCaseSensitive(s, "secret")))
					rc = add_kv_source(ctx->store, ns, "secrets", x, files, err,
					                   errlen);
				else if ((x = cJSON_GetObjectItemCaseSensitive(s, "downwardAPI")))
					rc = add_downward(pod, x, files, err, errlen);
				else if ((x = cJSON_GetObjectItemCaseSensitive(
				                  s, "serviceAccountToken")))
					cJSON_AddStringToObject(files, jstr(x, "path") ?: "token",
					                        ctx->sa_token ? ctx->sa_token : "");
				if (rc)
					break;
			}
		} else if (cJSON_GetObjectItemCaseSensitive(v, "emptyDir")) {
			atomic = false;
			if (mkdirs(dir) != 0) {
				ks_fmt(err, errlen, "mkdir %s: %s", dir, strerror(errno));
				rc = -1;
			}
		} else if (cJSON_GetObjectItemCaseSensitive(v, "hostPath")) {
			atomic = false; /* mapped to the host path by ks_volumes_rewrite */
		} else {
			ks_fmt(err, errlen, "volume \"%s\": unsupported volume type in kubesim",
			       name);
			rc = -1;
		}
		if (rc == 0 && atomic)
			rc = ks_volumes_write_atomic(dir, files, err, errlen);
		else if (rc == 1 && atomic)
			mkdirs(dir);
		cJSON_Delete(files);
		if (rc < 0)
			return -1;
		if (rc == 1)
			result = 1;
	}
	if (ctx->sa_token) {
		cJSON *files = cJSON_CreateObject();
		cJSON_AddStringToObject(files, "token", ctx->sa_token);
		cJSON_AddStringToObject(files, "ca.crt", ctx->ca_pem ? ctx->ca_pem : "");
		cJSON_AddStringToObject(files, "namespace", ns);
		vol_dir(poddir, KS_SA_VOLUME, dir, sizeof(dir));
		int rc = ks_volumes_write_atomic(dir, files, err, errlen);
		cJSON_Delete(files);
		if (rc)
			return -1;
	}
	return result;
}

/* The host directory for mount m of the pod, into out. */
static bool mount_host(const cJSON *pod_volumes, const cJSON *m, const char *poddir, char *out,
                       size_t cap)
{
	const char *vol = jstr(m, "name");
	const char *sub = jstr(m, "subPath");
	const cJSON *v;
	if (!vol)
		return false;
	cJSON_ArrayForEach(v, pod_volumes)
	{
		const char *n = jstr(v, "name");
		if (n && strcmp(n, vol) == 0) {
			const char *hp = cJSON_GetStringValue(kubeapi_get_path(v, "hostPath.path"));
			if (hp)
				ks_fmt(out, cap, "%s", hp);
			else
				vol_dir(poddir, vol, out, cap);
			if (sub && *sub)
				ks_fmt(out + strlen(out), cap - strlen(out), "/%s", sub);
			return true;
		}
	}
	return false;
}

static bool prefix_at(const char *s, const char *p, size_t *plen)
{
	size_t n = strlen(p);
	while (n > 1 && p[n - 1] == '/')
		n--;
	if (n == 0 || strncmp(s, p, n) != 0 || (s[n] != '\0' && s[n] != '/'))
		return false;
	*plen = n;
	return true;
}

char *ks_volumes_rewrite(const cJSON *pod, const cJSON *container, bool automount,
                         const char *poddir, const char *value)
{
	const cJSON *pod_volumes = kubeapi_get_path(pod, "spec.volumes");
	const char *starts[2] = {value, NULL};
	const char *eq = strchr(value, '=');
	if (eq && memchr(value, '/', (size_t)(eq - value)) == NULL)
		starts[1] = eq + 1;
	for (int k = 0; k < 2; k++) {
		const char *s = starts[k];
		const cJSON *m;
		size_t best = 0;
		char host[PATHCAP] = "";
		if (!s)
			continue;
		cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(container, "volumeMounts"))
		{
			const char *mp = jstr(m, "mountPath");
			size_t l;
			char h[PATHCAP];
			if (mp && prefix_at(s, mp, &l) && l > best &&
			    mount_host(pod_volumes, m, poddir, h, sizeof(h))) {
				best = l;
				ks_fmt(host, sizeof(host), "%s", h);
			}
		}
		size_t l;
		if (automount && prefix_at(s, KS_SA_MOUNT, &l) && l > best) {
			best = l;
			vol_dir(poddir, KS_SA_VOLUME, host, sizeof(host));
		}
		if (best) {
			size_t pre = (size_t)(s - value);
			size_t n = pre + strlen(host) + strlen(s + best) + 1;
			char *out = malloc(n);
			if (!out)
				return NULL;
			ks_fmt(out, n, "%.*s%s%s", (int)pre, value, host, s + best);
			return out;
		}
	}
	return strdup(value);
}

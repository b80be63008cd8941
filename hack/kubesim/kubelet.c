#include "kubelet.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "kubeapi/kubeapi.h"
#include "podenv.h"
#include "probes.h"
#include "proc.h"
#include "volumes.h"

#define TICK_MS          100
#define PATHCAP          4096
#define BACKOFF_RESET_MS (10 * 60 * 1000) /* a container that ran this long starts afresh */

typedef enum { C_WAITING, C_RUNNING, C_TERMINATED } cstate_t;

typedef struct {
	char name[128];
	char image[512];
	ks_proc_t proc;
	cstate_t state;
	char reason[64];
	char message[512];
	int exit_code;
	char started_at[40], finished_at[40];
	bool has_last;
	int last_exit;
	char last_reason[64], last_started[40], last_finished[40];
	int restarts;       /* restartCount */
	int starts;         /* times started (log file index = starts - 1) */
	int64_t run_ms;     /* monotonic start of the current run */
	int64_t next_ms;    /* earliest (re)start */
	int64_t backoff_ms; /* next back-off delay */
	bool done;          /* will not run again (restart policy) */
	bool liveness_kill; /* killed because liveness failed */
	int64_t kill_at;    /* SIGKILL after this (0 = none) */
	bool ready, started;
	ks_probe_t *readiness, *liveness, *startup;
} ctr_t;

typedef struct pod {
	struct pod *next;
	char ns[64], name[256], uid[64];
	cJSON *obj; /* latest object (owned) */
	char dir[PATHCAP];
	uint32_t ip;
	char ips[20];
	char token[160];
	bool automount;
	bool vol_ok;
	char vol_msg[512];
	int64_t vol_next;
	ctr_t *c;
	int nc;
	bool terminating, gone, finished;
	int64_t term_deadline;
	char start_time[40];
	char ready_since[40], cready_since[40], init_since[40];
	bool was_ready;
	char *last_status; /* last written status JSON */
} pod_t;

struct ks_kubelet {
	ks_kubelet_config_t cfg;
	char data_dir[PATHCAP], bin_dir[PATHCAP], node[128], api_host[64];
	pod_t *pods;
	int sub;
	int timer;
	int64_t last_ms;
};

static const char *jstr(const cJSON *o, const char *k)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

static const char *pstr(const cJSON *o, const char *path)
{
	return cJSON_GetStringValue(kubeapi_get_path(o, path));
}

static void now_ts(char *buf, size_t cap)
{
	ks_timestamp(buf, cap);
}

static int mkdir_p(const char *path)
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
	return mkdir(tmp, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

void ks_kubelet_pod_dir(const char *data_dir, const char *ns, const char *name, const char *uid,
                        char *out, size_t cap)
{
	ks_fmt(out, cap, "%s/pods/%s_%s_%s", data_dir, ns, name, uid);
}

/* ---- pod table ------------------------------------------------------------ */

static pod_t *find_pod(ks_kubelet_t *k, const char *uid)
{
	for (pod_t *p = k->pods; p; p = p->next) {
		if (strcmp(p->uid, uid) == 0)
			return p;
	}
	return NULL;
}

static void free_probes(ctr_t *c)
{
	ks_probe_free(c->readiness);
	ks_probe_free(c->liveness);
	ks_probe_free(c->startup);
	c->readiness = c->liveness = c->startup = NULL;
}

static void pod_free(pod_t *p)
{
	for (int i = 0; i < p->nc; i++)
		free_probes(&p->c[i]);
	free(p->c);
	cJSON_Delete(p->obj);
	free(p->last_status);
	free(p);
}

static bool any_running(const pod_t *p)
{
	for (int i = 0; i < p->nc; i++) {
		if (p->c[i].proc.shim > 0)
			return true;
	}
	return false;
}

/* ---- process composition --------------------------------------------- */

static bool executable(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* Resolves prog through PATH (as the container's PATH would) into out. */
static bool resolve_prog(const char *prog, const char *path_env, char *out, size_t cap)
{
	if (strchr(prog, '/')) {
		ks_fmt(out, cap, "%s", prog);
		return executable(out);
	}
	char dirs[PATHCAP];
	char *save = NULL;
	ks_fmt(dirs, sizeof(dirs), "%s", path_env);
	for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		ks_fmt(out, cap, "%s/%s", d, prog);
		if (executable(out))
			return true;
	}
	return false;
}

static void add_service_env(ks_kubelet_t *k, pod_t *p, ks_env_t *env)
{
	char v[128], name[300], key[400];
	ks_fmt(v, sizeof(v), "%s", k->api_host);
	ks_env_set(env, "KUBERNETES_SERVICE_HOST", v);
	ks_fmt(v, sizeof(v), "%d", k->cfg.api_port);
	ks_env_set(env, "KUBERNETES_SERVICE_PORT", v);
	ks_env_set(env, "KUBERNETES_SERVICE_PORT_HTTPS", v);
	ks_fmt(v, sizeof(v), "tcp://%s:%d", k->api_host, k->cfg.api_port);
	ks_env_set(env, "KUBERNETES_PORT", v);
	const cJSON *esl = kubeapi_get_path(p->obj, "spec.enableServiceLinks");
	if (cJSON_IsFalse(esl))
		return;
	cJSON *items = NULL;
	uint64_t rv;
	char cont[8];
	long rest;
	ks_err_t e;
	if (ks_store_list(k->cfg.store, ks_rtype_find("", "v1", "services"), p->ns, NULL, NULL, 0,
	                  NULL, &items, &rv, cont, sizeof(cont), &rest, &e))
		return;
	const cJSON *s;
	cJSON_ArrayForEach(s, items)
	{
		const char *ip = pstr(s, "spec.clusterIP");
		const cJSON *ports = kubeapi_get_path(s, "spec.ports");
		if (!ip || !*ip || strcmp(ip, "None") == 0 || cJSON_GetArraySize(ports) == 0)
			continue;
		ks_service_env_name(pstr(s, "metadata.name") ?: "", name, sizeof(name));
		ks_fmt(key, sizeof(key), "%s_SERVICE_HOST", name);
		ks_env_set(env, key, ip);
		const cJSON *pt;
		bool first = true;
		cJSON_ArrayForEach(pt, ports)
		{
			int port = (int)cJSON_GetNumberValue(
			        cJSON_GetObjectItemCaseSensitive(pt, "port"));
			const char *pn = jstr(pt, "name");
			const char *proto = jstr(pt, "protocol") ?: "TCP";
			char lproto[8], pv[16];
			ks_fmt(pv, sizeof(pv), "%d", port);
			size_t i = 0;
			for (; proto[i] && i + 1 < sizeof(lproto); i++)
				lproto[i] =
				        (char)(proto[i] >= 'A' && proto[i] <= 'Z' ? proto[i] + 32
				                                                  : proto[i]);
			lproto[i] = '\0';
			if (first) {
				ks_fmt(key, sizeof(key), "%s_SERVICE_PORT", name);
				ks_env_set(env, key, pv);
				ks_fmt(key, sizeof(key), "%s_PORT", name);
				ks_fmt(v, sizeof(v), "%s://%s:%d", lproto, ip, port);
				ks_env_set(env, key, v);
				first = false;
			}
			if (pn && *pn) {
				char pnu[128];
				ks_service_env_name(pn, pnu, sizeof(pnu));
				ks_fmt(key, sizeof(key), "%s_SERVICE_PORT_%s", name, pnu);
				ks_env_set(env, key, pv);
			}
			ks_fmt(key, sizeof(key), "%s_PORT_%d_%s", name, port, proto);
			ks_fmt(v, sizeof(v), "%s://%s:%d", lproto, ip, port);
			ks_env_set(env, key, v);
			ks_fmt(key, sizeof(key), "%s_PORT_%d_%s_PROTO", name, port, proto);
			ks_env_set(env, key, lproto);
			ks_fmt(key, sizeof(key), "%s_PORT_%d_%s_PORT", name, port, proto);
			ks_env_set(env, key, pv);
			ks_fmt(key, sizeof(key), "%s_PORT_%d_%s_ADDR", name, port, proto);
			ks_env_set(env, key, ip);
		}
	}
	cJSON_Delete(items);
}

/* Looks a key up in a ConfigMap or Secret (decoded). 0 found, 1 missing
 * (object or key), with *out a new string. */
static int kv_lookup(ks_kubelet_t *k, const char *ns, bool secret, const char *name,
                     const char *key, char **out)
{
	cJSON *obj = NULL;
	ks_err_t e;
	*out = NULL;
	if (!name ||
	    ks_store_get(k->cfg.store, ks_rtype_find("", "v1", secret ? "secrets" : "configmaps"),
	                 ns, name, &obj, &e))
		return 1;
	const char *v = jstr(cJSON_GetObjectItemCaseSensitive(obj, "data"), key);
	if (v && secret) {
		size_t n;
		*out = ks_volumes_b64dec(v, &n);
	} else if (v) {
		*out = strdup(v);
	}
	cJSON_Delete(obj);
	return *out ? 0 : 1;
}

/* Container environment as the kubelet composes it. 0, or -1 with a
 * CreateContainerConfigError message. */
static int build_env(ks_kubelet_t *k, pod_t *p, const cJSON *c, ks_env_t *env, char *msg,
                     size_t cap)
{
	const cJSON *ef, *ev;
	add_service_env(k, p, env);
	cJSON_ArrayForEach(ef, cJSON_GetObjectItemCaseSensitive(c, "envFrom"))
	{
		const char *prefix = jstr(ef, "prefix") ?: "";
		const cJSON *ref = cJSON_GetObjectItemCaseSensitive(ef, "configMapRef");
		bool secret = false;
		if (!ref) {
			ref = cJSON_GetObjectItemCaseSensitive(ef, "secretRef");
			secret = true;
		}
		const char *name = jstr(ref, "name");
		cJSON *obj = NULL;
		ks_err_t e;
		if (!name ||
		    ks_store_get(k->cfg.store,
		                 ks_rtype_find("", "v1", secret ? "secrets" : "configmaps"), p->ns,
		                 name, &obj, &e)) {
			if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ref, "optional")))
				continue;
			ks_fmt(msg, cap, "%s \"%s\" not found", secret ? "secret" : "configmap",
			       name ? name : "");
			return -1;
		}
		const cJSON *kv;
		cJSON_ArrayForEach(kv, cJSON_GetObjectItemCaseSensitive(obj, "data"))
		{
			char key[512];
			char *val = NULL;
			ks_fmt(key, sizeof(key), "%s%s", prefix, kv->string);
			if (secret)
				kv_lookup(k, p->ns, true, name, kv->string, &val);
			ks_env_set(env, key,
			           secret ? (val ? val : "") : (cJSON_GetStringValue(kv) ?: ""));
			free(val);
		}
		cJSON_Delete(obj);
	}
	cJSON_ArrayForEach(ev, cJSON_GetObjectItemCaseSensitive(c, "env"))
	{
		const char *name = jstr(ev, "name");
		const cJSON *vf = cJSON_GetObjectItemCaseSensitive(ev, "valueFrom");
		char *val = NULL;
		if (!name)
			continue;
		if (!vf) {
			val = ks_expand(jstr(ev, "value") ?: "", env);
		} else if (cJSON_GetObjectItemCaseSensitive(vf, "fieldRef")) {
			const char *fp = pstr(vf, "fieldRef.fieldPath") ?: "";
			if (strcmp(fp, "status.podIP") == 0 || strcmp(fp, "status.podIPs") == 0)
				val = strdup(p->ips);
			else if (strcmp(fp, "status.hostIP") == 0 ||
			         strcmp(fp, "status.hostIPs") == 0)
				val = strdup(k->api_host);
			else if (strcmp(fp, "spec.nodeName") == 0)
				val = strdup(k->node);
			else if (strcmp(fp, "spec.serviceAccountName") == 0)
				val = strdup(pstr(p->obj, "spec.serviceAccountName") ?: "default");
			else if (strncmp(fp, "metadata.labels['", 17) == 0 ||
			         strncmp(fp, "metadata.annotations['", 22) == 0) {
				bool lab = fp[9] == 'l';
				char key[300];
				ks_fmt(key, sizeof(key), "%s", fp + (lab ? 17 : 22));
				char *q = strstr(key, "']");
				if (q)
					*q = '\0';
				val = strdup(
				        jstr(kubeapi_get_path(p->obj, lab ? "metadata.labels"
				                                          : "metadata.annotations"),
				             key)
				                ?: "");
			} else {
				const char *s = pstr(p->obj, fp);
				if (!s && strncmp(fp, "metadata.", 9) != 0) {
					ks_fmt(msg, cap, "env %s: unsupported fieldPath \"%s\"",
					       name, fp);
					return -1;
				}
				val = strdup(s ? s : "");
			}
		} else if (cJSON_GetObjectItemCaseSensitive(vf, "configMapKeyRef") ||
		           cJSON_GetObjectItemCaseSensitive(vf, "secretKeyRef")) {
			bool secret = cJSON_GetObjectItemCaseSensitive(vf, "secretKeyRef") != NULL;
			const cJSON *r = cJSON_GetObjectItemCaseSensitive(
			        vf, secret ? "secretKeyRef" : "configMapKeyRef");
			if (kv_lookup(k, p->ns, secret, jstr(r, "name"), jstr(r, "key") ?: "",
			              &val)) {
				if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "optional")))
					continue;
				ks_fmt(msg, cap, "couldn't find key %s in %s %s/%s",
				       jstr(r, "key") ?: "", secret ? "Secret" : "ConfigMap", p->ns,
				       jstr(r, "name") ?: "");
				return -1;
			}
		} else if (cJSON_GetObjectItemCaseSensitive(vf, "resourceFieldRef")) {
			const char *res = pstr(vf, "resourceFieldRef.resource") ?: "";
			const cJSON *m = kubeapi_get_path(c, strncmp(res, "limits.", 7) == 0
			                                             ? "resources.limits"
			                                             : "resources.requests");
			const char *dot = strchr(res, '.');
			val = strdup(jstr(m, dot ? dot + 1 : res) ?: "0");
		} else {
			ks_fmt(msg, cap, "env %s: unsupported valueFrom", name);
			return -1;
		}
		ks_env_set(env, name, val ? val : "");
		free(val);
	}
	return 0;
}

typedef enum { START_OK, START_IMAGE, START_CONFIG, START_RUN } start_err_t;

/* Builds argv/env and spawns container i. */
static start_err_t start_container(ks_kubelet_t *k, pod_t *p, int i, char *msg, size_t cap)
{
	ctr_t *ct = &p->c[i];
	const cJSON *c = cJSON_GetArrayItem(kubeapi_get_path(p->obj, "spec.containers"), i);
	ks_env_t env = {0};
	char prog[256], img_bin[PATHCAP], path[PATHCAP], buf[PATHCAP];
	const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(c, "command");
	const cJSON *args = cJSON_GetObjectItemCaseSensitive(c, "args");
	char **argv = NULL;
	size_t argc = 0;
	start_err_t rc = START_OK;
	char path_env[PATHCAP];

	ks_fmt(path_env, sizeof(path_env),
	       "%s:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", k->bin_dir);
	bool has_img = ks_image_program(ct->image, prog, sizeof(prog)) == 0;
	ks_fmt(img_bin, sizeof(img_bin), "%s/%s", k->bin_dir, has_img ? prog : "");
	has_img = has_img && executable(img_bin);
	if (!has_img && cJSON_GetArraySize(cmd) == 0) {
		ks_fmt(msg, cap,
		       "Failed to pull image \"%s\": kubesim maps images to %s/NAME and %s does "
		       "not exist; set the container's command to a host program",
		       ct->image, k->bin_dir, img_bin);
		return START_IMAGE;
	}
	if (build_env(k, p, c, &env, msg, cap)) {
		ks_env_free(&env);
		return START_CONFIG;
	}
	if (!ks_env_get(&env, "PATH"))
		ks_env_set(&env, "PATH", path_env);
	if (!ks_env_get(&env, "HOSTNAME"))
		ks_env_set(&env, "HOSTNAME", p->name);
	ks_fmt(buf, sizeof(buf), "%s/home", p->dir);
	ks_env_set(&env, "HOME", buf);
	ks_fmt(buf, sizeof(buf), "%s/tmp", p->dir);
	ks_env_set(&env, "TMPDIR", buf);
	if (p->automount) {
		ks_fmt(buf, sizeof(buf), "%s/volumes/%s", p->dir, KS_SA_VOLUME);
		ks_env_set(&env, "KUBERNETES_SA_DIR", buf);
	}
	static const char *pass[] = {"ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS",
	                             "TSAN_OPTIONS"};
	for (size_t j = 0; j < sizeof(pass) / sizeof(pass[0]); j++) {
		const char *v = getenv(pass[j]);
		if (v && !ks_env_get(&env, pass[j]))
			ks_env_set(&env, pass[j], v);
	}
	/* Container paths -> host paths in env values. */
	for (size_t j = 0; j < env.n; j++) {
		char *eq = strchr(env.v[j], '=');
		char *nv = ks_volumes_rewrite(p->obj, c, p->automount, p->dir, eq + 1);
		if (nv && strcmp(nv, eq + 1) != 0) {
			size_t l = (size_t)(eq - env.v[j]) + strlen(nv) + 2;
			char *kv = malloc(l);
			if (kv) {
				ks_fmt(kv, l, "%.*s=%s", (int)(eq - env.v[j]), env.v[j], nv);
				free(env.v[j]);
				env.v[j] = kv;
			}
		}
		free(nv);
	}
	size_t n = (size_t)cJSON_GetArraySize(cmd) + (size_t)cJSON_GetArraySize(args) + 2;
	argv = calloc(n, sizeof(char *));
	if (!argv) {
		ks_env_free(&env);
		ks_fmt(msg, cap, "out of memory");
		return START_RUN;
	}
	const cJSON *a;
	if (cJSON_GetArraySize(cmd) == 0)
		argv[argc++] = strdup(img_bin);
	cJSON_ArrayForEach(a, cmd)
	{
		char *x = ks_expand(cJSON_GetStringValue(a) ?: "", &env);
		argv[argc++] = x ? ks_volumes_rewrite(p->obj, c, p->automount, p->dir, x) : NULL;
		free(x);
	}
	cJSON_ArrayForEach(a, args)
	{
		char *x = ks_expand(cJSON_GetStringValue(a) ?: "", &env);
		argv[argc++] = x ? ks_volumes_rewrite(p->obj, c, p->automount, p->dir, x) : NULL;
		free(x);
	}
	for (size_t j = 0; j < argc; j++) {
		if (!argv[j]) {
			ks_fmt(msg, cap, "out of memory");
			rc = START_RUN;
			goto out;
		}
	}
	if (!resolve_prog(argv[0], ks_env_get(&env, "PATH") ?: path_env, path, sizeof(path))) {
		ks_fmt(msg, cap,
		       "failed to create containerd task: exec: \"%s\": executable file not found "
		       "in "
		       "$PATH",
		       argv[0]);
		rc = has_img ? START_RUN : START_IMAGE;
		goto out;
	}
	char logdir[PATHCAP], logpath[PATHCAP + 32], cwd[PATHCAP];
	ks_fmt(logdir, sizeof(logdir), "%s/logs/%s", p->dir, ct->name);
	mkdir_p(logdir);
	ks_fmt(logpath, sizeof(logpath), "%s/%d.log", logdir, ct->starts);
	unlink(logpath);
	if (ct->starts >= 2) {
		ks_fmt(buf, sizeof(buf), "%s/%d.log", logdir, ct->starts - 2);
		unlink(buf);
	}
	const char *wd = jstr(c, "workingDir");
	char *wdh = wd ? ks_volumes_rewrite(p->obj, c, p->automount, p->dir, wd) : NULL;
	struct stat st;
	ks_fmt(cwd, sizeof(cwd), "%s", wdh && stat(wdh, &st) == 0 ? wdh : "");
	if (!cwd[0])
		ks_fmt(cwd, sizeof(cwd), "%s/home", p->dir);
	free(wdh);
	ks_proc_spec_t spec = {path, argv, ks_env_vec(&env), cwd, logpath};
	char err[256];
	if (ks_proc_spawn(&spec, &ct->proc, err, sizeof(err))) {
		ks_fmt(msg, cap, "%s", err);
		rc = START_RUN;
		goto out;
	}
	/* Probes get this run's environment (exec probes). */
	free_probes(ct);
	const char *pk[3] = {"readinessProbe", "livenessProbe", "startupProbe"};
	ks_probe_t **slot[3] = {&ct->readiness, &ct->liveness, &ct->startup};
	for (int j = 0; j < 3; j++) {
		const cJSON *ps = cJSON_GetObjectItemCaseSensitive(c, pk[j]);
		if (!ps)
			continue;
		char **eargv = NULL;
		const cJSON *ec = kubeapi_get_path(ps, "exec.command");
		size_t en = (size_t)cJSON_GetArraySize(ec);
		if (en) {
			eargv = calloc(en + 1, sizeof(char *));
			size_t q = 0;
			cJSON_ArrayForEach(a, ec) eargv[q++] = ks_volumes_rewrite(
			        p->obj, c, p->automount, p->dir, cJSON_GetStringValue(a) ?: "");
			char rp[PATHCAP];
			if (eargv[0] && resolve_prog(eargv[0], ks_env_get(&env, "PATH") ?: path_env,
			                             rp, sizeof(rp))) {
				free(eargv[0]);
				eargv[0] = strdup(rp);
			}
		}
		*slot[j] = ks_probe_new(ps, c, p->ips, eargv, ks_env_vec(&env), err, sizeof(err));
		for (size_t q = 0; eargv && q < en; q++)
			free(eargv[q]);
		free(eargv);
		if (!*slot[j])
			base_log(BASE_LOG_WARN, "probe-invalid", "pod", p->name, "container",
			         ct->name, "probe", pk[j], "error", err, (char *)NULL);
		else
			ks_probe_reset(*slot[j], base_now_ms());
	}
	ct->starts++;
	ct->state = C_RUNNING;
	ct->reason[0] = ct->message[0] = '\0';
	ct->run_ms = base_now_ms();
	ct->ready = false;
	ct->started = !ct->startup;
	ct->liveness_kill = false;
	ct->kill_at = 0;
	now_ts(ct->started_at, sizeof(ct->started_at));
	char pids[16];
	ks_fmt(pids, sizeof(pids), "%d", (int)ct->proc.pid);
	base_log(BASE_LOG_INFO, "container-started", "pod", p->name, "namespace", p->ns,
	         "container", ct->name, "pid", pids, "program", path, (char *)NULL);
out:
	for (size_t j = 0; j < argc; j++)
		free(argv[j]);
	free(argv);
	ks_env_free(&env);
	return rc;
}

/* ---- status ------------------------------------------------------------- */

static cJSON *state_obj(cstate_t s, const char *reason, const char *message, int exit_code,
                        const char *started, const char *finished)
{
	cJSON *st = cJSON_CreateObject();
	if (s == C_RUNNING) {
		cJSON *r = cJSON_AddObjectToObject(st, "running");
		cJSON_AddStringToObject(r, "startedAt", started);
	} else if (s == C_TERMINATED) {
		cJSON *t = cJSON_AddObjectToObject(st, "terminated");
		cJSON_AddNumberToObject(t, "exitCode", exit_code);
		cJSON_AddStringToObject(t, "reason", reason);
		if (message && *message)
			cJSON_AddStringToObject(t, "message", message);
		cJSON_AddStringToObject(t, "startedAt", started);
		cJSON_AddStringToObject(t, "finishedAt", finished);
	} else {
		cJSON *w = cJSON_AddObjectToObject(st, "waiting");
		cJSON_AddStringToObject(w, "reason",
		                        reason && *reason ? reason : "ContainerCreating");
		if (message && *message)
			cJSON_AddStringToObject(w, "message", message);
	}
	return st;
}

static void add_cond(cJSON *conds, const char *type, bool ok, const char *since, const char *reason)
{
	cJSON *c = cJSON_CreateObject();
	cJSON_AddStringToObject(c, "type", type);
	cJSON_AddStringToObject(c, "status", ok ? "True" : "False");
	cJSON_AddNullToObject(c, "lastProbeTime");
	cJSON_AddStringToObject(c, "lastTransitionTime", since);
	if (!ok && reason)
		cJSON_AddStringToObject(c, "reason", reason);
	cJSON_AddItemToArray(conds, c);
}

static cJSON *build_status(ks_kubelet_t *k, pod_t *p)
{
	cJSON *st = cJSON_CreateObject();
	bool all_ready = p->nc > 0, any_run = false, all_term = p->nc > 0, any_fail = false;
	bool all_started = true;
	char now[40];
	now_ts(now, sizeof(now));
	cJSON *cs = cJSON_CreateArray();
	for (int i = 0; i < p->nc; i++) {
		ctr_t *c = &p->c[i];
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", c->name);
		cJSON_AddItemToObject(o, "state",
		                      state_obj(c->state, c->reason, c->message, c->exit_code,
		                                c->started_at, c->finished_at));
		if (c->has_last)
			cJSON_AddItemToObject(o, "lastState",
			                      state_obj(C_TERMINATED, c->last_reason, NULL,
			                                c->last_exit, c->last_started,
			                                c->last_finished));
		else
			cJSON_AddObjectToObject(o, "lastState");
		cJSON_AddBoolToObject(o, "ready", c->ready && c->state == C_RUNNING);
		cJSON_AddNumberToObject(o, "restartCount", c->restarts);
		cJSON_AddStringToObject(o, "image", c->image);
		cJSON_AddStringToObject(o, "imageID", "");
		if (c->starts > 0) {
			char cid[128];
			ks_fmt(cid, sizeof(cid), "kubesim://%s-%s-%d", p->uid, c->name, c->starts);
			cJSON_AddStringToObject(o, "containerID", cid);
		}
		cJSON_AddBoolToObject(o, "started", c->state == C_RUNNING && c->started);
		cJSON_AddItemToArray(cs, o);
		if (!(c->ready && c->state == C_RUNNING))
			all_ready = false;
		if (c->state == C_RUNNING)
			any_run = true;
		if (c->state != C_TERMINATED || !c->done)
			all_term = false;
		if (c->state == C_TERMINATED && c->exit_code != 0)
			any_fail = true;
		if (c->starts == 0)
			all_started = false;
	}
	const char *phase = "Pending";
	if (all_term)
		phase = any_fail ? "Failed" : "Succeeded";
	else if (any_run || all_started)
		phase = "Running";
	cJSON_AddStringToObject(st, "phase", phase);
	bool ready = all_ready && !p->terminating;
	if (ready != p->was_ready || !p->ready_since[0]) {
		ks_fmt(p->ready_since, sizeof(p->ready_since), "%s", now);
		p->was_ready = ready;
	}
	cJSON *conds = cJSON_AddArrayToObject(st, "conditions");
	add_cond(conds, "PodReadyToStartContainers", p->vol_ok, p->init_since, NULL);
	add_cond(conds, "Initialized", true, p->init_since, NULL);
	add_cond(conds, "Ready", ready, p->ready_since, "ContainersNotReady");
	add_cond(conds, "ContainersReady", ready, p->ready_since, "ContainersNotReady");
	add_cond(conds, "PodScheduled", true, p->init_since, NULL);
	if (!p->vol_ok && p->vol_msg[0]) {
		cJSON_AddStringToObject(st, "message", p->vol_msg);
	}
	cJSON_AddStringToObject(st, "hostIP", k->api_host);
	cJSON *hips = cJSON_AddArrayToObject(st, "hostIPs");
	cJSON *h = cJSON_CreateObject();
	cJSON_AddStringToObject(h, "ip", k->api_host);
	cJSON_AddItemToArray(hips, h);
	if (p->ips[0]) {
		cJSON_AddStringToObject(st, "podIP", p->ips);
		cJSON *pips = cJSON_AddArrayToObject(st, "podIPs");
		cJSON *q = cJSON_CreateObject();
		cJSON_AddStringToObject(q, "ip", p->ips);
		cJSON_AddItemToArray(pips, q);
	}
	cJSON_AddStringToObject(st, "startTime", p->start_time);
	cJSON_AddItemToObject(st, "containerStatuses", cs);
	const char *qos = pstr(p->obj, "status.qosClass");
	cJSON_AddStringToObject(st, "qosClass", qos ? qos : "BestEffort");
	return st;
}

static int set_status_fn(cJSON **obj, void *ud, ks_err_t *e)
{
	(void)e;
	cJSON_DeleteItemFromObjectCaseSensitive(*obj, "status");
	cJSON_AddItemToObject(*obj, "status", cJSON_Duplicate(ud, 1));
	return 0;
}

static void write_status(ks_kubelet_t *k, pod_t *p)
{
	if (p->gone)
		return;
	cJSON *st = build_status(k, p);
	char *text = cJSON_PrintUnformatted(st);
	if (text && (!p->last_status || strcmp(text, p->last_status) != 0)) {
		ks_err_t e;
		int rc = ks_store_mutate(k->cfg.store, ks_rtype_find("", "v1", "pods"), p->ns,
		                         p->name, set_status_fn, st, KS_W_STATUS, NULL, &e);
		if (rc == 0) {
			free(p->last_status);
			p->last_status = text;
			text = NULL;
		} else if (e.code == 404) {
			p->gone = true;
		}
	}
	free(text);
	cJSON_Delete(st);
}

/* ---- pod lifecycle ---------------------------------------------------- */

static int set_node_fn(cJSON **obj, void *ud, ks_err_t *e)
{
	(void)e;
	cJSON *spec = cJSON_GetObjectItemCaseSensitive(*obj, "spec");
	if (spec && !cJSON_GetObjectItemCaseSensitive(spec, "nodeName"))
		cJSON_AddStringToObject(spec, "nodeName", ud);
	return 0;
}

static void adopt(ks_kubelet_t *k, const cJSON *obj)
{
	const char *uid = pstr(obj, "metadata.uid");
	const char *node = pstr(obj, "spec.nodeName");
	const char *phase = pstr(obj, "status.phase");
	if (!uid || (node && *node && strcmp(node, k->node) != 0))
		return;
	if (phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0))
		return; /* finished in an earlier run */
	pod_t *p = calloc(1, sizeof(*p));
	if (!p)
		return;
	ks_fmt(p->ns, sizeof(p->ns), "%s", pstr(obj, "metadata.namespace") ?: "default");
	ks_fmt(p->name, sizeof(p->name), "%s", pstr(obj, "metadata.name") ?: "");
	ks_fmt(p->uid, sizeof(p->uid), "%s", uid);
	p->obj = cJSON_Duplicate(obj, 1);
	ks_kubelet_pod_dir(k->data_dir, p->ns, p->name, p->uid, p->dir, sizeof(p->dir));
	uint32_t old = ks_ip_parse(pstr(obj, "status.podIP"));
	if (old && ks_ipam_reserve(k->cfg.pod_ips, old))
		p->ip = old;
	else
		p->ip = ks_ipam_alloc(k->cfg.pod_ips);
	if (p->ip)
		ks_ip_str(p->ip, p->ips, sizeof(p->ips));
	const cJSON *cs = kubeapi_get_path(obj, "spec.containers");
	p->nc = cJSON_GetArraySize(cs);
	p->c = calloc((size_t)(p->nc ? p->nc : 1), sizeof(ctr_t));
	const cJSON *c;
	int i = 0;
	cJSON_ArrayForEach(c, cs)
	{
		ks_fmt(p->c[i].name, sizeof(p->c[i].name), "%s", jstr(c, "name") ?: "");
		ks_fmt(p->c[i].image, sizeof(p->c[i].image), "%s", jstr(c, "image") ?: "");
		ks_fmt(p->c[i].reason, sizeof(p->c[i].reason), "ContainerCreating");
		p->c[i].backoff_ms = k->cfg.backoff_base_ms;
		i++;
	}
	now_ts(p->start_time, sizeof(p->start_time));
	ks_fmt(p->init_since, sizeof(p->init_since), "%s", p->start_time);
	char dirs[PATHCAP + 16];
	mkdir_p(p->dir);
	ks_fmt(dirs, sizeof(dirs), "%s/home", p->dir);
	mkdir_p(dirs);
	ks_fmt(dirs, sizeof(dirs), "%s/tmp", p->dir);
	mkdir_p(dirs);
	ks_fmt(dirs, sizeof(dirs), "%s/logs", p->dir);
	mkdir_p(dirs);
	p->automount = ks_volumes_automount(k->cfg.store, obj);
	if (p->automount) {
		char err[256];
		const char *sa = pstr(obj, "spec.serviceAccountName") ?: "default";
		if (ks_auth_mint(k->cfg.auth, p->ns, sa, p->token, sizeof(p->token), err,
		                 sizeof(err)))
			base_log(BASE_LOG_ERROR, "token", "pod", p->name, "error", err,
			         (char *)NULL);
	}
	p->next = k->pods;
	k->pods = p;
	if (!node || !*node) {
		ks_err_t e;
		ks_store_mutate(k->cfg.store, ks_rtype_find("", "v1", "pods"), p->ns, p->name,
		                set_node_fn, k->node, KS_W_MAIN, NULL, &e);
	}
	if (!p->ip) {
		ks_fmt(p->vol_msg, sizeof(p->vol_msg), "no free pod IP in the pod CIDR");
		base_log(BASE_LOG_ERROR, "pod-ip", "pod", p->name, "error", p->vol_msg,
		         (char *)NULL);
	}
	if (kubeapi_get_path(obj, "metadata.deletionTimestamp"))
		p->terminating = true;
	base_log(BASE_LOG_INFO, "pod-admitted", "pod", p->name, "namespace", p->ns, "ip", p->ips,
	         (char *)NULL);
}

static int64_t grace_ms(const pod_t *p)
{
	const cJSON *g = kubeapi_get_path(p->obj, "metadata.deletionGracePeriodSeconds");
	if (!cJSON_IsNumber(g))
		g = kubeapi_get_path(p->obj, "spec.terminationGracePeriodSeconds");
	return cJSON_IsNumber(g) ? (int64_t)(g->valuedouble * 1000) : 30000;
}

static void begin_termination(pod_t *p, int64_t now)
{
	if (p->term_deadline)
		return;
	p->terminating = true;
	p->term_deadline = now + grace_ms(p);
	for (int i = 0; i < p->nc; i++) {
		p->c[i].done = true;
		if (p->c[i].proc.shim > 0)
			ks_proc_signal(&p->c[i].proc, SIGTERM);
	}
}

static void release(ks_kubelet_t *k, pod_t *p)
{
	if (p->ip) {
		ks_ipam_release(k->cfg.pod_ips, p->ip);
		p->ip = 0;
	}
	if (p->token[0]) {
		ks_auth_revoke(k->cfg.auth, p->token);
		p->token[0] = '\0';
	}
	if (k->cfg.metrics)
		ks_podmetrics_forget(k->cfg.metrics, p->ns, p->name);
}

static void on_pod(void *ud, ks_ev_type_t type, const ks_rtype_t *rt, const cJSON *obj,
                   const cJSON *old)
{
	ks_kubelet_t *k = ud;
	(void)rt;
	(void)old;
	if (type == KS_EV_RESYNC) {
		/* Relist: adopt unknown pods, mark vanished ones gone. */
		cJSON *items = NULL;
		uint64_t rv;
		char cont[8];
		long rest;
		ks_err_t e;
		if (ks_store_list(k->cfg.store, ks_rtype_find("", "v1", "pods"), NULL, NULL, NULL,
		                  0, NULL, &items, &rv, cont, sizeof(cont), &rest, &e))
			return;
		for (pod_t *p = k->pods; p; p = p->next) {
			bool found = false;
			const cJSON *it;
			cJSON_ArrayForEach(it, items)
			{
				if (strcmp(pstr(it, "metadata.uid") ?: "", p->uid) == 0)
					found = true;
			}
			if (!found) {
				p->gone = true;
				begin_termination(p, base_now_ms());
			}
		}
		const cJSON *it;
		cJSON_ArrayForEach(it, items)
		{
			if (!find_pod(k, pstr(it, "metadata.uid") ?: ""))
				adopt(k, it);
		}
		cJSON_Delete(items);
		return;
	}
	const char *uid = pstr(obj, "metadata.uid");
	if (!uid)
		return;
	pod_t *p = find_pod(k, uid);
	if (type == KS_EV_DELETED) {
		if (p) {
			p->gone = true;
			begin_termination(p, base_now_ms());
		}
		return;
	}
	if (!p) {
		adopt(k, obj);
		return;
	}
	cJSON_Delete(p->obj);
	p->obj = cJSON_Duplicate(obj, 1);
	if (kubeapi_get_path(obj, "metadata.deletionTimestamp"))
		begin_termination(p, base_now_ms());
}

/* Reaps container i; applies the restart policy. */
static void reap(ks_kubelet_t *k, pod_t *p, ctr_t *c, int64_t now)
{
	int code;
	if (ks_proc_poll(&c->proc, &code) != 1)
		return;
	const char *policy = pstr(p->obj, "spec.restartPolicy") ?: "Always";
	c->state = C_TERMINATED;
	c->exit_code = code;
	ks_fmt(c->reason, sizeof(c->reason), "%s", code == 0 ? "Completed" : "Error");
	c->message[0] = '\0';
	now_ts(c->finished_at, sizeof(c->finished_at));
	c->ready = false;
	free_probes(c);
	char codes[16];
	ks_fmt(codes, sizeof(codes), "%d", code);
	base_log(BASE_LOG_INFO, "container-exited", "pod", p->name, "namespace", p->ns, "container",
	         c->name, "exit_code", codes, (char *)NULL);
	bool restart =
	        !c->done && !p->terminating &&
	        (strcmp(policy, "Always") == 0 || (strcmp(policy, "OnFailure") == 0 && code != 0));
	if (!restart) {
		c->done = true;
		return;
	}
	if (now - c->run_ms >= BACKOFF_RESET_MS)
		c->backoff_ms = k->cfg.backoff_base_ms;
	int64_t delay = c->restarts == 0 && !c->liveness_kill ? 0 : c->backoff_ms;
	if (c->restarts > 0 || c->liveness_kill) {
		c->backoff_ms *= 2;
		if (c->backoff_ms > k->cfg.backoff_max_ms)
			c->backoff_ms = k->cfg.backoff_max_ms;
	}
	c->has_last = true;
	c->last_exit = code;
	ks_fmt(c->last_reason, sizeof(c->last_reason), "%s", c->reason);
	ks_fmt(c->last_started, sizeof(c->last_started), "%s", c->started_at);
	ks_fmt(c->last_finished, sizeof(c->last_finished), "%s", c->finished_at);
	c->next_ms = now + delay;
	if (delay > 0) {
		c->state = C_WAITING;
		ks_fmt(c->reason, sizeof(c->reason), "CrashLoopBackOff");
		ks_fmt(c->message, sizeof(c->message),
		       "back-off %llds restarting failed container=%s pod=%s_%s(%s)",
		       (long long)(delay / 1000), c->name, p->name, p->ns, p->uid);
	}
	c->restarts++;
}

static void tick_container(ks_kubelet_t *k, pod_t *p, int i, int64_t now)
{
	ctr_t *c = &p->c[i];
	if (c->proc.shim > 0) {
		reap(k, p, c, now);
		if (c->proc.shim > 0 && c->kill_at && now >= c->kill_at) {
			ks_proc_signal(&c->proc, SIGKILL);
			c->kill_at = 0;
		}
	}
	if (c->proc.shim > 0 && c->state == C_RUNNING) {
		if (c->startup && !c->started) {
			ks_probe_result_t r = ks_probe_tick(c->startup, now);
			if (r == KS_PROBE_SUCCESS) {
				c->started = true;
				if (c->readiness)
					ks_probe_reset(c->readiness, now);
				if (c->liveness)
					ks_probe_reset(c->liveness, now);
			} else if (r == KS_PROBE_FAILURE && !c->kill_at) {
				c->liveness_kill = true;
				ks_proc_signal(&c->proc, SIGTERM);
				c->kill_at = now + grace_ms(p);
			}
		}
		if (c->started) {
			if (c->readiness)
				c->ready = ks_probe_tick(c->readiness, now) == KS_PROBE_SUCCESS;
			else
				c->ready = true;
			if (c->liveness && !c->kill_at && !p->terminating &&
			    ks_probe_tick(c->liveness, now) == KS_PROBE_FAILURE) {
				base_log(BASE_LOG_INFO, "liveness-failed", "pod", p->name,
				         "container", c->name, "message",
				         ks_probe_message(c->liveness), (char *)NULL);
				c->liveness_kill = true;
				ks_proc_signal(&c->proc, SIGTERM);
				c->kill_at = now + grace_ms(p);
			}
		}
		if (k->cfg.metrics)
			ks_podmetrics_observe(k->cfg.metrics, p->ns, p->name, c->name, c->proc.pid,
			                      now);
		return;
	}
	if (p->terminating || c->done || c->proc.shim > 0 || !p->vol_ok || !p->ip ||
	    now < c->next_ms)
		return;
	char msg[512];
	start_err_t rc = start_container(k, p, i, msg, sizeof(msg));
	if (rc == START_OK)
		return;
	c->state = C_WAITING;
	ks_fmt(c->message, sizeof(c->message), "%s", msg);
	const char *reason = rc == START_IMAGE
	                             ? (strcmp(c->reason, "ErrImagePull") == 0 ||
	                                                strcmp(c->reason, "ImagePullBackOff") == 0
	                                        ? "ImagePullBackOff"
	                                        : "ErrImagePull")
	                     : rc == START_CONFIG ? "CreateContainerConfigError"
	                                          : "RunContainerError";
	if (strcmp(c->reason, reason) != 0)
		base_log(BASE_LOG_WARN, "container-start-failed", "pod", p->name, "namespace",
		         p->ns, "container", c->name, "reason", reason, "message", msg,
		         (char *)NULL);
	ks_fmt(c->reason, sizeof(c->reason), "%s", reason);
	c->next_ms = now + k->cfg.backoff_base_ms;
}

static void tick_pod(ks_kubelet_t *k, pod_t *p, int64_t now)
{
	if (!p->terminating && now >= p->vol_next) {
		ks_vol_ctx_t vc = {k->cfg.store, ks_auth_ca_pem(k->cfg.auth),
		                   p->automount && p->token[0] ? p->token : NULL};
		char err[512] = "";
		int rc = ks_volumes_sync(&vc, p->obj, p->dir, err, sizeof(err));
		bool ok = rc == 0;
		if (ok != p->vol_ok || (!ok && strcmp(err, p->vol_msg) != 0)) {
			if (!ok)
				base_log(BASE_LOG_WARN, "FailedMount", "pod", p->name, "namespace",
				         p->ns, "error", err, (char *)NULL);
			for (int i = 0; i < p->nc && !ok; i++) {
				if (p->c[i].starts == 0)
					ks_fmt(p->c[i].message, sizeof(p->c[i].message),
					       "MountVolume.SetUp failed: %s", err);
			}
		}
		p->vol_ok =
		        ok || (p->vol_ok && rc == 1); /* a source deleted later keeps old files */
		ks_fmt(p->vol_msg, sizeof(p->vol_msg), "%s", ok ? "" : err);
		p->vol_next = now + k->cfg.volume_sync_ms;
	}
	for (int i = 0; i < p->nc; i++)
		tick_container(k, p, i, now);
	if (p->terminating && p->term_deadline && now >= p->term_deadline) {
		for (int i = 0; i < p->nc; i++)
			ks_proc_signal(&p->c[i].proc, SIGKILL);
		p->term_deadline = now + 1000; /* re-send until reaped */
	}
	write_status(k, p);
}

static void unlink_pod(ks_kubelet_t *k, pod_t *p)
{
	for (pod_t **pp = &k->pods; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			return;
		}
	}
}

static int64_t tick(void *ud)
{
	ks_kubelet_t *k = ud;
	int64_t now = base_now_ms();
	for (pod_t *p = k->pods, *next; p; p = next) {
		next = p->next;
		tick_pod(k, p, now);
		if ((p->terminating || p->gone) && !any_running(p)) {
			release(k, p);
			if (!p->gone) {
				ks_err_t e;
				ks_store_delete(k->cfg.store, ks_rtype_find("", "v1", "pods"),
				                p->ns, p->name, p->uid, NULL, KS_DEL_FORCE, NULL,
				                &e);
			}
			base_log(BASE_LOG_INFO, "pod-removed", "pod", p->name, "namespace", p->ns,
			         (char *)NULL);
			ks_volumes_rm_tree(p->dir);
			unlink_pod(k, p);
			pod_free(p);
		} else if (!p->finished && !any_running(p)) {
			bool all_done = p->nc > 0;
			for (int i = 0; i < p->nc; i++)
				all_done = all_done && p->c[i].done;
			if (all_done) {
				p->finished = true;
				release(k, p);
			}
		}
	}
	return TICK_MS;
}

ks_kubelet_t *ks_kubelet_new(const ks_kubelet_config_t *cfg, char *err, size_t errlen)
{
	ks_kubelet_t *k = calloc(1, sizeof(*k));
	char pods[PATHCAP + 8];
	if (!k) {
		ks_fmt(err, errlen, "out of memory");
		return NULL;
	}
	k->cfg = *cfg;
	ks_fmt(k->data_dir, sizeof(k->data_dir), "%s", cfg->data_dir);
	ks_fmt(k->bin_dir, sizeof(k->bin_dir), "%s", cfg->bin_dir);
	ks_fmt(k->node, sizeof(k->node), "%s", cfg->node_name);
	ks_fmt(k->api_host, sizeof(k->api_host), "%s", cfg->api_host);
	if (k->cfg.backoff_base_ms <= 0)
		k->cfg.backoff_base_ms = 10000;
	if (k->cfg.backoff_max_ms < k->cfg.backoff_base_ms)
		k->cfg.backoff_max_ms = k->cfg.backoff_base_ms;
	if (k->cfg.volume_sync_ms <= 0)
		k->cfg.volume_sync_ms = 1000;
	ks_fmt(pods, sizeof(pods), "%s/pods", k->data_dir);
	if (mkdir_p(pods) != 0) {
		ks_fmt(err, errlen, "mkdir %s: %s", pods, strerror(errno));
		free(k);
		return NULL;
	}
	ks_store_set_graceful(cfg->store, ks_rtype_find("", "v1", "pods"), true);
	k->sub = ks_store_subscribe(cfg->store, ks_rtype_find("", "v1", "pods"), on_pod, k);
	k->timer = ks_loop_add_timer(cfg->loop, 0, tick, k);
	if (k->sub < 0 || k->timer < 0) {
		ks_fmt(err, errlen, "cannot subscribe to the store or add a timer");
		ks_kubelet_free(k);
		return NULL;
	}
	on_pod(k, KS_EV_RESYNC, NULL, NULL, NULL);
	return k;
}

void ks_kubelet_shutdown(ks_kubelet_t *k, int64_t max_wait_ms)
{
	if (!k)
		return;
	int64_t now = base_now_ms();
	int64_t deadline = now + max_wait_ms;
	for (pod_t *p = k->pods; p; p = p->next) {
		for (int i = 0; i < p->nc; i++) {
			p->c[i].done = true;
			if (p->c[i].proc.shim > 0)
				ks_proc_signal(&p->c[i].proc, SIGTERM);
		}
		int64_t g = now + grace_ms(p);
		if (g < deadline)
			p->term_deadline = g;
		else
			p->term_deadline = deadline;
	}
	for (;;) {
		bool running = false;
		now = base_now_ms();
		for (pod_t *p = k->pods; p; p = p->next) {
			for (int i = 0; i < p->nc; i++) {
				int code;
				if (p->c[i].proc.shim <= 0)
					continue;
				if (ks_proc_poll(&p->c[i].proc, &code) == 1)
					continue;
				running = true;
				if (now >= p->term_deadline)
					ks_proc_signal(&p->c[i].proc, SIGKILL);
			}
		}
		if (!running)
			break;
		base_sleep_ms(50);
	}
	for (pod_t *p = k->pods; p; p = p->next)
		release(k, p);
}

void ks_kubelet_free(ks_kubelet_t *k)
{
	if (!k)
		return;
	if (k->sub >= 0)
		ks_store_unsubscribe(k->cfg.store, k->sub);
	if (k->timer >= 0)
		ks_loop_remove_timer(k->cfg.loop, k->timer);
	while (k->pods) {
		pod_t *p = k->pods;
		k->pods = p->next;
		pod_free(p);
	}
	free(k);
}

/* kubesim: a small Kubernetes API server for local runs and tests.
 * See docs/kubesim.md. Modules: store (state, watch, snapshot), resources
 * (kinds, discovery, defaults), table (kubectl columns), server (HTTP),
 * auth (certificates, tokens, kubeconfig), faults, loop (main loop). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/log.h"
#include "base/opt.h"
#include "auth.h"
#include "faults.h"
#include "loop.h"
#include "server.h"
#include "store.h"
#include "workloads.h"

typedef struct {
	char data_dir[1024];
	char listen[128];
	char kubeconfig[1024];
	char admin[128];
	bool snapshot;
	int64_t snapshot_delay_ms;
	long long history;
	int64_t bookmark_ms;
	char faults[4096];
	char audit_log[1024];
	char log_level[16];
	char log_format[16];
	ks_workloads_config_t wl; /* issue 5: see workloads.h */
} config_t;

static const base_opt_t OPTS[] = {
        {"data-dir", BASE_OPT_STRING, offsetof(config_t, data_dir),
         sizeof(((config_t *)0)->data_dir), 0, 0, NULL, "KUBESIM_DATA_DIR", NULL,
         "directory for certificates, tokens, the snapshot and the kubeconfig (required)"},
        {"listen", BASE_OPT_HOSTPORT, offsetof(config_t, listen), sizeof(((config_t *)0)->listen),
         0, 0, "127.0.0.1:6443", NULL, NULL,
         "HTTPS address of the API server (IPv4; port 0 = any)"},
        {"kubeconfig", BASE_OPT_STRING, offsetof(config_t, kubeconfig),
         sizeof(((config_t *)0)->kubeconfig), 0, 0, "", NULL, NULL,
         "where to write the kubeconfig (default DATA_DIR/kubeconfig)"},
        {"admin", BASE_OPT_STRING, offsetof(config_t, admin), sizeof(((config_t *)0)->admin), 0, 0,
         "", NULL, NULL,
         "loopback ADDR:PORT of the plain-HTTP admin endpoint (faults, tokens); empty = off"},
        {"snapshot", BASE_OPT_BOOL, offsetof(config_t, snapshot), sizeof(bool), 0, 0, "true", NULL,
         NULL, "keep the cluster in DATA_DIR/state.json across restarts"},
        {"snapshot-delay", BASE_OPT_DURATION, offsetof(config_t, snapshot_delay_ms),
         sizeof(int64_t), 10, 600000, "1s", NULL, NULL,
         "how long writes are batched before the snapshot is saved"},
        {"history", BASE_OPT_INT, offsetof(config_t, history), sizeof(long long), 16, 10000000,
         "10000", NULL, NULL, "watch events kept; older resourceVersions get 410 Gone"},
        {"bookmark-interval", BASE_OPT_DURATION, offsetof(config_t, bookmark_ms), sizeof(int64_t),
         100, 3600000, "10s", NULL, NULL, "BOOKMARK period on idle watches that allow bookmarks"},
        {"faults", BASE_OPT_STRING, offsetof(config_t, faults), sizeof(((config_t *)0)->faults), 0,
         0, "", NULL, NULL, "fault rules at start, JSON (see docs/kubesim.md)"},
        {"audit-log", BASE_OPT_STRING, offsetof(config_t, audit_log),
         sizeof(((config_t *)0)->audit_log), 0, 0, "", NULL, NULL,
         "append one JSON line per API request (user, verb, group, resource, subresource, "
         "namespace, "
         "name, code) to this file; empty = off"},
        {"log-level", BASE_OPT_ENUM, offsetof(config_t, log_level),
         sizeof(((config_t *)0)->log_level), 0, 0, "info", NULL, "debug|info|warn|error",
         "log level"},
        {"log-format", BASE_OPT_ENUM, offsetof(config_t, log_format),
         sizeof(((config_t *)0)->log_format), 0, 0, "logfmt", NULL, "logfmt|json", "log format"},
        KS_WORKLOADS_OPTS(config_t, wl),
        BASE_OPT_END,
};

typedef struct {
	ks_store_t *st;
	char path[1100];
	int64_t delay;
} snap_t;

static int64_t snapshot_timer(void *ud)
{
	snap_t *s = ud;
	char err[512];
	if (ks_store_dirty(s->st) && ks_store_save(s->st, s->path, err, sizeof(err)))
		base_log(BASE_LOG_ERROR, "snapshot", "error", err, (char *)NULL);
	return s->delay;
}

static int split_hostport(const char *hp, char *host, size_t cap, int *port)
{
	const char *colon = strrchr(hp, ':');
	char *end;
	long p;
	if (!colon || (size_t)(colon - hp) >= cap)
		return -1;
	memcpy(host, hp, (size_t)(colon - hp));
	host[colon - hp] = '\0';
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (errno || *end || p < 0 || p > 65535)
		return -1;
	*port = (int)p;
	return 0;
}

static void ensure_namespaces(ks_store_t *st)
{
	static const char *names[] = {"default", "kube-system", "kube-public", "kube-node-lease"};
	const ks_rtype_t *nsrt = ks_rtype_find("", "v1", "namespaces");
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char body[128];
		ks_err_t e;
		if (ks_store_ns_exists(st, names[i]))
			continue;
		snprintf(body, sizeof(body), "{\"metadata\":{\"name\":\"%s\"}}", names[i]);
		cJSON *o = cJSON_Parse(body);
		if (o && ks_store_create(st, nsrt, NULL, o, 0, NULL, &e))
			base_log(BASE_LOG_ERROR, "namespace", "name", names[i], "error", e.message,
			         (char *)NULL);
		cJSON_Delete(o);
	}
}

int main(int argc, char **argv)
{
	config_t cfg;
	char err[1024];
	char host[64], admin_host[64] = "";
	int port, admin_port = 0;
	int rc = 1;
	ks_store_t *st = NULL;
	ks_auth_t *auth = NULL;
	ks_faults_t *faults = NULL;
	ks_audit_t *audit = NULL;
	ks_server_t *srv = NULL;
	ks_loop_t *loop = NULL;
	ks_workloads_t *wl = NULL;
	snap_t snap;

	memset(&cfg, 0, sizeof(cfg));
	int r = base_opt_main(
	        OPTS, &cfg, NULL, argc, argv, NULL, "kubesim",
	        "kubesim --data-dir DIR [--listen ADDR:PORT] [--kubeconfig FILE] [options]",
	        MCP_VERSION);
	if (r)
		return r == 1 ? 0 : 2;
	if (!cfg.data_dir[0]) {
		fprintf(stderr, "kubesim: --data-dir is required\n");
		return 2;
	}
	if (split_hostport(cfg.listen, host, sizeof(host), &port)) {
		fprintf(stderr, "kubesim: --listen: \"%s\" is not ADDR:PORT\n", cfg.listen);
		return 2;
	}
	struct in_addr ia;
	if (inet_pton(AF_INET, host, &ia) != 1) {
		fprintf(stderr, "kubesim: --listen: \"%s\" is not an IPv4 address\n", host);
		return 2;
	}
	if (cfg.admin[0] &&
	    split_hostport(cfg.admin, admin_host, sizeof(admin_host), &admin_port)) {
		fprintf(stderr, "kubesim: --admin: \"%s\" is not ADDR:PORT\n", cfg.admin);
		return 2;
	}
	if (cfg.admin[0] &&
	    (inet_pton(AF_INET, admin_host, &ia) != 1 || (ntohl(ia.s_addr) >> 24) != 127)) {
		fprintf(stderr,
		        "kubesim: --admin: \"%s\" is not a loopback IPv4 address (127.0.0.0/8)\n",
		        admin_host);
		return 2;
	}
	(void)base_log_setup(cfg.log_level, cfg.log_format, "kubesim"); /* checked by the table */
	if (!cfg.kubeconfig[0])
		snprintf(cfg.kubeconfig, sizeof(cfg.kubeconfig), "%.1000s/kubeconfig",
		         cfg.data_dir);

	if (mkdir(cfg.data_dir, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "kubesim: --data-dir %s: %s\n", cfg.data_dir, strerror(errno));
		return 1;
	}
	faults = ks_faults_new();
	st = ks_store_new((size_t)cfg.history);
	loop = ks_loop_new();
	if (!faults || !st || !loop) {
		fprintf(stderr, "kubesim: out of memory\n");
		goto out;
	}
	if (cfg.faults[0] && ks_faults_add_text(faults, cfg.faults, NULL, err, sizeof(err))) {
		fprintf(stderr, "kubesim: --faults: %s\n", err);
		rc = 2;
		goto out;
	}
	snprintf(snap.path, sizeof(snap.path), "%.1000s/state.json", cfg.data_dir);
	snap.st = st;
	snap.delay = cfg.snapshot_delay_ms;
	if (cfg.snapshot) {
		int lr = ks_store_load(st, snap.path, err, sizeof(err));
		if (lr < 0) {
			fprintf(stderr, "kubesim: snapshot: %s\n", err);
			goto out;
		}
		if (lr == 0)
			base_log(BASE_LOG_INFO, "snapshot-loaded", "path", snap.path, (char *)NULL);
	}
	ensure_namespaces(st);
	auth = ks_auth_new(cfg.data_dir, host, err, sizeof(err));
	if (!auth) {
		fprintf(stderr, "kubesim: %s\n", err);
		goto out;
	}
	if (cfg.audit_log[0] && !(audit = ks_audit_open(cfg.audit_log, err, sizeof(err)))) {
		fprintf(stderr, "kubesim: %s\n", err);
		rc = 2;
		goto out;
	}
	ks_server_config_t scfg = {host,
	                           port,
	                           admin_host[0] ? admin_host : NULL,
	                           admin_port,
	                           st,
	                           auth,
	                           faults,
	                           (int)cfg.bookmark_ms,
	                           audit};
	srv = ks_server_start(&scfg, err, sizeof(err));
	if (!srv) {
		fprintf(stderr, "kubesim: %s\n", err);
		goto out;
	}
	char url[128];
	snprintf(url, sizeof(url), "https://%s:%d", host, ks_server_port(srv));
	if (ks_auth_write_kubeconfig(auth, cfg.kubeconfig, url, err, sizeof(err))) {
		fprintf(stderr, "kubesim: %s\n", err);
		goto out;
	}
	ks_store_set_notify(st, ks_loop_wake, loop);
	wl = ks_workloads_start(&cfg.wl, st, loop, auth, srv, cfg.data_dir, host,
	                        ks_server_port(srv), err, sizeof(err));
	if (!wl) {
		fprintf(stderr, "kubesim: %s\n", err);
		rc = 2;
		goto out;
	}
	if (cfg.snapshot)
		ks_loop_add_timer(loop, cfg.snapshot_delay_ms, snapshot_timer, &snap);
	char aport[16];
	snprintf(aport, sizeof(aport), "%d", ks_server_admin_port(srv));
	base_log(BASE_LOG_INFO, "ready", "server", url, "kubeconfig", cfg.kubeconfig, "admin",
	         admin_host[0] ? admin_host : "off", "admin_port", aport, (char *)NULL);

	int sig = ks_loop_run(loop, st);
	char sigs[16];
	snprintf(sigs, sizeof(sigs), "%d", sig);
	base_log(BASE_LOG_INFO, "stopping", "signal", sigs, (char *)NULL);
	rc = 0;
out:
	ks_workloads_stop(wl);
	ks_store_set_notify(st, NULL, NULL);
	ks_server_stop(srv);
	ks_workloads_free(wl);
	if (st && cfg.snapshot && rc == 0 && ks_store_save(st, snap.path, err, sizeof(err))) {
		base_log(BASE_LOG_ERROR, "snapshot", "error", err, (char *)NULL);
		rc = 1;
	}
	ks_store_free(st);
	ks_auth_free(auth);
	ks_faults_free(faults);
	ks_audit_free(audit);
	ks_loop_free(loop);
	return rc;
}

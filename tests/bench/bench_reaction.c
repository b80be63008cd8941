/* bench_reaction: how long the controller takes from a load step at the
 * workers to the /scale patch, for sync periods of 1 s and 15 s.
 *
 * Real processes: kubesim (the API) and mcp-autoscaler (the daemon, as
 * deployed) from $MCP_BIN (make bench sets it; default build/bin). This
 * process plays the workers: a fake /metrics server for 2 pods on
 * 127.6.R.11/12, whose answer flips between a low load (desired replicas 1)
 * and a high one (desired 5), and watches the Deployment with an informer.
 *
 * A round: wait a random part of the period after the last sync (so the step
 * falls at a random phase of the sync timer), flip the load (t0), take the
 * first replicas change the Deployment watch delivers (t1). reaction = t1-t0;
 * of it, wait_ms is t0 to the first scrape after the step (the timer's wait)
 * and work_ms that scrape to the patch (scrape, decide, write, watch).
 * Target: reaction <= one period plus the scrape time.
 * BENCH_REACTION_DEBUG=1 prints every round on stderr.
 * Output (medians of the rounds; max_ms the worst round):
 *   bench=reaction_time sync_period_s=P rounds=N wait_ms= work_ms= max_ms=
 *   daemon_rss_mib= (the daemon's VmHWM so far, 2 pods)
 *   value= unit=ms baseline=sync_period baseline_value=P*1000 ratio=value/baseline */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "kube/client.h"
#include "kube/config.h"
#include "kube/informer.h"
#include "kube/loop.h"
#include "../lib/bench_util.h"

#define NPODS        2
#define LOW_WANT     1 /* replicas the low load asks for */
#define HIGH_WANT    5 /* and the high one */
#define ROUNDS_FAST  9 /* 1 s period */
#define ROUNDS_SLOW  5 /* 15 s period: about 80 s of the bench's ~95 s */
#define SETUP_WAIT_S 30

static char g_dir[64];
static char g_net[16]; /* "127.6.R" */
static int g_mport;
static pid_t g_kubesim = -1, g_ctl = -1;

/* fake workers */
static bool g_high;
static int64_t g_last_scrape_ns; /* any scrape */
static int64_t g_first_after_ns; /* first scrape at or after g_step_ns */
static int64_t g_step_ns = -1;

/* the Deployment as the watch shows it */
static int g_replicas = -1;
static int64_t g_change_ns;
static unsigned g_changes;

static double ms(int64_t ns)
{
	return (double)ns / 1e6;
}

/* ---- processes and files ---- */

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

/* SIGTERM, then SIGKILL after 5 s. Returns the wait status (-1 if none). */
static int stop_child(pid_t *pid)
{
	int st = -1;
	if (*pid <= 0)
		return -1;
	kill(*pid, SIGTERM);
	for (int i = 0; i < 100; i++) {
		if (waitpid(*pid, &st, WNOHANG) == *pid) {
			*pid = -1;
			return st;
		}
		usleep(50000);
	}
	kill(*pid, SIGKILL);
	waitpid(*pid, &st, 0);
	*pid = -1;
	return st;
}

static void cleanup(void)
{
	stop_child(&g_ctl);
	stop_child(&g_kubesim);
	if (g_dir[0])
		nftw(g_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Starts argv[0] with stdout and stderr into log; the child dies with us. */
static pid_t spawn(char *const argv[], const char *log)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
	}
	execv(argv[0], argv);
	fprintf(stderr, "bench_reaction: exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/* ---- fake worker /metrics on the bench's loop ---- */

typedef struct {
	size_t len;
	char buf[2048];
} conn_t;

static void answer(int fd)
{
	char body[1024], resp[1400];
	int in_use = g_high ? 8 : 2, waiters = g_high ? 4 : 0;
	int n = snprintf(body, sizeof(body),
	                 "# TYPE mcp_pool_size gauge\nmcp_pool_size 8\n"
	                 "# TYPE mcp_pool_target_size gauge\nmcp_pool_target_size 8\n"
	                 "# TYPE mcp_pool_connections gauge\n"
	                 "mcp_pool_connections{state=\"idle\"} %d\n"
	                 "mcp_pool_connections{state=\"in_use\"} %d\n"
	                 "# TYPE mcp_pool_waiters gauge\nmcp_pool_waiters %d\n"
	                 "# TYPE mcp_requests_total counter\n"
	                 "mcp_requests_total{result=\"ok\"} 1000\n",
	                 8 - in_use, in_use, waiters);
	int m = snprintf(resp, sizeof(resp),
	                 "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
	                 "Content-Length: %d\r\nConnection: close\r\n\r\n%s",
	                 n, body);
	size_t off = 0;
	while (off < (size_t)m) {
		ssize_t w = write(fd, resp + off, (size_t)m - off);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
}

static void conn_cb(kube_loop_t *loop, int fd, uint32_t events, void *arg)
{
	(void)events;
	conn_t *c = arg;
	ssize_t r = read(fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r > 0) {
		c->len += (size_t)r;
		c->buf[c->len] = '\0';
		if (!strstr(c->buf, "\r\n\r\n") && c->len < sizeof(c->buf) - 1)
			return;
		int64_t now = base_now_ns();
		g_last_scrape_ns = now;
		if (g_step_ns >= 0 && now >= g_step_ns && g_first_after_ns < 0)
			g_first_after_ns = now;
		answer(fd);
	}
	kube_loop_fd_del(loop, fd);
	close(fd);
	free(c);
}

static void accept_cb(kube_loop_t *loop, int fd, uint32_t events, void *arg)
{
	(void)events;
	(void)arg;
	for (;;) {
		int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (c < 0)
			return;
		conn_t *st = calloc(1, sizeof(*st));
		if (!st || kube_loop_fd_add(loop, c, EPOLLIN, conn_cb, st) != 0) {
			free(st);
			close(c);
		}
	}
}

static int listen_on(kube_loop_t *loop, const char *ip, int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	inet_pton(AF_INET, ip, &sa.sin_addr);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 64) != 0 ||
	    kube_loop_fd_add(loop, fd, EPOLLIN, accept_cb, NULL) != 0) {
		fprintf(stderr, "bench_reaction: listen %s:%d: %s\n", ip, port, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* ---- the Deployment watch ---- */

static int replicas_of(const cJSON *obj)
{
	const cJSON *spec = cJSON_GetObjectItemCaseSensitive(obj, "spec");
	const cJSON *r = cJSON_GetObjectItemCaseSensitive(spec, "replicas");
	return cJSON_IsNumber(r) ? r->valueint : -1;
}

static void dep_seen(const cJSON *obj)
{
	const char *name = kube_obj_name(obj);
	if (!name || strcmp(name, "w") != 0)
		return;
	int r = replicas_of(obj);
	if (r == g_replicas)
		return;
	if (g_replicas >= 0) {
		g_change_ns = base_now_ns();
		g_changes++;
	}
	g_replicas = r;
}

static void on_add(const cJSON *obj, void *arg)
{
	(void)arg;
	dep_seen(obj);
}

static void on_update(const cJSON *old_obj, const cJSON *obj, void *arg)
{
	(void)old_obj;
	(void)arg;
	dep_seen(obj);
}

/* ---- API setup ---- */

static int api(kube_client_t *c, kube_verb_t verb, const kube_resource_t *res, const char *name,
               const char *sub, const char *body)
{
	kube_req_t r = {0};
	r.verb = verb;
	r.res = res;
	r.ns = res->namespaced ? "mcp" : NULL;
	r.name = name;
	r.subresource = sub;
	r.body = body;
	r.patch_type = KUBE_PATCH_MERGE;
	kube_result_t out = {0};
	int rc = kube_do_sync(c, &r, &out);
	if (rc != 0)
		fprintf(stderr, "bench_reaction: %s %s: %s %s\n", res->resource, name ? name : "",
		        kube_strerror(rc), out.status.message);
	kube_result_clear(&out);
	return rc;
}

static void rfc3339(time_t t, char *buf, size_t cap)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int setup_objects(kube_client_t *c)
{
	char body[2048], then[32];
	rfc3339(time(NULL) - 600, then, sizeof(then));
	if (api(c, KUBE_CREATE, &KUBE_RES_NAMESPACES, NULL, NULL,
	        "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"mcp\"}}"))
		return -1;
	if (api(c, KUBE_CREATE, &KUBE_RES_DEPLOYMENTS, NULL, NULL,
	        "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"w\","
	        "\"namespace\":\"mcp\"},\"spec\":{\"replicas\":1,\"selector\":{\"matchLabels\":"
	        "{\"app\":\"w\"}},\"template\":{\"metadata\":{\"labels\":{\"app\":\"w\"}},\"spec\":"
	        "{\"containers\":[{\"name\":\"w\",\"image\":\"none/none:1\"}]}}}}"))
		return -1;
	for (int i = 0; i < NPODS; i++) {
		char name[16];
		snprintf(name, sizeof(name), "w-%d", i);
		snprintf(body, sizeof(body),
		         "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\","
		         "\"namespace\":\"mcp\",\"labels\":{\"app\":\"w\"}},\"spec\":{"
		         "\"containers\":"
		         "[{\"name\":\"w\",\"image\":\"none/none:1\"}]}}",
		         name);
		if (api(c, KUBE_CREATE, &KUBE_RES_PODS, NULL, NULL, body))
			return -1;
		snprintf(body, sizeof(body),
		         "{\"status\":{\"phase\":\"Running\",\"podIP\":\"%s.%d\",\"startTime\":\"%"
		         "s\","
		         "\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\","
		         "\"lastTransitionTime\":\"%s\"}]}}",
		         g_net, 11 + i, then, then);
		if (api(c, KUBE_PATCH, &KUBE_RES_PODS, name, "status", body))
			return -1;
	}
	/* A fixed pool (min = max) so that load moves replicas; no
	 * stabilization and no rate limit, so that every step is one patch. */
	const char *behavior = "scaleUp:\\n  stabilizationWindowSeconds: 0\\n  policies:\\n"
	                       "  - type: Pods\\n    value: 100\\n    periodSeconds: 1\\n"
	                       "scaleDown:\\n  stabilizationWindowSeconds: 0\\n  policies:\\n"
	                       "  - type: Pods\\n    value: 100\\n    periodSeconds: 1\\n";
	snprintf(body, sizeof(body),
	         "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"worker\","
	         "\"namespace\":\"mcp\",\"labels\":{\"mcp-autoscaler.io/policy\":\"true\"}},"
	         "\"data\":{\"scaleTargetRef\":\"Deployment/w\",\"minReplicas\":\"1\","
	         "\"maxReplicas\":\"8\",\"poolMinSize\":\"8\",\"poolMaxSize\":\"8\","
	         "\"targetPoolOccupancy\":\"70\",\"syncPeriod\":\"1s\",\"behavior\":\"%s\"}}",
	         behavior);
	return api(c, KUBE_CREATE, &KUBE_RES_CONFIGMAPS, NULL, NULL, body);
}

/* Runs the loop until cond() holds (true) or the deadline passes (false). */
static bool run_until(kube_loop_t *loop, bool (*cond)(void), int64_t deadline_ns)
{
	while (!cond()) {
		int64_t left = deadline_ns - base_now_ns();
		if (left <= 0)
			return false;
		kube_loop_run_once(loop, left / 1000000 + 1);
	}
	return true;
}

static int g_want;
static bool replicas_are_want(void)
{
	return g_replicas == g_want;
}
static bool first_scrape_seen(void)
{
	return g_first_after_ns >= 0;
}
static unsigned g_changes_before;
static bool changed(void)
{
	return g_changes != g_changes_before;
}
static int64_t g_until_ns;
static bool time_reached(void)
{
	return base_now_ns() >= g_until_ns;
}

/* One sync period: rounds steps, one line of output. */
static int measure(kube_loop_t *loop, kube_client_t *c, int period_s, int rounds)
{
	char patch[128];
	int64_t period_ns = (int64_t)period_s * 1000000000;
	/* A data change syncs at once; its first scrape anchors the timer's phase. */
	g_step_ns = base_now_ns();
	g_first_after_ns = -1;
	snprintf(patch, sizeof(patch), "{\"data\":{\"syncPeriod\":\"%ds\"}}", period_s);
	if (api(c, KUBE_PATCH, &KUBE_RES_CONFIGMAPS, "worker", NULL, patch))
		return -1;
	if (!run_until(loop, first_scrape_seen, base_now_ns() + 10 * 1000000000LL)) {
		fprintf(stderr, "bench_reaction: no sync after the syncPeriod change\n");
		return -1;
	}
	int64_t anchor = g_first_after_ns;
	double react[16] = {0}, wait[16] = {0}, work[16] = {0};
	if (rounds < 1 || rounds > 16)
		return -1;
	for (int r = 0; r < rounds; r++) {
		double u = (double)rand() / ((double)RAND_MAX + 1.0);
		g_until_ns = anchor + (int64_t)(u * (double)period_ns);
		if (g_until_ns < g_change_ns + 20000000)
			g_until_ns = g_change_ns + 20000000;
		run_until(loop, time_reached, g_until_ns);

		g_high = !g_high;
		g_want = g_high ? HIGH_WANT : LOW_WANT;
		g_changes_before = g_changes;
		g_first_after_ns = -1;
		g_step_ns = base_now_ns();
		int64_t t0 = g_step_ns;
		if (!run_until(loop, changed, t0 + 2 * period_ns + 10000000000LL)) {
			fprintf(stderr,
			        "bench_reaction: period %d s round %d: no /scale patch within %d "
			        "s\n",
			        period_s, r, 2 * period_s + 10);
			return -1;
		}
		if (!replicas_are_want())
			fprintf(stderr, "bench_reaction: round %d: replicas %d, expected %d\n", r,
			        g_replicas, g_want);
		react[r] = ms(g_change_ns - t0);
		wait[r] = g_first_after_ns >= 0 ? ms(g_first_after_ns - t0) : react[r];
		work[r] = g_first_after_ns >= 0 ? ms(g_change_ns - g_first_after_ns) : 0;
		if (getenv("BENCH_REACTION_DEBUG"))
			fprintf(stderr,
			        "period=%d round=%d reaction_ms=%.1f wait_ms=%.1f work_ms=%.2f "
			        "replicas=%d\n",
			        period_s, r, react[r], wait[r], work[r], g_replicas);
		anchor = g_first_after_ns >= 0 ? g_first_after_ns : g_change_ns;
	}
	qsort(react, (size_t)rounds, sizeof(double), bench_cmp_double);
	qsort(wait, (size_t)rounds, sizeof(double), bench_cmp_double);
	qsort(work, (size_t)rounds, sizeof(double), bench_cmp_double);
	double med = react[rounds / 2], base = period_s * 1000.0;
	printf("bench=reaction_time sync_period_s=%d rounds=%d wait_ms=%.0f work_ms=%.1f "
	       "max_ms=%.0f daemon_rss_mib=%.1f value=%.0f unit=ms baseline=sync_period "
	       "baseline_value=%.0f "
	       "ratio=%.2f\n",
	       period_s, rounds, wait[rounds / 2], work[rounds / 2], react[rounds - 1],
	       bench_hwm_mib(g_ctl), med, base, med / base);
	fflush(stdout);
	return 0;
}

static int run(const char *bin)
{
	char err[256], ksim[512], ctl[512], listen[64], kcfg[128], log1[128], log2[128], mport[16];
	snprintf(ksim, sizeof(ksim), "%s/kubesim", bin);
	snprintf(ctl, sizeof(ctl), "%s/mcp-autoscaler", bin);
	snprintf(listen, sizeof(listen), "%s.1:%d", g_net, 20000 + rand() % 30000);
	snprintf(kcfg, sizeof(kcfg), "%s/ks/kubeconfig", g_dir);
	snprintf(log1, sizeof(log1), "%s/kubesim.log", g_dir);
	snprintf(log2, sizeof(log2), "%s/ctl.log", g_dir);
	snprintf(mport, sizeof(mport), "%d", g_mport);
	char ksdir[96];
	snprintf(ksdir, sizeof(ksdir), "%s/ks", g_dir);
	char *kargv[] = {ksim,          "--data-dir", ksdir, "--listen", listen, "--snapshot=false",
	                 "--log-level", "warn",       NULL};
	g_kubesim = spawn(kargv, log1);
	if (g_kubesim < 0)
		return -1;

	kube_loop_t *loop = kube_loop_new(err, sizeof(err));
	if (!loop)
		return -1;
	for (int i = 0; i < NPODS; i++) {
		char ip[48];
		snprintf(ip, sizeof(ip), "%s.%d", g_net, 11 + i);
		if (listen_on(loop, ip, g_mport) < 0)
			return -1;
	}
	/* kubesim writes the kubeconfig at start and answers soon after. */
	kube_config_t *cfg = NULL;
	kube_client_t *c = NULL;
	int64_t deadline = base_now_ns() + SETUP_WAIT_S * 1000000000LL;
	while (base_now_ns() < deadline) {
		if (!cfg && kube_config_load(kcfg, NULL, &cfg, err, sizeof(err)) != 0)
			cfg = NULL;
		if (cfg && !c)
			c = kube_client_new(loop, cfg, NULL, err, sizeof(err));
		if (c) {
			kube_req_t r = {
			        .verb = KUBE_GET, .res = &KUBE_RES_NAMESPACES, .name = "default"};
			kube_result_t out = {0};
			int rc = kube_do_sync(c, &r, &out);
			kube_result_clear(&out);
			if (rc == 0)
				break;
		}
		usleep(100000);
	}
	if (!c || base_now_ns() >= deadline) {
		fprintf(stderr, "bench_reaction: kubesim did not come up (see %s)\n", log1);
		return -1;
	}
	if (setup_objects(c) != 0)
		return -1;
	kube_informer_opts_t io = {.res = &KUBE_RES_DEPLOYMENTS, .ns = "mcp"};
	kube_informer_handlers_t h = {.on_add = on_add, .on_update = on_update};
	kube_informer_t *inf = kube_informer_new(c, &io, &h, NULL, err, sizeof(err));
	if (!inf || kube_informer_start(inf) != 0)
		return -1;

	char *cargv[] = {ctl,   "--kubeconfig",
	                 kcfg,  "--namespace",
	                 "mcp", "--metrics-port",
	                 mport, "--metrics-bind-address",
	                 "0",   "--health-probe-bind-address",
	                 "0",   NULL};
	g_ctl = spawn(cargv, log2);
	if (g_ctl < 0)
		return -1;
	/* Steady state: low load, 1 replica, and syncs running. */
	g_want = LOW_WANT;
	g_step_ns = base_now_ns();
	g_first_after_ns = -1;
	if (!run_until(loop, first_scrape_seen, base_now_ns() + SETUP_WAIT_S * 1000000000LL) ||
	    !run_until(loop, replicas_are_want, base_now_ns() + 5000000000LL)) {
		fprintf(stderr, "bench_reaction: the controller did not start syncing (see %s)\n",
		        log2);
		return -1;
	}
	int rc = measure(loop, c, 1, ROUNDS_FAST);
	if (rc == 0)
		rc = measure(loop, c, 15, ROUNDS_SLOW);
	/* The daemon must stop cleanly on SIGTERM (exit 0; under a
	 * sanitizer a report makes this fail too). */
	int st = stop_child(&g_ctl);
	if (rc == 0 && !(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
		fprintf(stderr,
		        "bench_reaction: mcp-autoscaler did not exit 0 on SIGTERM (status %d)\n",
		        st);
		rc = -1;
	}
	if (rc != 0) {
		fprintf(stderr, "bench_reaction: controller log:\n");
		FILE *f = fopen(log2, "r");
		if (f) {
			char line[512];
			while (fgets(line, sizeof(line), f))
				fputs(line, stderr);
			fclose(f);
		}
	}
	kube_informer_free(inf);
	kube_client_free(c);
	kube_config_free(cfg);
	kube_loop_free(loop);
	return rc;
}

int main(void)
{
	const char *bin = getenv("MCP_BIN");
	if (!bin || !*bin)
		bin = "build/bin";
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	snprintf(g_net, sizeof(g_net), "127.6.%d", 1 + rand() % 250);
	g_mport = 20000 + rand() % 30000;
	snprintf(g_dir, sizeof(g_dir), "/tmp/bench-reaction.XXXXXX");
	if (!mkdtemp(g_dir)) {
		fprintf(stderr, "bench_reaction: mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	int rc = run(bin);
	cleanup();
	return rc == 0 ? 0 : 1;
}

/* Benchmark: pkg/kube against two API servers.
 *
 * source=fake: tests/lib/kube_fakeapi, plain HTTP on 127.4.x.y, in-process
 * server threads (so memory figures include nothing of a server's but what
 * its threads hold at that instant).
 *   kube_list_pods       list of 1,000 pods through kube_do (transfer + JSON
 *                        decode into cJSON), baseline: raw HTTP GET of the
 *                        same URL (same bytes, no decode). ratio = baseline/value
 *                        (1.0 = as fast as the bare transfer; lower = slower).
 *   kube_list_pods_mem   heap held at the peak (body + decoded tree),
 *                        baseline: the body bytes alone. ratio = baseline/value.
 *   kube_watch_informer  events/s applied by an informer (decode + store +
 *                        handler) from a watch replaying a backlog, baseline:
 *                        raw HTTP streaming of the same watch (bytes only).
 *                        ratio = value/baseline.
 *
 * source=kubesim: build/bin/kubesim ($MCP_BIN, set by make bench) as a child
 * process over HTTPS with its admin bearer token (--run-pods=false,
 * --snapshot=false); 1,000 pods are created through the API first.
 *   kube_list_pods page=all|100   unpaged list, and a list in pages of 100
 *                        following continue tokens; baseline: libcurl alone
 *                        (same URLs, CA, token, HTTP/1.1, one reused
 *                        connection) reading the bytes into a buffer.
 *                        decode_ms = cJSON parsing those raw bytes alone.
 *   kube_list_pods_mem   heap of this process (kubesim is another process)
 *                        held at the peak: for page=100 every page's decoded
 *                        items are kept, as an informer keeps them.
 *   kube_watch_informer mode=live    a second client (own loop, own thread)
 *                        merge-patches pods N times; events/s until an
 *                        informer has applied all N, beside a raw watch stream
 *                        (own thread) reading the same N events at the same
 *                        time. Both are bound by how fast kubesim takes writes
 *                        (writes_per_s); the ratio shows whether the informer
 *                        keeps up.
 *   kube_watch_informer mode=backlog both streams are open but not read while
 *                        the N patches are made, then each drains its
 *                        backlog alone: the informer's decode + store +
 *                        handler cost against the bare stream.
 * Each figure is the median of ROUNDS rounds. kubesim is always ended by
 * pid: on return, on exit() (atexit), on SIGINT/SIGTERM, and by
 * PR_SET_PDEATHSIG if this process is killed. */
#include <curl/curl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "kube/client.h"
#include "kube/informer.h"
#include "kube/loop.h"
#include "../lib/kube_fakeapi.h"
#include "../lib/kube_simproc.h"
#include "../lib/bench_util.h"

#define ROUNDS      5
#define PODS        1000
#define EVENTS      20000
#define CMS         200
#define PAGE        100
#define SIM_EVENTS  2000 /* pod updates per kubesim watch round */
#define SIM_WINDOW  32   /* requests in flight when creating/patching */
#define DEADLINE_MS 60000

/* Heap in use by this process: small chunks in every arena plus mmapped
 * blocks (a 1.6 MB body is above the mmap threshold at first). */
static size_t heap_used(void)
{
	struct mallinfo2 mi = mallinfo2();
	return mi.uordblks + mi.hblkhd;
}

/* CPU time of the calling thread: the informer's own cost, whatever the
 * machine's load does to wall time. */
static double thread_cpu_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double ms_since(int64_t t0)
{
	return (double)(base_now_ns() - t0) / 1e6;
}

/* A worker pod as the manifests make it (~1.6 KB of JSON). */
static void pod_json(char *buf, size_t cap, int i)
{
	snprintf(buf, cap,
	         "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"mcp-"
	         "worker-7d9f8c6b5-%05d\","
	         "\"labels\":{\"app\":\"mcp-worker\",\"pod-template-hash\":\"7d9f8c6b5\"},"
	         "\"annotations\":{\"prometheus.io/scrape\":\"true\",\"prometheus.io/"
	         "port\":\"9090\"},"
	         "\"ownerReferences\":[{\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\","
	         "\"name\":\"mcp-worker-7d9f8c6b5\",\"uid\":\"6f1c2d3e-aaaa-bbbb-cccc-%"
	         "012d\","
	         "\"controller\":true,\"blockOwnerDeletion\":true}]},"
	         "\"spec\":{\"containers\":[{\"name\":\"worker\",\"image\":\"registry."
	         "local/mcp/mcp-worker:0.1.0\","
	         "\"args\":[\"--listen\",\"0.0.0.0:5020\",\"--device\",\"plc-1:502\",\"--"
	         "http\",\"0.0.0.0:9090\","
	         "\"--pool-size\",\"8\",\"--pool-size-file\",\"/etc/mcp-pool/poolSize\"],"
	         "\"ports\":[{\"containerPort\":5020,\"protocol\":\"TCP\"},{"
	         "\"containerPort\":9090,\"name\":\"metrics\"}],"
	         "\"resources\":{\"requests\":{\"cpu\":\"250m\",\"memory\":\"64Mi\"},"
	         "\"limits\":{\"memory\":\"128Mi\"}},"
	         "\"readinessProbe\":{\"httpGet\":{\"path\":\"/"
	         "healthz\",\"port\":9090},\"periodSeconds\":5},"
	         "\"volumeMounts\":[{\"name\":\"pool\",\"mountPath\":\"/etc/mcp-pool\"}]}],"
	         "\"volumes\":[{\"name\":\"pool\",\"configMap\":{\"name\":\"worker-pool\","
	         "\"optional\":true}}],"
	         "\"nodeName\":\"node-%d\",\"serviceAccountName\":\"default\"},"
	         "\"status\":{\"phase\":\"Running\",\"podIP\":\"10.244.%d.%d\","
	         "\"startTime\":\"2026-12-04T16:00:00Z\","
	         "\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\","
	         "\"lastTransitionTime\":\"2026-12-04T16:00:05Z\"},"
	         "{\"type\":\"ContainersReady\",\"status\":\"True\"},{\"type\":"
	         "\"PodScheduled\",\"status\":\"True\"}],"
	         "\"containerStatuses\":[{\"name\":\"worker\",\"ready\":true,"
	         "\"restartCount\":0,"
	         "\"image\":\"registry.local/mcp/"
	         "mcp-worker:0.1.0\",\"state\":{\"running\":{\"startedAt\":\"2026-12-04T16:"
	         "00:01Z\"}}}]}}",
	         i, i, i % 7, i / 250, i % 250);
}

/* ---- kubesim lifetime: ended by pid whatever way we leave ---- */

static kube_simproc_t *g_sim;
static volatile sig_atomic_t g_sim_pid;

static void sim_stop(void)
{
	kube_simproc_t *sim = g_sim;
	g_sim_pid = 0; /* the signal handler has nothing left to do */
	g_sim = NULL;
	kube_simproc_stop(sim);
}

static char g_sim_dir[128];

/* Async-signal-safe: end kubesim (SIGKILL after 2 s), remove its temporary
 * directory with rm(1), then die of the signal. */
static void on_fatal_signal(int sig)
{
	pid_t pid = (pid_t)g_sim_pid;
	if (pid > 0) {
		struct timespec ts = {0, 10 * 1000000L};
		kill(pid, SIGTERM);
		int i = 0;
		while (waitpid(pid, NULL, WNOHANG) == 0 && i++ < 200)
			nanosleep(&ts, NULL);
		if (i > 200) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
		}
		if (g_sim_dir[0] != '\0') {
			pid_t rm = fork();
			if (rm == 0) {
				execl("/bin/rm", "rm", "-rf", "--", g_sim_dir, (char *)NULL);
				_exit(127);
			}
			if (rm > 0)
				waitpid(rm, NULL, 0);
		}
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

static void die(const char *what, const char *detail)
{
	fprintf(stderr, "bench_kube: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
	exit(1); /* atexit(sim_stop) ends kubesim */
}

/* ---- source=fake ---- */

static void fake_seed_pods(kube_fakeapi_t *f)
{
	char buf[4096];
	for (int i = 0; i < PODS; i++) {
		pod_json(buf, sizeof(buf), i);
		if (kube_fakeapi_put(f, "/api/v1/namespaces/bench/pods", buf) == 0)
			die("seeding the fake failed", NULL);
	}
}

struct mem_probe {
	bool done;
	size_t before;
	size_t peak;
	int err;
	int items;
};

static void list_cb(kube_result_t *res, void *arg)
{
	struct mem_probe *m = arg;
	size_t now = heap_used();
	m->peak = now > m->before ? now - m->before : 0;
	m->err = res->err;
	m->items = cJSON_GetArraySize(cJSON_GetObjectItem(res->obj, "items"));
	m->done = true;
}

typedef struct {
	uint64_t events;
} icount_t;

static void on_upd(const cJSON *a, const cJSON *b, void *arg)
{
	(void)a;
	(void)b;
	((icount_t *)arg)->events++;
}

struct raw_stream {
	size_t lines;
	size_t want;
	size_t bytes;
	bool done;
	bool connected;
	long status;
	int64_t t_end;
};

static int raw_data(const char *p, size_t n, void *arg)
{
	struct raw_stream *r = arg;
	r->bytes += n;
	for (size_t i = 0; i < n; i++)
		r->lines += p[i] == '\n';
	if (r->lines >= r->want && r->t_end == 0)
		r->t_end = base_now_ns();
	return r->lines >= r->want ? 1 : 0; /* stop once all events are in */
}

static void raw_headers(long status, void *arg)
{
	struct raw_stream *r = arg;
	r->status = status;
	r->connected = true;
}

static void raw_done(const kube_http_result_t *res, void *arg)
{
	(void)res;
	((struct raw_stream *)arg)->done = true;
}

static void bench_fake(void)
{
	char err[256];
	double t_list[ROUNDS], t_raw[ROUNDS], mem[ROUNDS], raw_mem = 0;
	double ev_inf[ROUNDS], ev_raw[ROUNDS];
	size_t body_len = 0;

	kube_fakeapi_t *f = kube_fakeapi_start(false, err, sizeof(err));
	if (f == NULL)
		die("fake API server", err);
	kube_loop_t *loop = kube_loop_new(err, sizeof(err));
	kube_config_t cfg = {.server = (char *)kube_fakeapi_url(f), .namespace = "bench"};
	kube_client_opts_t o;
	kube_client_opts_default(&o);
	o.qps = 0;
	kube_client_t *c = kube_client_new(loop, &cfg, &o, err, sizeof(err));
	fake_seed_pods(f);

	char url[256];
	snprintf(url, sizeof(url), "%s/api/v1/namespaces/bench/pods", kube_fakeapi_url(f));
	for (int r = 0; r < ROUNDS; r++) {
		long status;
		char *body = NULL;
		int64_t t0 = base_now_ns();
		kube_http_opts_t ho = {.url = url, .timeout_ms = 30000, .max_body = 64u << 20};
		if (kube_http_get_sync(loop, &ho, &status, &body, &body_len, err, sizeof(err)) !=
		            0 ||
		    status != 200) {
			die("raw GET failed", err);
		}
		t_raw[r] = (double)(base_now_ns() - t0) / 1e6;
		free(body);
		raw_mem = (double)body_len / 1024.0;

		struct mem_probe m = {0};
		kube_req_t req = {.verb = KUBE_LIST, .res = &KUBE_RES_PODS, .ns = "bench"};
		m.before = heap_used();
		t0 = base_now_ns();
		if (kube_do(c, &req, list_cb, &m, NULL) != 0)
			die("kube_do list failed", NULL);
		while (!m.done)
			kube_loop_run_once(loop, 1000);
		t_list[r] = (double)(base_now_ns() - t0) / 1e6;
		mem[r] = (double)m.peak / 1024.0;
		if (m.err != 0 || m.items != PODS) {
			fprintf(stderr, "bench_kube: list failed (%d, %d items)\n", m.err, m.items);
			exit(1);
		}
	}
	double vl = bench_median(t_list, ROUNDS), vr = bench_median(t_raw, ROUNDS),
	       vm = bench_median(mem, ROUNDS);
	printf("bench=kube_list_pods source=fake pods=%d bytes=%zu value=%.2f unit=ms "
	       "baseline=raw_http_transfer "
	       "baseline_value=%.2f ratio=%.2f\n",
	       PODS, body_len, vl, vr, vr / vl);
	printf("bench=kube_list_pods_mem source=fake pods=%d value=%.0f unit=KiB baseline=raw_body "
	       "baseline_value=%.0f ratio=%.2f\n",
	       PODS, vm, raw_mem, raw_mem / vm);

	/* watch throughput: a backlog of EVENTS modifications on CMS ConfigMaps */
	char cm[1400];
	char pad[1001];
	memset(pad, 'x', 1000);
	pad[1000] = '\0';
	for (int i = 0; i < CMS; i++) {
		snprintf(cm, sizeof(cm),
		         "{\"metadata\":{\"name\":\"cm-%d\",\"labels\":{\"app\":\"b\"}},\"data\":{"
		         "\"v\":\"0\",\"pad\":\"%s\"}}",
		         i, pad);
		kube_fakeapi_put(f, "/api/v1/namespaces/wbench/configmaps", cm);
	}
	for (int r = 0; r < ROUNDS; r++) {
		uint64_t rv0 = kube_fakeapi_rv(f);
		for (int i = 0; i < EVENTS; i++) {
			snprintf(cm, sizeof(cm),
			         "{\"metadata\":{\"name\":\"cm-%d\",\"labels\":{\"app\":\"b\"}},"
			         "\"data\":{\"v\":\"%d\",\"pad\":\"%s\"}}",
			         i % CMS, i, pad);
			kube_fakeapi_put(f, "/api/v1/namespaces/wbench/configmaps", cm);
		}
		/* raw: stream the same watch, count event lines */
		char wurl[512];
		snprintf(wurl, sizeof(wurl),
		         "%s/api/v1/namespaces/wbench/configmaps?watch=1&resourceVersion=%llu&"
		         "labelSelector=app%%3Db&allowWatchBookmarks=true&timeoutSeconds=60",
		         kube_fakeapi_url(f), (unsigned long long)rv0);
		struct raw_stream rs = {.want = EVENTS};
		kube_http_opts_t ho = {.url = wurl, .on_data = raw_data};
		int64_t t0 = base_now_ns();
		kube_http_start(loop, &ho, raw_done, &rs, NULL);
		while (!rs.done)
			kube_loop_run_once(loop, 1000);
		ev_raw[r] = EVENTS / ((double)(base_now_ns() - t0) / 1e9);

		/* informer: its list claims rv0, so its watch replays the backlog */
		icount_t ic = {0};
		kube_informer_handlers_t h = {.on_update = on_upd};
		kube_informer_opts_t io = {.res = &KUBE_RES_CONFIGMAPS,
		                           .ns = "wbench",
		                           .label_selector = "app=b",
		                           .watch_timeout_s = 60};
		kube_fakeapi_set_list_rv(f, rv0);
		kube_informer_t *inf = kube_informer_new(c, &io, &h, &ic, err, sizeof(err));
		kube_informer_start(inf);
		while (!kube_informer_synced(inf))
			kube_loop_run_once(loop, 1000);
		kube_fakeapi_set_list_rv(f, 0);
		ic.events = 0;
		t0 = base_now_ns();
		kube_informer_stats_t st;
		do {
			kube_loop_run_once(loop, 1000);
			kube_informer_stats(inf, &st);
		} while (st.events < EVENTS);
		ev_inf[r] = EVENTS / ((double)(base_now_ns() - t0) / 1e9);
		kube_informer_free(inf);
	}
	double ei = bench_median(ev_inf, ROUNDS), er = bench_median(ev_raw, ROUNDS);
	printf("bench=kube_watch_informer source=fake mode=backlog events=%d value=%.0f "
	       "unit=events/s "
	       "baseline=raw_http_stream "
	       "baseline_value=%.0f ratio=%.2f\n",
	       EVENTS, ei, er, ei / er);
	kube_client_free(c);
	kube_loop_free(loop);
	kube_fakeapi_stop(f);
}

/* ---- source=kubesim ---- */

typedef struct sim_ctx {
	kube_config_t *cfg;
	kube_loop_t *loop; /* main loop: the measured client and its informer */
	kube_client_t *c;
	char auth[4200]; /* "Authorization: Bearer ..." */
	uint64_t seq;    /* patch sequence, unique across rounds */
} sim_ctx_t;

static void wait_until(kube_loop_t *loop, const bool *flag, const char *what)
{
	int64_t t0 = base_now_ns();
	while (!*flag) {
		kube_loop_run_once(loop, 200);
		if (ms_since(t0) > DEADLINE_MS)
			die("timed out waiting for", what);
	}
}

/* Creates or patches `total` objects with SIM_WINDOW requests in flight. */
typedef struct batch {
	kube_client_t *c;
	int total, started, finished, failed;
	bool done;
	bool create; /* else: patch an annotation */
	uint64_t seq0;
	char err[512];
} batch_t;

static void batch_next(batch_t *b);

static void batch_cb(kube_result_t *res, void *arg)
{
	batch_t *b = arg;
	if (res->err != 0 && b->failed++ == 0)
		snprintf(b->err, sizeof(b->err), "%s", res->errmsg);
	if (++b->finished == b->total)
		b->done = true;
	else
		batch_next(b);
}

static void batch_next(batch_t *b)
{
	char body[4096], name[64], val[32];
	if (b->started >= b->total)
		return;
	int i = b->started++;
	int rc;
	if (b->create) {
		pod_json(body, sizeof(body), i);
		rc = kube_create(b->c, &KUBE_RES_PODS, "bench", body, batch_cb, b, NULL);
	} else {
		snprintf(name, sizeof(name), "mcp-worker-7d9f8c6b5-%05d", i % PODS);
		snprintf(val, sizeof(val), "%llu", (unsigned long long)(b->seq0 + (uint64_t)i));
		rc = kube_patch_annotation(b->c, &KUBE_RES_PODS, "bench", name, "bench/seq", val,
		                           batch_cb, b, NULL);
	}
	if (rc != 0)
		die("cannot start a request", kube_strerror(rc));
}

static void batch_run(kube_client_t *c, bool create, int total, uint64_t seq0)
{
	batch_t b = {.c = c, .total = total, .create = create, .seq0 = seq0};
	for (int i = 0; i < SIM_WINDOW && i < total; i++)
		batch_next(&b);
	wait_until(kube_client_loop(c), &b.done, create ? "pod creates" : "pod patches");
	if (b.failed > 0)
		die(create ? "pod creates failed" : "pod patches failed", b.err);
}

/* libcurl alone: same TLS trust, token, HTTP version and encodings as the
 * client; the body goes into a reused buffer. */
typedef struct raw_curl {
	CURL *e;
	struct curl_slist *hdrs;
	char *buf;
	size_t len, cap;
	char errbuf[CURL_ERROR_SIZE];
} raw_curl_t;

static size_t raw_curl_write(char *p, size_t sz, size_t n, void *arg)
{
	raw_curl_t *r = arg;
	size_t k = sz * n;
	if (r->len + k + 1 > r->cap) {
		size_t nc = r->cap ? r->cap : 65536;
		while (nc < r->len + k + 1)
			nc *= 2;
		char *nb = realloc(r->buf, nc);
		if (nb == NULL)
			return 0;
		r->buf = nb;
		r->cap = nc;
	}
	memcpy(r->buf + r->len, p, k);
	r->len += k;
	r->buf[r->len] = '\0';
	return k;
}

static void raw_curl_init(raw_curl_t *r, const sim_ctx_t *s)
{
	memset(r, 0, sizeof(*r));
	r->e = curl_easy_init();
	if (r->e == NULL)
		die("curl_easy_init failed", NULL);
	r->hdrs = curl_slist_append(NULL, "Accept: application/json");
	r->hdrs = curl_slist_append(r->hdrs, s->auth);
	struct curl_blob ca = {
	        .data = s->cfg->ca_pem, .len = s->cfg->ca_pem_len, .flags = CURL_BLOB_COPY};
	curl_easy_setopt(r->e, CURLOPT_HTTPHEADER, r->hdrs);
	curl_easy_setopt(r->e, CURLOPT_CAINFO_BLOB, &ca);
	curl_easy_setopt(r->e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(r->e, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(r->e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(r->e, CURLOPT_TIMEOUT_MS, (long)DEADLINE_MS);
	curl_easy_setopt(r->e, CURLOPT_WRITEFUNCTION, raw_curl_write);
	curl_easy_setopt(r->e, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(r->e, CURLOPT_ERRORBUFFER, r->errbuf);
}

static void raw_curl_free(raw_curl_t *r)
{
	curl_easy_cleanup(r->e);
	curl_slist_free_all(r->hdrs);
	free(r->buf);
}

/* GETs url into r->buf; dies on anything but 200. */
static void raw_curl_get(raw_curl_t *r, const char *url)
{
	long status = 0;
	r->len = 0;
	curl_easy_setopt(r->e, CURLOPT_URL, url);
	CURLcode rc = curl_easy_perform(r->e);
	curl_easy_getinfo(r->e, CURLINFO_RESPONSE_CODE, &status);
	if (rc != CURLE_OK || status != 200) {
		fprintf(stderr, "bench_kube: raw GET %s: %s (HTTP %ld)\n", url,
		        rc != CURLE_OK ? r->errbuf : "unexpected status", status);
		exit(1);
	}
}

/* A list through pkg/kube, one page after the other (limit 0: unpaged).
 * Every page's object is kept until the end, so the heap peak is what a
 * caller that keeps the items holds. */
typedef struct pager {
	kube_client_t *c;
	long limit;
	bool record; /* store continue tokens for the raw run */
	int pages, items;
	bool done;
	size_t before, peak, bytes_hint;
	cJSON *keep[PODS / PAGE + 2];
	char tokens[PODS / PAGE + 2][512];
	int ntokens;
	char err[512];
} pager_t;

static void pager_start(pager_t *p, const char *cont);

static void pager_cb(kube_result_t *res, void *arg)
{
	pager_t *p = arg;
	size_t now = heap_used();
	if (now > p->before && now - p->before > p->peak)
		p->peak = now - p->before;
	if (res->err != 0) {
		snprintf(p->err, sizeof(p->err), "%s", res->errmsg);
		p->done = true;
		return;
	}
	cJSON *obj = kube_result_take_obj(res);
	p->items += cJSON_GetArraySize(cJSON_GetObjectItem(obj, "items"));
	if (p->pages < (int)(sizeof(p->keep) / sizeof(p->keep[0])))
		p->keep[p->pages] = obj;
	else
		cJSON_Delete(obj);
	p->pages++;
	const char *cont = cJSON_GetStringValue(
	        cJSON_GetObjectItem(cJSON_GetObjectItem(obj, "metadata"), "continue"));
	if (cont == NULL || cont[0] == '\0' || p->limit == 0) {
		p->done = true;
		return;
	}
	if (p->pages >= (int)(sizeof(p->keep) / sizeof(p->keep[0]))) {
		snprintf(p->err, sizeof(p->err), "more pages than %d pods allow", PODS);
		p->done = true;
		return;
	}
	if (p->record && p->ntokens < (int)(sizeof(p->tokens) / sizeof(p->tokens[0])))
		snprintf(p->tokens[p->ntokens++], sizeof(p->tokens[0]), "%s", cont);
	pager_start(p, cont);
}

static void pager_start(pager_t *p, const char *cont)
{
	kube_list_opts_t lo = {.limit = p->limit, .continue_token = cont};
	kube_req_t req = {.verb = KUBE_LIST, .res = &KUBE_RES_PODS, .ns = "bench", .list = &lo};
	int rc = kube_do(p->c, &req, pager_cb, p, NULL);
	if (rc != 0)
		die("cannot start a list", kube_strerror(rc));
}

/* Runs one whole list; returns its time in ms, fills *peak_kib. */
static double pager_run(sim_ctx_t *s, pager_t *p, long limit, bool record, double *peak_kib)
{
	memset(p, 0, sizeof(*p));
	p->c = s->c;
	p->limit = limit;
	p->record = record;
	p->before = heap_used();
	int64_t t0 = base_now_ns();
	pager_start(p, NULL);
	wait_until(s->loop, &p->done, "a list");
	double ms = ms_since(t0);
	if (p->err[0] != '\0')
		die("list failed", p->err);
	if (p->items != PODS) {
		fprintf(stderr, "bench_kube: list returned %d pods, want %d\n", p->items, PODS);
		exit(1);
	}
	for (int i = 0; i < p->pages && i < (int)(sizeof(p->keep) / sizeof(p->keep[0])); i++)
		cJSON_Delete(p->keep[i]);
	*peak_kib = (double)p->peak / 1024.0;
	return ms;
}

static void sim_lists(sim_ctx_t *s)
{
	double t_kube[2][ROUNDS], t_raw[2][ROUNDS], mem[2][ROUNDS], t_dec[2][ROUNDS];
	size_t bytes[2] = {0, 0};
	pager_t *p = calloc(1, sizeof(*p));
	char tokens[PODS / PAGE + 2][512];
	int ntokens;
	double dummy;
	raw_curl_t raw;
	char base_url[512];

	if (p == NULL)
		die("out of memory", NULL);
	raw_curl_init(&raw, s);
	snprintf(base_url, sizeof(base_url), "%s/api/v1/namespaces/bench/pods", s->cfg->server);

	/* warm-up: connections, malloc thresholds, and the continue tokens */
	pager_run(s, p, PAGE, true, &dummy);
	ntokens = p->ntokens;
	memcpy(tokens, p->tokens, sizeof(tokens));
	pager_run(s, p, 0, false, &dummy);
	raw_curl_get(&raw, base_url);

	for (int r = 0; r < ROUNDS; r++) {
		for (int mode = 0; mode < 2; mode++) { /* 0: unpaged, 1: pages of PAGE */
			char url[2048];
			double dec = 0;
			bytes[mode] = 0;
			int64_t t0 = base_now_ns();
			for (int pg = 0; pg < (mode == 0 ? 1 : ntokens + 1); pg++) {
				if (mode == 0) {
					snprintf(url, sizeof(url), "%s", base_url);
				} else if (pg == 0) {
					snprintf(url, sizeof(url), "%s?limit=%d", base_url, PAGE);
				} else {
					char *esc = curl_easy_escape(raw.e, tokens[pg - 1], 0);
					if (esc == NULL)
						die("curl_easy_escape failed", NULL);
					snprintf(url, sizeof(url), "%s?limit=%d&continue=%s",
					         base_url, PAGE, esc);
					curl_free(esc);
				}
				raw_curl_get(&raw, url);
				bytes[mode] += raw.len;
				/* decode cost alone, not counted in the transfer time */
				int64_t td = base_now_ns();
				cJSON *j = cJSON_ParseWithLength(raw.buf, raw.len);
				dec += ms_since(td);
				if (j == NULL)
					die("raw body is not JSON", url);
				cJSON_Delete(j);
				t0 += base_now_ns() - td; /* leave the parse out of t_raw */
			}
			t_raw[mode][r] = ms_since(t0);
			t_dec[mode][r] = dec;
			t_kube[mode][r] =
			        pager_run(s, p, mode == 0 ? 0 : PAGE, false, &mem[mode][r]);
		}
	}
	for (int mode = 0; mode < 2; mode++) {
		char page[16];
		snprintf(page, sizeof(page), mode == 0 ? "all" : "%d", PAGE);
		double vk = bench_median(t_kube[mode], ROUNDS),
		       vr = bench_median(t_raw[mode], ROUNDS);
		double vd = bench_median(t_dec[mode], ROUNDS), vm = bench_median(mem[mode], ROUNDS);
		double body_kib = (double)bytes[mode] / 1024.0;
		printf("bench=kube_list_pods source=kubesim pods=%d page=%s bytes=%zu "
		       "decode_ms=%.2f "
		       "value=%.2f unit=ms baseline=raw_curl_transfer baseline_value=%.2f "
		       "ratio=%.2f\n",
		       PODS, page, bytes[mode], vd, vk, vr, vr / vk);
		printf("bench=kube_list_pods_mem source=kubesim pods=%d page=%s value=%.0f "
		       "unit=KiB "
		       "baseline=raw_body baseline_value=%.0f ratio=%.2f\n",
		       PODS, page, vm, body_kib, vm > 0 ? body_kib / vm : 0);
	}
	fflush(stdout);
	raw_curl_free(&raw);
	free(p);
}

/* ---- watch ---- */

typedef struct writer {
	kube_client_t *c; /* the second client, on its own loop */
	int n;
	uint64_t seq0;
	int64_t t_end;
} writer_t;

static void *writer_main(void *arg)
{
	writer_t *w = arg;
	batch_run(w->c, false, w->n, w->seq0);
	w->t_end = base_now_ns();
	return NULL;
}

typedef struct raw_watch {
	kube_loop_t *loop; /* its own loop: read on a thread, or drained later */
	struct raw_stream rs;
	char url[2048];
	const char *auth;
	const kube_config_t *cfg;
} raw_watch_t;

static void raw_watch_open(raw_watch_t *w, const char *rv, size_t want)
{
	const char *hdrs[] = {"Accept: application/json", w->auth, NULL};
	snprintf(w->url, sizeof(w->url),
	         "%s/api/v1/namespaces/bench/pods?resourceVersion=%s&watch=1&"
	         "allowWatchBookmarks=true&timeoutSeconds=600",
	         w->cfg->server, rv);
	memset(&w->rs, 0, sizeof(w->rs));
	w->rs.want = want;
	kube_http_opts_t ho = {.url = w->url,
	                       .headers = hdrs,
	                       .ca_pem = w->cfg->ca_pem,
	                       .ca_pem_len = w->cfg->ca_pem_len,
	                       .on_data = raw_data,
	                       .on_headers = raw_headers};
	if (kube_http_start(w->loop, &ho, raw_done, &w->rs, NULL) != 0)
		die("cannot start the raw watch", NULL);
}

static void raw_watch_check(const raw_watch_t *w)
{
	if (w->rs.status != 200 || w->rs.lines < w->rs.want) {
		fprintf(stderr, "bench_kube: raw watch: HTTP %ld, %zu of %zu events\n",
		        w->rs.status, w->rs.lines, w->rs.want);
		exit(1);
	}
}

static void *raw_watch_main(void *arg)
{
	raw_watch_t *w = arg;
	int64_t t0 = base_now_ns();
	while (!w->rs.done && ms_since(t0) < DEADLINE_MS)
		kube_loop_run_once(w->loop, 200);
	return NULL;
}

/* Runs the main loop until the informer has applied `want` more updates. */
static void informer_wait(sim_ctx_t *s, const icount_t *ic, uint64_t want, const char *what)
{
	int64_t t0 = base_now_ns();
	while (ic->events < want) {
		kube_loop_run_once(s->loop, 200);
		if (ms_since(t0) > DEADLINE_MS)
			die("timed out: the informer did not see every update", what);
	}
}

static void sim_watch(sim_ctx_t *s)
{
	char err[256];
	double live_inf[ROUNDS], live_raw[ROUNDS], live_w[ROUNDS];
	double back_inf[ROUNDS], back_raw[ROUNDS], back_cpu[ROUNDS];
	icount_t ic = {0};
	kube_client_opts_t o;
	kube_client_opts_default(&o);
	o.qps = 0;

	kube_loop_t *wloop = kube_loop_new(err, sizeof(err));
	kube_loop_t *rloop = kube_loop_new(err, sizeof(err));
	if (wloop == NULL || rloop == NULL)
		die("kube_loop_new", err);
	kube_client_t *wc = kube_client_new(wloop, s->cfg, &o, err, sizeof(err));
	if (wc == NULL)
		die("second client", err);

	kube_informer_handlers_t h = {.on_update = on_upd};
	kube_informer_opts_t io = {.res = &KUBE_RES_PODS, .ns = "bench", .watch_timeout_s = 600};
	kube_informer_t *inf = kube_informer_new(s->c, &io, &h, &ic, err, sizeof(err));
	if (inf == NULL || kube_informer_start(inf) != 0)
		die("informer", err);
	{
		int64_t t0 = base_now_ns();
		while (!kube_informer_synced(inf)) {
			kube_loop_run_once(s->loop, 200);
			if (ms_since(t0) > DEADLINE_MS)
				die("timed out: informer sync", NULL);
		}
	}
	if (kube_informer_count(inf) != PODS)
		die("informer did not list every pod", NULL);
	/* the informer's watch is opened by the loop after the list */
	for (int i = 0; i < 5; i++)
		kube_loop_run_once(s->loop, 50);

	raw_watch_t rw = {.loop = rloop, .auth = s->auth, .cfg = s->cfg};
	for (int r = 0; r < ROUNDS; r++) {
		char rv[64];
		pthread_t wt, rt;

		/* live: writer, informer and raw stream all at once */
		snprintf(rv, sizeof(rv), "%s", kube_informer_rv(inf));
		raw_watch_open(&rw, rv, SIM_EVENTS);
		uint64_t base = ic.events;
		writer_t w = {.c = wc, .n = SIM_EVENTS, .seq0 = s->seq};
		s->seq += SIM_EVENTS;
		int64_t t0 = base_now_ns();
		if (pthread_create(&rt, NULL, raw_watch_main, &rw) != 0)
			die("pthread_create", NULL);
		if (pthread_create(&wt, NULL, writer_main, &w) != 0)
			die("pthread_create", NULL);
		informer_wait(s, &ic, base + SIM_EVENTS, "live");
		int64_t t_inf = base_now_ns();
		pthread_join(wt, NULL);
		pthread_join(rt, NULL);
		raw_watch_check(&rw);
		live_inf[r] = SIM_EVENTS / ((double)(t_inf - t0) / 1e9);
		live_raw[r] = SIM_EVENTS / ((double)(rw.rs.t_end - t0) / 1e9);
		live_w[r] = SIM_EVENTS / ((double)(w.t_end - t0) / 1e9);

		/* backlog: both streams open and unread while the writes happen */
		for (int i = 0; i < 3; i++)
			kube_loop_run_once(s->loop, 20);
		snprintf(rv, sizeof(rv), "%s", kube_informer_rv(inf));
		raw_watch_open(&rw, rv, SIM_EVENTS);
		wait_until(rloop, &rw.rs.connected, "the raw watch to open");
		base = ic.events;
		w.seq0 = s->seq;
		s->seq += SIM_EVENTS;
		writer_main(&w);
		/* let kubesim fill both streams' socket buffers as far as they go,
		 * so the one drained second has no head start; alternate the order
		 * between rounds all the same */
		{
			struct timespec ts = {0, 500 * 1000000L};
			nanosleep(&ts, NULL);
		}
		for (int k = 0; k < 2; k++) {
			t0 = base_now_ns();
			if ((k + r) % 2 == 0) {
				double c0 = thread_cpu_ms();
				informer_wait(s, &ic, base + SIM_EVENTS, "backlog");
				back_inf[r] = SIM_EVENTS / ((double)(base_now_ns() - t0) / 1e9);
				back_cpu[r] = (thread_cpu_ms() - c0) * 1000.0 / SIM_EVENTS;
			} else {
				wait_until(rloop, &rw.rs.done, "the raw watch backlog");
				raw_watch_check(&rw);
				back_raw[r] = SIM_EVENTS / ((double)(rw.rs.t_end - t0) / 1e9);
			}
		}
	}
	double li = bench_median(live_inf, ROUNDS), lr = bench_median(live_raw, ROUNDS);
	double lw = bench_median(live_w, ROUNDS);
	double bi = bench_median(back_inf, ROUNDS), br = bench_median(back_raw, ROUNDS);
	printf("bench=kube_watch_informer source=kubesim mode=live events=%d writes_per_s=%.0f "
	       "value=%.0f unit=events/s baseline=raw_watch_stream baseline_value=%.0f "
	       "ratio=%.2f\n",
	       SIM_EVENTS, lw, li, lr, li / lr);
	printf("bench=kube_watch_informer source=kubesim mode=backlog events=%d "
	       "cpu_us_per_event=%.1f value=%.0f unit=events/s baseline=raw_watch_stream "
	       "baseline_value=%.0f ratio=%.2f\n",
	       SIM_EVENTS, bench_median(back_cpu, ROUNDS), bi, br, bi / br);
	fflush(stdout);
	kube_informer_free(inf);
	kube_client_free(wc);
	kube_loop_free(wloop);
	kube_loop_free(rloop);
}

static void bench_kubesim(void)
{
	char err[1024], hist[32];
	const char *bin = getenv("MCP_BIN");
	sim_ctx_t s = {0};
	kube_client_opts_t o;
	kube_result_t res;

	/* history: the creates plus two rounds of updates must stay replayable */
	snprintf(hist, sizeof(hist), "%d", PODS + 4 * SIM_EVENTS);
	const char *args[] = {"--run-pods=false",
	                      "--snapshot=false",
	                      "--history",
	                      hist,
	                      "--bookmark-interval",
	                      "1h",
	                      NULL};
	g_sim = kube_simproc_start(bin && bin[0] ? bin : "build/bin", args, err, sizeof(err));
	if (g_sim == NULL)
		die("kubesim", err);
	snprintf(g_sim_dir, sizeof(g_sim_dir), "%s", kube_simproc_dir(g_sim));
	g_sim_pid = kube_simproc_pid(g_sim);

	if (kube_config_from_kubeconfig(kube_simproc_kubeconfig(g_sim), NULL, &s.cfg, err,
	                                sizeof(err)) != 0)
		die("kubesim's kubeconfig", err);
	if (s.cfg->token == NULL || s.cfg->ca_pem == NULL)
		die("kubesim's kubeconfig has no token or CA data", NULL);
	snprintf(s.auth, sizeof(s.auth), "Authorization: Bearer %s", s.cfg->token);
	s.loop = kube_loop_new(err, sizeof(err));
	if (s.loop == NULL)
		die("kube_loop_new", err);
	kube_client_opts_default(&o);
	o.qps = 0;
	s.c = kube_client_new(s.loop, s.cfg, &o, err, sizeof(err));
	if (s.c == NULL)
		die("kube client", err);

	kube_req_t ns = {.verb = KUBE_CREATE,
	                 .res = &KUBE_RES_NAMESPACES,
	                 .body = "{\"metadata\":{\"name\":\"bench\"}}"};
	if (kube_do_sync(s.c, &ns, &res) != 0)
		die("create namespace bench", res.errmsg);
	kube_result_clear(&res);
	int64_t t0 = base_now_ns();
	batch_run(s.c, true, PODS, 0);
	fprintf(stderr, "bench_kube: created %d pods in kubesim in %.0f ms\n", PODS, ms_since(t0));

	sim_lists(&s);
	sim_watch(&s);

	kube_client_free(s.c);
	kube_loop_free(s.loop);
	kube_config_free(s.cfg);
	sim_stop();
}

int main(void)
{
	base_log_set_level(BASE_LOG_ERROR);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	atexit(sim_stop);
	signal(SIGINT, on_fatal_signal);
	signal(SIGTERM, on_fatal_signal);
	signal(SIGHUP, on_fatal_signal);
	bench_fake();
	fflush(stdout);
	bench_kubesim();
	return 0;
}

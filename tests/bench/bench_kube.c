/* Benchmark: pkg/kube against tests/lib/kube_fakeapi (plain HTTP on
 * 127.4.x.y, in-process server threads).
 *   kube_list_pods       list of 1,000 pods through kube_do (transfer + JSON
 *                        decode into cJSON), baseline: raw HTTP GET of the
 *                        same URL (same bytes, no decode). ratio = baseline/value
 *                        (1.0 = as fast as the bare transfer; lower = slower).
 *   kube_list_pods_mem   heap held at the peak (body + decoded tree), main
 *                        arena, baseline: the body bytes alone. ratio = baseline/value.
 *   kube_watch_informer  events/s applied by an informer (decode + store +
 *                        handler) from a watch replaying a backlog, baseline:
 *                        raw HTTP streaming of the same watch (bytes only).
 *                        ratio = value/baseline.
 * Each figure is the median of ROUNDS rounds. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "kube/client.h"
#include "kube/informer.h"
#include "kube/loop.h"
#include "../lib/kube_fakeapi.h"

#define ROUNDS 5
#define PODS   1000
#define EVENTS 20000
#define CMS    200

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_d);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void seed_pods(kube_fakeapi_t *f)
{
	char buf[4096];
	for (int i = 0; i < PODS; i++) {
		snprintf(buf, sizeof(buf),
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
		if (kube_fakeapi_put(f, "/api/v1/namespaces/bench/pods", buf) == 0) {
			fprintf(stderr, "bench_kube: seeding failed\n");
			exit(1);
		}
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
	struct mallinfo2 mi = mallinfo2();
	m->peak = mi.uordblks > m->before ? mi.uordblks - m->before : 0;
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
};

static int raw_data(const char *p, size_t n, void *arg)
{
	struct raw_stream *r = arg;
	r->bytes += n;
	for (size_t i = 0; i < n; i++)
		r->lines += p[i] == '\n';
	return r->lines >= r->want ? 1 : 0; /* stop once all events are in */
}

static void raw_done(const kube_http_result_t *res, void *arg)
{
	(void)res;
	((struct raw_stream *)arg)->done = true;
}

int main(void)
{
	char err[256];
	double t_list[ROUNDS], t_raw[ROUNDS], mem[ROUNDS], raw_mem = 0;
	double ev_inf[ROUNDS], ev_raw[ROUNDS];
	size_t body_len = 0;

	base_log_set_level(BASE_LOG_ERROR);
	kube_fakeapi_t *f = kube_fakeapi_start(false, err, sizeof(err));
	if (f == NULL) {
		fprintf(stderr, "bench_kube: %s\n", err);
		return 1;
	}
	kube_loop_t *loop = kube_loop_new(err, sizeof(err));
	kube_config_t cfg = {.server = (char *)kube_fakeapi_url(f), .namespace = "bench"};
	kube_client_opts_t o;
	kube_client_opts_default(&o);
	o.qps = 0;
	kube_client_t *c = kube_client_new(loop, &cfg, &o, err, sizeof(err));
	seed_pods(f);

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
			fprintf(stderr, "bench_kube: raw GET failed: %s\n", err);
			return 1;
		}
		t_raw[r] = (double)(base_now_ns() - t0) / 1e6;
		free(body);
		raw_mem = (double)body_len / 1024.0;

		struct mem_probe m = {0};
		kube_req_t req = {.verb = KUBE_LIST, .res = &KUBE_RES_PODS, .ns = "bench"};
		m.before = mallinfo2().uordblks;
		t0 = base_now_ns();
		if (kube_do(c, &req, list_cb, &m, NULL) != 0)
			return 1;
		while (!m.done)
			kube_loop_run_once(loop, 1000);
		t_list[r] = (double)(base_now_ns() - t0) / 1e6;
		mem[r] = (double)m.peak / 1024.0;
		if (m.err != 0 || m.items != PODS) {
			fprintf(stderr, "bench_kube: list failed (%d, %d items)\n", m.err, m.items);
			return 1;
		}
	}
	double vl = median(t_list, ROUNDS), vr = median(t_raw, ROUNDS), vm = median(mem, ROUNDS);
	printf("bench=kube_list_pods pods=%d bytes=%zu value=%.2f unit=ms "
	       "baseline=raw_http_transfer "
	       "baseline_value=%.2f ratio=%.2f\n",
	       PODS, body_len, vl, vr, vr / vl);
	printf("bench=kube_list_pods_mem pods=%d value=%.0f unit=KiB baseline=raw_body "
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
		struct raw_stream rs = {0, EVENTS, 0, false};
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
	double ei = median(ev_inf, ROUNDS), er = median(ev_raw, ROUNDS);
	printf("bench=kube_watch_informer events=%d value=%.0f unit=events/s "
	       "baseline=raw_http_stream "
	       "baseline_value=%.0f ratio=%.2f\n",
	       EVENTS, ei, er, ei / er);
	kube_client_free(c);
	kube_loop_free(loop);
	kube_fakeapi_stop(f);
	return 0;
}

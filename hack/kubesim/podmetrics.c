#include "podmetrics.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kubeapi/kubeapi.h"
#include "podenv.h"

typedef struct sample {
	struct sample *next;
	char ns[64], pod[256], ctr[128];
	pid_t pid;
	int64_t last_ms; /* time of the last /proc read */
	uint64_t last_ticks;
	double cpu_cores; /* over the last window */
	uint64_t rss_bytes;
	bool valid; /* one full window measured */
	char ts[40];
} sample_t;

struct ks_podmetrics {
	pthread_mutex_t mu;
	ks_store_t *st;
	int64_t window_ms;
	sample_t *head;
	long hz;
};

ks_podmetrics_t *ks_podmetrics_new(ks_store_t *st, int64_t window_ms)
{
	ks_podmetrics_t *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	pthread_mutex_init(&m->mu, NULL);
	m->st = st;
	m->window_ms = window_ms < 100 ? 100 : window_ms;
	m->hz = sysconf(_SC_CLK_TCK);
	if (m->hz <= 0)
		m->hz = 100;
	return m;
}

void ks_podmetrics_free(ks_podmetrics_t *m)
{
	if (!m)
		return;
	while (m->head) {
		sample_t *s = m->head;
		m->head = s->next;
		free(s);
	}
	pthread_mutex_destroy(&m->mu);
	free(m);
}

/* utime+stime (fields 14, 15) and RSS pages (field 24) of /proc/PID/stat. */
static int read_stat(pid_t pid, uint64_t *ticks, uint64_t *rss_pages)
{
	char path[64], buf[2048];
	ks_fmt(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')'); /* comm may hold spaces */
	if (!p)
		return -1;
	p += 2;
	unsigned long long v[24] = {0};
	int field = 3;
	char *save = NULL;
	for (char *t = strtok_r(p, " ", &save); t && field <= 24; t = strtok_r(NULL, " ", &save)) {
		v[field - 1] = strtoull(t, NULL, 10);
		field++;
	}
	if (field <= 24)
		return -1;
	*ticks = v[13] + v[14];
	*rss_pages = v[23];
	return 0;
}

void ks_podmetrics_observe(ks_podmetrics_t *m, const char *ns, const char *pod,
                           const char *container, pid_t pid, int64_t now_ms)
{
	sample_t *s;
	pthread_mutex_lock(&m->mu);
	for (s = m->head; s; s = s->next) {
		if (strcmp(s->ns, ns) == 0 && strcmp(s->pod, pod) == 0 &&
		    strcmp(s->ctr, container) == 0)
			break;
	}
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s) {
			pthread_mutex_unlock(&m->mu);
			return;
		}
		ks_fmt(s->ns, sizeof(s->ns), "%s", ns);
		ks_fmt(s->pod, sizeof(s->pod), "%s", pod);
		ks_fmt(s->ctr, sizeof(s->ctr), "%s", container);
		s->next = m->head;
		m->head = s;
	}
	if (s->pid != pid) {
		/* A restarted container: start a fresh window. */
		s->pid = pid;
		s->last_ms = 0;
		s->valid = false;
	}
	if (s->last_ms && now_ms - s->last_ms < m->window_ms) {
		pthread_mutex_unlock(&m->mu);
		return;
	}
	uint64_t ticks, pages;
	if (read_stat(pid, &ticks, &pages) == 0) {
		if (s->last_ms) {
			double secs = (double)(now_ms - s->last_ms) / 1000.0;
			s->cpu_cores =
			        secs > 0 ? (double)(ticks - s->last_ticks) / (double)m->hz / secs
			                 : 0;
			s->valid = true;
			ks_timestamp(s->ts, sizeof(s->ts));
		}
		s->last_ticks = ticks;
		s->rss_bytes = pages * (uint64_t)sysconf(_SC_PAGESIZE);
		s->last_ms = now_ms;
	}
	pthread_mutex_unlock(&m->mu);
}

void ks_podmetrics_forget(ks_podmetrics_t *m, const char *ns, const char *pod)
{
	pthread_mutex_lock(&m->mu);
	for (sample_t **pp = &m->head; *pp;) {
		sample_t *s = *pp;
		if (strcmp(s->ns, ns) == 0 && strcmp(s->pod, pod) == 0) {
			*pp = s->next;
			free(s);
		} else {
			pp = &s->next;
		}
	}
	pthread_mutex_unlock(&m->mu);
}

/* PodMetrics for one pod (lock held), or NULL when nothing measured yet. */
static cJSON *pod_metrics(ks_podmetrics_t *m, const cJSON *pod)
{
	const char *ns = cJSON_GetStringValue(kubeapi_get_path(pod, "metadata.namespace"));
	const char *name = cJSON_GetStringValue(kubeapi_get_path(pod, "metadata.name"));
	cJSON *ctrs = NULL;
	const char *ts = NULL;
	if (!ns || !name)
		return NULL;
	for (sample_t *s = m->head; s; s = s->next) {
		if (!s->valid || strcmp(s->ns, ns) || strcmp(s->pod, name))
			continue;
		char cpu[32], mem[32];
		if (!ctrs)
			ctrs = cJSON_CreateArray();
		ks_fmt(cpu, sizeof(cpu), "%lldn", (long long)(s->cpu_cores * 1e9));
		ks_fmt(mem, sizeof(mem), "%lluKi", (unsigned long long)(s->rss_bytes / 1024));
		cJSON *c = cJSON_CreateObject();
		cJSON_AddStringToObject(c, "name", s->ctr);
		cJSON *u = cJSON_AddObjectToObject(c, "usage");
		cJSON_AddStringToObject(u, "cpu", cpu);
		cJSON_AddStringToObject(u, "memory", mem);
		cJSON_AddItemToArray(ctrs, c);
		ts = s->ts;
	}
	if (!ctrs)
		return NULL;
	cJSON *o = cJSON_CreateObject();
	char win[32];
	ks_fmt(win, sizeof(win), "%.3fs", (double)m->window_ms / 1000.0);
	cJSON_AddStringToObject(o, "kind", "PodMetrics");
	cJSON_AddStringToObject(o, "apiVersion", "metrics.k8s.io/v1beta1");
	cJSON *md = cJSON_AddObjectToObject(o, "metadata");
	cJSON_AddStringToObject(md, "name", name);
	cJSON_AddStringToObject(md, "namespace", ns);
	cJSON_AddStringToObject(md, "creationTimestamp", ts);
	const cJSON *labels = kubeapi_get_path(pod, "metadata.labels");
	if (labels)
		cJSON_AddItemToObject(md, "labels", cJSON_Duplicate(labels, 1));
	cJSON_AddStringToObject(o, "timestamp", ts);
	cJSON_AddStringToObject(o, "window", win);
	cJSON_AddItemToObject(o, "containers", ctrs);
	return o;
}

cJSON *ks_podmetrics_get(ks_podmetrics_t *m, const char *ns, const char *resource, const char *name,
                         const char *label_selector, ks_err_t *e)
{
	const ks_rtype_t *prt = ks_rtype_find("", "v1", "pods");
	if (strcmp(resource, "pods") != 0) {
		ks_err_set(e, 404, "NotFound", "the server could not find the requested resource");
		return NULL;
	}
	if (name) {
		cJSON *pod = NULL;
		if (ks_store_get(m->st, prt, ns, name, &pod, e))
			return NULL;
		pthread_mutex_lock(&m->mu);
		cJSON *o = pod_metrics(m, pod);
		pthread_mutex_unlock(&m->mu);
		cJSON_Delete(pod);
		if (!o)
			ks_err_set(e, 404, "NotFound", "podmetrics.metrics.k8s.io \"%s\" not found",
			           name);
		return o;
	}
	kubeapi_selector_t *sel = NULL;
	char err[256];
	if (kubeapi_selector_parse(label_selector, &sel, err, sizeof(err))) {
		ks_err_set(e, 400, "BadRequest", "unable to parse labelSelector: %s", err);
		return NULL;
	}
	cJSON *items = NULL;
	uint64_t rv;
	char cont[8];
	long rest;
	int rc = ks_store_list(m->st, prt, ns, sel, NULL, 0, NULL, &items, &rv, cont, sizeof(cont),
	                       &rest, e);
	kubeapi_selector_free(sel);
	if (rc)
		return NULL;
	cJSON *list = cJSON_CreateObject();
	cJSON_AddStringToObject(list, "kind", "PodMetricsList");
	cJSON_AddStringToObject(list, "apiVersion", "metrics.k8s.io/v1beta1");
	cJSON_AddObjectToObject(list, "metadata");
	cJSON *out = cJSON_AddArrayToObject(list, "items");
	const cJSON *pod;
	pthread_mutex_lock(&m->mu);
	cJSON_ArrayForEach(pod, items)
	{
		cJSON *o = pod_metrics(m, pod);
		if (o)
			cJSON_AddItemToArray(out, o);
	}
	pthread_mutex_unlock(&m->mu);
	cJSON_Delete(items);
	return list;
}

cJSON *ks_podmetrics_group(void)
{
	cJSON *g = cJSON_CreateObject();
	cJSON_AddStringToObject(g, "name", "metrics.k8s.io");
	cJSON *vs = cJSON_AddArrayToObject(g, "versions");
	cJSON *v = cJSON_CreateObject();
	cJSON_AddStringToObject(v, "groupVersion", "metrics.k8s.io/v1beta1");
	cJSON_AddStringToObject(v, "version", "v1beta1");
	cJSON_AddItemToArray(vs, v);
	cJSON *pv = cJSON_AddObjectToObject(g, "preferredVersion");
	cJSON_AddStringToObject(pv, "groupVersion", "metrics.k8s.io/v1beta1");
	cJSON_AddStringToObject(pv, "version", "v1beta1");
	return g;
}

cJSON *ks_podmetrics_resources(void)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "kind", "APIResourceList");
	cJSON_AddStringToObject(o, "apiVersion", "v1");
	cJSON_AddStringToObject(o, "groupVersion", "metrics.k8s.io/v1beta1");
	cJSON *rs = cJSON_AddArrayToObject(o, "resources");
	cJSON *r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "name", "pods");
	cJSON_AddStringToObject(r, "singularName", "");
	cJSON_AddBoolToObject(r, "namespaced", true);
	cJSON_AddStringToObject(r, "kind", "PodMetrics");
	cJSON *verbs = cJSON_AddArrayToObject(r, "verbs");
	cJSON_AddItemToArray(verbs, cJSON_CreateString("get"));
	cJSON_AddItemToArray(verbs, cJSON_CreateString("list"));
	cJSON_AddItemToArray(rs, r);
	return o;
}

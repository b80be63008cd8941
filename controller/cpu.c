#include "cpu.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "kube/kube.h"
#include "kubeapi/quantity.h"

/* ---- requests -------------------------------------------------------------- */

/* A quantity as JSON: a string, or (as Quantity's unmarshaller allows) a number. */
static int json_quantity(const cJSON *q, int64_t *out, char *err, size_t errlen)
{
	if (cJSON_IsString(q))
		return kubeapi_quantity_milli(q->valuestring, out, err, errlen);
	if (cJSON_IsNumber(q)) {
		double m = ceil(q->valuedouble * 1000.0);
		if (!(fabs(m) < 9.2e18)) {
			snprintf(err, errlen, "quantity %g: out of range", q->valuedouble);
			return -1;
		}
		*out = (int64_t)m;
		return 0;
	}
	snprintf(err, errlen, "quantity is not a string");
	return -1;
}

static int add_container_requests(const cJSON *list, bool init_only_sidecars, const char *pod,
                                  int64_t *sum, int *count, char *err, size_t errlen)
{
	const cJSON *c;
	cJSON_ArrayForEach(c, list)
	{
		if (init_only_sidecars) {
			const cJSON *rp = cJSON_GetObjectItemCaseSensitive(c, "restartPolicy");
			if (!cJSON_IsString(rp) || strcmp(rp->valuestring, "Always") != 0)
				continue;
		}
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(c, "name");
		const char *cn = cJSON_IsString(name) ? name->valuestring : "?";
		const cJSON *req = cJSON_GetObjectItemCaseSensitive(
		        cJSON_GetObjectItemCaseSensitive(
		                cJSON_GetObjectItemCaseSensitive(c, "resources"), "requests"),
		        "cpu");
		int64_t m = 0;
		char why[160];
		if (req && json_quantity(req, &m, why, sizeof(why)) != 0) {
			snprintf(err, errlen,
			         "container %.60s of Pod %.100s: resources.requests.cpu: %s", cn,
			         pod, why);
			return -1;
		}
		if (m < 0) {
			snprintf(
			        err, errlen,
			        "container %.60s of Pod %.100s: resources.requests.cpu is negative",
			        cn, pod);
			return -1;
		}
		if (m == 0) {
			snprintf(err, errlen,
			         "missing request for cpu in container %.60s of Pod %.100s", cn,
			         pod);
			return -1;
		}
		*sum += m;
		(*count)++;
	}
	return 0;
}

int ctl_pod_cpu_request(const cJSON *pod, int64_t *milli, char *err, size_t errlen)
{
	const char *name = kube_obj_name(pod);
	const cJSON *spec = cJSON_GetObjectItemCaseSensitive(pod, "spec");
	int64_t sum = 0;
	int count = 0;
	if (!name)
		name = "?";
	if (add_container_requests(cJSON_GetObjectItemCaseSensitive(spec, "containers"), false,
	                           name, &sum, &count, err, errlen) != 0 ||
	    add_container_requests(cJSON_GetObjectItemCaseSensitive(spec, "initContainers"), true,
	                           name, &sum, &count, err, errlen) != 0)
		return -1;
	if (count == 0) {
		snprintf(err, errlen, "Pod %.100s has no containers", name);
		return -1;
	}
	*milli = sum;
	return 0;
}

/* ---- PodMetrics ------------------------------------------------------------ */

static int cmp_sample(const void *a, const void *b)
{
	return strcmp(((const ctl_cpu_sample_t *)a)->name, ((const ctl_cpu_sample_t *)b)->name);
}

/* bsearch: a pod name against a sample */
static int cmp_name(const void *key, const void *elem)
{
	return strcmp((const char *)key, ((const ctl_cpu_sample_t *)elem)->name);
}

/* One PodMetrics item: 1 = a sample, 0 = none (missing), -1 = error. */
static int parse_item(const cJSON *it, ctl_cpu_sample_t *s, char *err, size_t errlen)
{
	const char *name = kube_obj_name(it);
	char why[200];
	memset(s, 0, sizeof(*s));
	if (!name || !name[0]) {
		snprintf(err, errlen, "a PodMetrics item has no metadata.name");
		return -1;
	}
	snprintf(s->name, sizeof(s->name), "%s", name);
	const cJSON *ts = cJSON_GetObjectItemCaseSensitive(it, "timestamp");
	const cJSON *win = cJSON_GetObjectItemCaseSensitive(it, "window");
	bool has_ts = false, has_win = false;
	if (ts && !cJSON_IsNull(ts)) {
		if (!cJSON_IsString(ts) || ctl_parse_time(ts->valuestring, &s->timestamp) != 0) {
			snprintf(err, errlen,
			         "PodMetrics %.100s: timestamp is not an RFC 3339 time", name);
			return -1;
		}
		has_ts = true;
	}
	if (win && !cJSON_IsNull(win)) {
		int64_t ns = 0;
		if (!cJSON_IsString(win) ||
		    base_parse_duration_ns(win->valuestring, &ns, why, sizeof(why)) != 0) {
			snprintf(err, errlen, "PodMetrics %.100s: window: %s", name,
			         cJSON_IsString(win) ? why : "not a string");
			return -1;
		}
		s->window = (double)ns / 1e9;
		has_win = true;
	}
	s->has_window = has_ts && has_win;
	const cJSON *ctrs = cJSON_GetObjectItemCaseSensitive(it, "containers");
	if (ctrs && !cJSON_IsArray(ctrs)) {
		snprintf(err, errlen, "PodMetrics %.100s: containers is not a list", name);
		return -1;
	}
	bool missing = cJSON_GetArraySize(ctrs) == 0;
	const cJSON *c;
	cJSON_ArrayForEach(c, ctrs)
	{
		const cJSON *cpu = cJSON_GetObjectItemCaseSensitive(
		        cJSON_GetObjectItemCaseSensitive(c, "usage"), "cpu");
		int64_t m;
		if (!cpu) {
			missing = true; /* HPA: "missing resource metric cpu" */
			continue;
		}
		if (json_quantity(cpu, &m, why, sizeof(why)) != 0) {
			const cJSON *cn = cJSON_GetObjectItemCaseSensitive(c, "name");
			snprintf(err, errlen, "PodMetrics %.100s container %.60s: usage.cpu: %s",
			         name, cJSON_IsString(cn) ? cn->valuestring : "?", why);
			return -1;
		}
		if (m < 0) {
			snprintf(err, errlen, "PodMetrics %.100s: negative usage.cpu", name);
			return -1;
		}
		s->cpu_milli += m;
	}
	return missing ? 0 : 1;
}

int ctl_podmetrics_parse(const cJSON *list, ctl_cpu_sample_t **out, size_t *n, char *err,
                         size_t errlen)
{
	*out = NULL;
	*n = 0;
	const cJSON *kind = cJSON_GetObjectItemCaseSensitive(list, "kind");
	const cJSON *items = cJSON_GetObjectItemCaseSensitive(list, "items");
	bool single = cJSON_IsString(kind) && strcmp(kind->valuestring, "PodMetrics") == 0;
	if (!single && !cJSON_IsArray(items)) {
		snprintf(err, errlen, "the response is not a PodMetricsList (no items)");
		return -1;
	}
	size_t cap = single ? 1 : (size_t)cJSON_GetArraySize(items);
	ctl_cpu_sample_t *v = calloc(cap ? cap : 1, sizeof(*v));
	if (!v) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	size_t k = 0;
	if (single) {
		int rc = parse_item(list, &v[0], err, errlen);
		if (rc < 0)
			goto fail;
		k = (size_t)rc;
	} else {
		const cJSON *it;
		cJSON_ArrayForEach(it, items)
		{
			int rc = parse_item(it, &v[k], err, errlen);
			if (rc < 0)
				goto fail;
			k += (size_t)rc;
		}
	}
	qsort(v, k, sizeof(*v), cmp_sample);
	/* one sample per pod: a duplicate name keeps the first */
	size_t j = 0;
	for (size_t i = 0; i < k; i++) {
		if (j > 0 && strcmp(v[j - 1].name, v[i].name) == 0)
			continue;
		v[j++] = v[i];
	}
	if (j == 0) {
		free(v);
		v = NULL;
	}
	*out = v;
	*n = j;
	return 0;
fail:
	free(v);
	return -1;
}

size_t ctl_cpu_apply(const ctl_pod_t *pods, size_t npods, const ctl_cpu_sample_t *samples,
                     size_t nsamples, autoscale_pod_t *out)
{
	size_t with = 0;
	for (size_t i = 0; i < npods; i++) {
		const ctl_cpu_sample_t *s = nsamples ? bsearch(pods[i].name, samples, nsamples,
		                                               sizeof(*samples), cmp_name)
		                                     : NULL;
		prom_worker_metrics_t *m = &out[i].metrics;
		if (!s)
			continue;
		m->has_cpu = true;
		m->cpu_millicores = (double)s->cpu_milli;
		m->cpu_request_millicores = (double)pods[i].cpu_request_milli;
		m->has_cpu_window = s->has_window;
		m->cpu_timestamp = s->timestamp;
		m->cpu_window = s->window;
		with++;
	}
	return with;
}

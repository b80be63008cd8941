#include "ctlmetrics.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bucket bounds of the reconcile duration histogram, seconds. */
static const double RECONCILE_LE[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
#define NLE (sizeof(RECONCILE_LE) / sizeof(RECONCILE_LE[0]))

#define MAX_KINDS 16
#define MAX_API   64

typedef struct {
	char name[24];
	unsigned long long n;
} kind_count_t;

typedef struct {
	char verb[12];
	long code;
	unsigned long long n;
} api_count_t;

struct ctl_metrics {
	pthread_mutex_t mu;
	unsigned long long rec_bucket[NLE];
	unsigned long long rec_count;
	double rec_sum;
	unsigned long long scrapes[CTL_SCRAPE_NRESULTS];
	kind_count_t decisions[MAX_KINDS];
	size_t ndecisions;
	kind_count_t writes[MAX_KINDS];
	size_t nwrites;
	api_count_t api[MAX_API];
	size_t napi;
	bool leader;
	int policies;
};

static const char *const SCRAPE_NAMES[CTL_SCRAPE_NRESULTS] = {
        "ok", "timeout", "transport", "http", "parse", "toobig",
};

const char *ctl_scrape_result_name(ctl_scrape_result_kind_t k)
{
	return (unsigned)k < CTL_SCRAPE_NRESULTS ? SCRAPE_NAMES[k] : "unknown";
}

ctl_metrics_t *ctl_metrics_new(void)
{
	ctl_metrics_t *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	pthread_mutex_init(&m->mu, NULL);
	return m;
}

void ctl_metrics_free(ctl_metrics_t *m)
{
	if (!m)
		return;
	pthread_mutex_destroy(&m->mu);
	free(m);
}

void ctl_metrics_reconcile(ctl_metrics_t *m, double seconds)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->mu);
	for (size_t i = 0; i < NLE; i++)
		if (seconds <= RECONCILE_LE[i])
			m->rec_bucket[i]++;
	m->rec_count++;
	m->rec_sum += seconds;
	pthread_mutex_unlock(&m->mu);
}

void ctl_metrics_scrape(ctl_metrics_t *m, ctl_scrape_result_kind_t k)
{
	if (!m || (unsigned)k >= CTL_SCRAPE_NRESULTS)
		return;
	pthread_mutex_lock(&m->mu);
	m->scrapes[k]++;
	pthread_mutex_unlock(&m->mu);
}

static void kind_inc(kind_count_t *tab, size_t *n, const char *kind)
{
	for (size_t i = 0; i < *n; i++) {
		if (strcmp(tab[i].name, kind) == 0) {
			tab[i].n++;
			return;
		}
	}
	if (*n < MAX_KINDS) {
		snprintf(tab[*n].name, sizeof(tab[*n].name), "%s", kind);
		tab[*n].n = 1;
		(*n)++;
	}
}

void ctl_metrics_decision(ctl_metrics_t *m, const char *kind)
{
	if (!m || !kind)
		return;
	pthread_mutex_lock(&m->mu);
	kind_inc(m->decisions, &m->ndecisions, kind);
	pthread_mutex_unlock(&m->mu);
}

void ctl_metrics_write(ctl_metrics_t *m, const char *kind)
{
	if (!m || !kind)
		return;
	pthread_mutex_lock(&m->mu);
	kind_inc(m->writes, &m->nwrites, kind);
	pthread_mutex_unlock(&m->mu);
}

void ctl_metrics_api(ctl_metrics_t *m, const char *verb, long code)
{
	if (!m || !verb)
		return;
	pthread_mutex_lock(&m->mu);
	size_t i;
	for (i = 0; i < m->napi; i++)
		if (m->api[i].code == code && strcmp(m->api[i].verb, verb) == 0)
			break;
	if (i == m->napi && m->napi < MAX_API) {
		snprintf(m->api[i].verb, sizeof(m->api[i].verb), "%s", verb);
		m->api[i].code = code;
		m->api[i].n = 0;
		m->napi++;
	}
	if (i < m->napi)
		m->api[i].n++;
	pthread_mutex_unlock(&m->mu);
}

void ctl_metrics_set_leader(ctl_metrics_t *m, bool leader)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->mu);
	m->leader = leader;
	pthread_mutex_unlock(&m->mu);
}

void ctl_metrics_set_policies(ctl_metrics_t *m, int n)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->mu);
	m->policies = n;
	pthread_mutex_unlock(&m->mu);
}

int ctl_metrics_render(ctl_metrics_t *m, base_buf_t *o)
{
	int rc = 0;
	if (!m)
		return 0;
	pthread_mutex_lock(&m->mu);
	rc |= base_buf_appends(o, "# HELP mcp_autoscaler_reconcile_duration_seconds Time of one "
	                          "sync of one policy (read scale, scrape, decide, apply).\n"
	                          "# TYPE mcp_autoscaler_reconcile_duration_seconds histogram\n");
	for (size_t i = 0; i < NLE; i++)
		rc |= base_buf_printf(
		        o, "mcp_autoscaler_reconcile_duration_seconds_bucket{le=\"%g\"} %llu\n",
		        RECONCILE_LE[i], m->rec_bucket[i]);
	rc |= base_buf_printf(o,
	                      "mcp_autoscaler_reconcile_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
	                      "mcp_autoscaler_reconcile_duration_seconds_sum %.6f\n"
	                      "mcp_autoscaler_reconcile_duration_seconds_count %llu\n",
	                      m->rec_count, m->rec_sum, m->rec_count);
	rc |= base_buf_appends(
	        o, "# HELP mcp_autoscaler_scrapes_total Worker /metrics scrapes by result.\n"
	           "# TYPE mcp_autoscaler_scrapes_total counter\n");
	unsigned long long errs = 0;
	for (int k = 0; k < CTL_SCRAPE_NRESULTS; k++) {
		rc |= base_buf_printf(o, "mcp_autoscaler_scrapes_total{result=\"%s\"} %llu\n",
		                      SCRAPE_NAMES[k], m->scrapes[k]);
		if (k != CTL_SCRAPE_OK)
			errs += m->scrapes[k];
	}
	rc |= base_buf_printf(o,
	                      "# HELP mcp_autoscaler_scrape_errors_total Failed worker scrapes.\n"
	                      "# TYPE mcp_autoscaler_scrape_errors_total counter\n"
	                      "mcp_autoscaler_scrape_errors_total %llu\n",
	                      errs);
	rc |= base_buf_appends(o, "# HELP mcp_autoscaler_decisions_total Decisions by kind.\n"
	                          "# TYPE mcp_autoscaler_decisions_total counter\n");
	for (size_t i = 0; i < m->ndecisions; i++)
		rc |= base_buf_printf(o, "mcp_autoscaler_decisions_total{kind=\"%s\"} %llu\n",
		                      m->decisions[i].name, m->decisions[i].n);
	rc |= base_buf_appends(o, "# HELP mcp_autoscaler_writes_total API writes by kind.\n"
	                          "# TYPE mcp_autoscaler_writes_total counter\n");
	for (size_t i = 0; i < m->nwrites; i++)
		rc |= base_buf_printf(o, "mcp_autoscaler_writes_total{kind=\"%s\"} %llu\n",
		                      m->writes[i].name, m->writes[i].n);
	rc |= base_buf_appends(o,
	                       "# HELP mcp_autoscaler_api_requests_total Kubernetes API requests "
	                       "by verb and HTTP code (0: no answer).\n"
	                       "# TYPE mcp_autoscaler_api_requests_total counter\n");
	for (size_t i = 0; i < m->napi; i++)
		rc |= base_buf_printf(
		        o, "mcp_autoscaler_api_requests_total{verb=\"%s\",code=\"%ld\"} %llu\n",
		        m->api[i].verb, m->api[i].code, m->api[i].n);
	rc |= base_buf_printf(
	        o,
	        "# HELP mcp_autoscaler_leader 1 while this replica holds the lease and "
	        "may write.\n# TYPE mcp_autoscaler_leader gauge\nmcp_autoscaler_leader %d\n"
	        "# HELP mcp_autoscaler_policies Policy ConfigMaps known.\n"
	        "# TYPE mcp_autoscaler_policies gauge\nmcp_autoscaler_policies %d\n",
	        m->leader ? 1 : 0, m->policies);
	pthread_mutex_unlock(&m->mu);
	return rc ? BASE_ETOOBIG : 0;
}

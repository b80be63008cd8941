#include "apply.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

static int32_t clamp32(int32_t v, int32_t lo, int32_t hi)
{
	if (v < lo)
		return lo;
	if (v > hi)
		return hi;
	return v;
}

void ctl_plan_make(const autoscale_policy_t *pol, const autoscale_decision_t *d,
                   int32_t current_replicas, bool pool_exists, int32_t current_pool,
                   ctl_plan_t *out)
{
	memset(out, 0, sizeof(*out));
	out->from_replicas = current_replicas;
	out->from_pool = pool_exists ? current_pool : 0;
	int32_t lo = pol->min_replicas > 0 ? pol->min_replicas : 1;
	int32_t hi = pol->max_replicas >= lo ? pol->max_replicas : lo;
	out->replicas = clamp32(d->desired_replicas, lo, hi);
	int32_t plo = pol->pool_min_size > 0 ? pol->pool_min_size : 1;
	int32_t phi = pol->pool_max_size >= plo ? pol->pool_max_size : plo;
	out->pool_size = clamp32(d->desired_pool_size, plo, phi);
	out->kind = "hold";
	if (pol->paused) {
		out->replicas = current_replicas;
		out->pool_size = out->from_pool;
		return;
	}
	bool scale = out->replicas != current_replicas;
	bool pool = !pool_exists || out->pool_size != current_pool;
	out->pool_create = !pool_exists;
	if (scale && out->replicas > current_replicas) {
		if (pool)
			out->writes[out->nwrites++] = CTL_WRITE_POOL;
		out->writes[out->nwrites++] = CTL_WRITE_SCALE;
		out->kind = "scale_up";
	} else if (scale) {
		out->writes[out->nwrites++] = CTL_WRITE_SCALE;
		if (pool)
			out->writes[out->nwrites++] = CTL_WRITE_POOL;
		out->kind = "scale_down";
	} else if (pool) {
		out->writes[out->nwrites++] = CTL_WRITE_POOL;
		out->kind = "pool_resize";
	}
	if (!scale)
		out->replicas = current_replicas;
	if (!pool)
		out->pool_size = current_pool;
}

char *ctl_format_time(double t, bool micro, char *buf, size_t cap)
{
	time_t sec = (time_t)floor(t);
	long us = (long)((t - (double)sec) * 1e6);
	if (us < 0)
		us = 0;
	if (us > 999999)
		us = 999999;
	struct tm tm;
	gmtime_r(&sec, &tm);
	if (micro)
		snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900,
		         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, us);
	else
		snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
		         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	return buf;
}

static void add_cond(cJSON *arr, const char *type, bool status, const char *reason,
                     const char *message)
{
	cJSON *c = cJSON_CreateObject();
	if (!c)
		return;
	cJSON_AddStringToObject(c, "type", type);
	cJSON_AddStringToObject(c, "status", status ? "True" : "False");
	cJSON_AddStringToObject(c, "reason", reason ? reason : "");
	cJSON_AddStringToObject(c, "message", message ? message : "");
	cJSON_AddItemToArray(arr, c);
}

char *ctl_status_json(const ctl_status_t *s)
{
	char tb[40];
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	cJSON_AddBoolToObject(o, "policyValid", s->valid);
	cJSON_AddNumberToObject(o, "currentReplicas", s->current_replicas);
	cJSON_AddNumberToObject(o, "currentPoolSize", s->current_pool);
	if (s->has_decision && s->d) {
		const autoscale_decision_t *d = s->d;
		cJSON_AddNumberToObject(o, "desiredReplicas", d->desired_replicas);
		cJSON_AddNumberToObject(o, "desiredPoolSize", d->desired_pool_size);
		cJSON_AddNumberToObject(o, "pods", s->pods);
		cJSON_AddNumberToObject(o, "podsWithMetrics", s->pods_with_metrics);
		cJSON_AddStringToObject(o, "reason", d->reason);
		cJSON *ms = cJSON_AddArrayToObject(o, "metrics");
		for (int m = 0; ms && m < AUTOSCALE_M_COUNT; m++) {
			const autoscale_metric_status_t *x = &d->metrics[m];
			if (!x->configured)
				continue;
			cJSON *e = cJSON_CreateObject();
			if (!e)
				continue;
			cJSON_AddStringToObject(e, "name",
			                        autoscale_metric_name((autoscale_metric_t)m));
			if (x->valid && isfinite(x->value))
				cJSON_AddNumberToObject(e, "current", x->value);
			else
				cJSON_AddNullToObject(e, "current");
			cJSON_AddNumberToObject(e, "target", x->target);
			if (!x->valid && x->error[0])
				cJSON_AddStringToObject(e, "error", x->error);
			cJSON_AddItemToArray(ms, e);
		}
		cJSON *cs = cJSON_AddArrayToObject(o, "conditions");
		for (int c = 0; cs && c < AUTOSCALE_COND_COUNT; c++) {
			const autoscale_condition_t *x = &d->conditions[c];
			add_cond(cs, x->type, x->status, x->reason, x->message);
		}
		cJSON_AddBoolToObject(o, "burst", d->burst);
		cJSON_AddBoolToObject(o, "fallback", d->fallback);
	} else {
		cJSON *cs = cJSON_AddArrayToObject(o, "conditions");
		if (cs) {
			add_cond(cs, "AbleToScale", s->valid,
			         s->valid ? "SucceededGetScale" : "InvalidPolicy",
			         s->valid ? "the controller can read the target's scale"
			                  : s->error);
			add_cond(cs, "ScalingActive", false,
			         s->error_reason ? s->error_reason : "FailedGetScale", s->error);
		}
	}
	if (s->error && s->error[0])
		cJSON_AddStringToObject(o, "error", s->error);
	if (s->last_scale_time > 0)
		cJSON_AddStringToObject(o, "lastScaleTime",
		                        ctl_format_time(s->last_scale_time, false, tb, sizeof(tb)));
	if (s->sync_time > 0)
		cJSON_AddStringToObject(o, "lastSyncTime",
		                        ctl_format_time(s->sync_time, false, tb, sizeof(tb)));
	char *out = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return out;
}

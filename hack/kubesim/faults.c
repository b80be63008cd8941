#include "faults.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "base/clock.h"

#define MAX_RULES 64

typedef struct {
	char verb[16];
	char resource[64];
	char user[320]; /* "" = any user */
	int code;
	double rate;
	int retry_after;
	int latency_ms;
	long count; /* remaining firings; -1 = unlimited */
	long fired;
} rule_t;

struct ks_faults {
	pthread_mutex_t mu;
	rule_t rules[MAX_RULES];
	int n;
	int64_t outage_until_ms; /* monotonic */
	uint64_t rng;
};

ks_faults_t *ks_faults_new(void)
{
	ks_faults_t *f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	pthread_mutex_init(&f->mu, NULL);
	if (getrandom(&f->rng, sizeof(f->rng), 0) != (ssize_t)sizeof(f->rng) || f->rng == 0)
		f->rng = (uint64_t)base_now_ns() | 1;
	return f;
}

void ks_faults_free(ks_faults_t *f)
{
	if (!f)
		return;
	pthread_mutex_destroy(&f->mu);
	free(f);
}

static double next_rand(ks_faults_t *f)
{
	/* xorshift64*: enough for fault rates. */
	f->rng ^= f->rng >> 12;
	f->rng ^= f->rng << 25;
	f->rng ^= f->rng >> 27;
	return (double)((f->rng * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

static int add_one(ks_faults_t *f, const cJSON *s, bool *drop, char *err, size_t errlen)
{
	rule_t r;
	const cJSON *v;
	if (!cJSON_IsObject(s)) {
		snprintf(err, errlen, "a fault rule must be a JSON object");
		return -1;
	}
	memset(&r, 0, sizeof(r));
	snprintf(r.verb, sizeof(r.verb), "*");
	snprintf(r.resource, sizeof(r.resource), "*");
	r.rate = 1.0;
	r.count = -1;
	cJSON_ArrayForEach(v, s)
	{
		const char *k = v->string;
		if (strcmp(k, "verb") == 0 && cJSON_IsString(v)) {
			static const char *verbs[] = {"*",      "get",    "list",  "watch",
			                              "create", "update", "patch", "delete"};
			bool ok = false;
			for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
				ok = ok || strcmp(verbs[i], v->valuestring) == 0;
			if (!ok) {
				snprintf(err, errlen, "verb: unknown verb \"%s\"", v->valuestring);
				return -1;
			}
			snprintf(r.verb, sizeof(r.verb), "%s", v->valuestring);
		} else if (strcmp(k, "resource") == 0 && cJSON_IsString(v)) {
			snprintf(r.resource, sizeof(r.resource), "%s", v->valuestring);
		} else if (strcmp(k, "user") == 0 && cJSON_IsString(v)) {
			if (strlen(v->valuestring) >= sizeof(r.user)) {
				snprintf(err, errlen, "user: longer than %zu bytes",
				         sizeof(r.user) - 1);
				return -1;
			}
			snprintf(r.user, sizeof(r.user), "%s", v->valuestring);
		} else if (strcmp(k, "code") == 0 && cJSON_IsNumber(v)) {
			r.code = v->valueint;
			if (r.code != 409 && r.code != 429 && r.code != 500 && r.code != 503 &&
			    r.code != 0) {
				snprintf(err, errlen, "code: %d is not one of 409, 429, 500, 503",
				         r.code);
				return -1;
			}
		} else if (strcmp(k, "rate") == 0 && cJSON_IsNumber(v)) {
			if (v->valuedouble < 0 || v->valuedouble > 1) {
				snprintf(err, errlen, "rate: %g is not within [0, 1]",
				         v->valuedouble);
				return -1;
			}
			r.rate = v->valuedouble;
		} else if (strcmp(k, "retryAfter") == 0 && cJSON_IsNumber(v) &&
		           v->valuedouble >= 0 && v->valuedouble <= 3600) {
			r.retry_after = v->valueint;
		} else if (strcmp(k, "latencyMs") == 0 && cJSON_IsNumber(v) &&
		           v->valuedouble >= 0 && v->valuedouble <= 60000) {
			r.latency_ms = v->valueint;
		} else if (strcmp(k, "count") == 0 && cJSON_IsNumber(v) && v->valuedouble >= 0) {
			r.count = v->valuedouble == 0 ? -1 : (long)v->valuedouble;
		} else if (strcmp(k, "dropWatches") == 0 && cJSON_IsBool(v)) {
			if (cJSON_IsTrue(v) && drop)
				*drop = true;
		} else if (strcmp(k, "outage") == 0 && cJSON_IsNumber(v) && v->valuedouble >= 0 &&
		           v->valuedouble <= 3600) {
			f->outage_until_ms = base_now_ms() + (int64_t)(v->valuedouble * 1000);
		} else {
			snprintf(err, errlen, "unknown or invalid field \"%s\"", k);
			return -1;
		}
	}
	if (r.code == 0 && r.latency_ms == 0)
		return 0; /* only dropWatches/outage */
	if (f->n >= MAX_RULES) {
		snprintf(err, errlen, "too many rules (at most %d)", MAX_RULES);
		return -1;
	}
	f->rules[f->n++] = r;
	return 0;
}

int ks_faults_add(ks_faults_t *f, const cJSON *spec, bool *drop, char *err, size_t errlen)
{
	int rc = 0;
	if (drop)
		*drop = false;
	pthread_mutex_lock(&f->mu);
	if (cJSON_IsArray(spec)) {
		const cJSON *s;
		cJSON_ArrayForEach(s, spec)
		{
			rc = add_one(f, s, drop, err, errlen);
			if (rc)
				break;
		}
	} else {
		rc = add_one(f, spec, drop, err, errlen);
	}
	pthread_mutex_unlock(&f->mu);
	return rc;
}

int ks_faults_add_text(ks_faults_t *f, const char *json, bool *drop, char *err, size_t errlen)
{
	cJSON *j = cJSON_Parse(json);
	int rc;
	if (!j) {
		snprintf(err, errlen, "faults: not valid JSON");
		return -1;
	}
	rc = ks_faults_add(f, j, drop, err, errlen);
	cJSON_Delete(j);
	return rc;
}

void ks_faults_clear(ks_faults_t *f)
{
	pthread_mutex_lock(&f->mu);
	f->n = 0;
	f->outage_until_ms = 0;
	pthread_mutex_unlock(&f->mu);
}

cJSON *ks_faults_json(ks_faults_t *f)
{
	cJSON *o = cJSON_CreateObject();
	pthread_mutex_lock(&f->mu);
	int64_t left = f->outage_until_ms - base_now_ms();
	cJSON_AddNumberToObject(o, "outageRemainingMs", left > 0 ? (double)left : 0);
	cJSON *a = cJSON_AddArrayToObject(o, "rules");
	for (int i = 0; i < f->n; i++) {
		rule_t *r = &f->rules[i];
		cJSON *j = cJSON_CreateObject();
		cJSON_AddStringToObject(j, "verb", r->verb);
		cJSON_AddStringToObject(j, "resource", r->resource);
		if (r->user[0])
			cJSON_AddStringToObject(j, "user", r->user);
		cJSON_AddNumberToObject(j, "code", r->code);
		cJSON_AddNumberToObject(j, "rate", r->rate);
		cJSON_AddNumberToObject(j, "retryAfter", r->retry_after);
		cJSON_AddNumberToObject(j, "latencyMs", r->latency_ms);
		cJSON_AddNumberToObject(j, "remaining", (double)r->count);
		cJSON_AddNumberToObject(j, "fired", (double)r->fired);
		cJSON_AddItemToArray(a, j);
	}
	pthread_mutex_unlock(&f->mu);
	return o;
}

bool ks_faults_outage(ks_faults_t *f)
{
	pthread_mutex_lock(&f->mu);
	bool on = f->outage_until_ms > base_now_ms();
	pthread_mutex_unlock(&f->mu);
	return on;
}

ks_fault_t ks_faults_check(ks_faults_t *f, const char *user, const char *verb, const char *resource)
{
	ks_fault_t out = {0, 0, 0};
	pthread_mutex_lock(&f->mu);
	if (f->outage_until_ms > base_now_ms()) {
		out.code = 503;
		out.retry_after = 1;
		pthread_mutex_unlock(&f->mu);
		return out;
	}
	for (int i = 0; i < f->n; i++) {
		rule_t *r = &f->rules[i];
		if (strcmp(r->verb, "*") && strcmp(r->verb, verb))
			continue;
		if (strcmp(r->resource, "*") && strcmp(r->resource, resource))
			continue;
		if (r->user[0] && (!user || strcmp(r->user, user)))
			continue;
		if (r->count == 0 || next_rand(f) >= r->rate)
			continue;
		if (r->count > 0)
			r->count--;
		r->fired++;
		if (r->latency_ms > out.latency_ms)
			out.latency_ms = r->latency_ms;
		if (r->code && !out.code) {
			out.code = r->code;
			out.retry_after = r->retry_after;
		}
	}
	pthread_mutex_unlock(&f->mu);
	return out;
}

#include "audit.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"

struct ks_audit {
	pthread_mutex_t mu;
	FILE *f;
	bool failed;
};

ks_audit_t *ks_audit_open(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "--audit-log %s: %s", path, strerror(errno));
		return NULL;
	}
	ks_audit_t *a = calloc(1, sizeof(*a));
	FILE *f = a ? fdopen(fd, "a") : NULL;
	if (!f) {
		close(fd);
		free(a);
		snprintf(err, errlen, "--audit-log %s: out of memory", path);
		return NULL;
	}
	pthread_mutex_init(&a->mu, NULL);
	a->f = f;
	return a;
}

void ks_audit_free(ks_audit_t *a)
{
	if (!a)
		return;
	fclose(a->f);
	pthread_mutex_destroy(&a->mu);
	free(a);
}

char *ks_audit_line(const ks_audit_rec_t *rec, const char *ts)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	if (ts)
		cJSON_AddStringToObject(o, "ts", ts);
	cJSON_AddStringToObject(o, "user", rec->user);
	cJSON_AddStringToObject(o, "verb", rec->verb);
	cJSON_AddStringToObject(o, "group", rec->group);
	cJSON_AddStringToObject(o, "resource", rec->resource);
	cJSON_AddStringToObject(o, "subresource", rec->subresource);
	cJSON_AddStringToObject(o, "namespace", rec->ns);
	cJSON_AddStringToObject(o, "name", rec->name);
	cJSON_AddNumberToObject(o, "code", rec->code);
	char *s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}

void ks_audit_write(ks_audit_t *a, const ks_audit_rec_t *rec)
{
	if (!a)
		return;
	struct timespec now;
	struct tm tm;
	char ts[40];
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	size_t n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + n, sizeof(ts) - n, ".%06ldZ", now.tv_nsec / 1000);
	char *line = ks_audit_line(rec, ts);
	if (!line)
		return;
	pthread_mutex_lock(&a->mu);
	if (!a->failed && (fprintf(a->f, "%s\n", line) < 0 || fflush(a->f) != 0)) {
		a->failed = true;
		base_log(BASE_LOG_ERROR, "audit-log", "error", strerror(errno), (char *)NULL);
	}
	pthread_mutex_unlock(&a->mu);
	free(line);
}

#include "podlogs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/clock.h"
#include "kubeapi/kubeapi.h"
#include "kubelet.h"
#include "podenv.h"

struct ks_podlogs {
	ks_store_t *st;
	char data_dir[4096];
	atomic_bool stop;
};

struct ks_logstream {
	ks_podlogs_t *pl;
	int fd;
	bool follow;
	long left; /* bytes still allowed (-1 = no limit) */
	char ns[64], pod[256], uid[64], ctr[128];
	int run; /* the followed run (restartCount at open) */
	int64_t next_check;
};

ks_podlogs_t *ks_podlogs_new(ks_store_t *st, const char *data_dir)
{
	ks_podlogs_t *pl = calloc(1, sizeof(*pl));
	if (!pl)
		return NULL;
	pl->st = st;
	ks_fmt(pl->data_dir, sizeof(pl->data_dir), "%s", data_dir);
	atomic_init(&pl->stop, false);
	return pl;
}

void ks_podlogs_stop(ks_podlogs_t *pl)
{
	if (pl)
		atomic_store(&pl->stop, true);
}

void ks_podlogs_free(ks_podlogs_t *pl)
{
	free(pl);
}

static const cJSON *ctr_status(const cJSON *pod, const char *ctr)
{
	const cJSON *c;
	cJSON_ArrayForEach(c, kubeapi_get_path(pod, "status.containerStatuses"))
	{
		if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "name")) ?: "",
		           ctr) == 0)
			return c;
	}
	return NULL;
}

/* Offset where the last n lines of fd start. */
static off_t tail_offset(int fd, long n)
{
	off_t end = lseek(fd, 0, SEEK_END);
	off_t pos = end;
	long lines = 0;
	char buf[4096];
	if (end <= 0 || n < 0)
		return 0;
	if (n == 0)
		return end;
	while (pos > 0) {
		off_t chunk = pos > (off_t)sizeof(buf) ? (off_t)sizeof(buf) : pos;
		pos -= chunk;
		if (pread(fd, buf, (size_t)chunk, pos) != (ssize_t)chunk)
			return 0;
		for (off_t i = chunk - 1; i >= 0; i--) {
			if (buf[i] != '\n' || pos + i == end - 1)
				continue;
			if (++lines == n)
				return pos + i + 1;
		}
	}
	return 0;
}

ks_logstream_t *ks_logstream_open(ks_podlogs_t *pl, const char *ns, const char *pod,
                                  const ks_log_req_t *req, ks_err_t *e)
{
	cJSON *obj = NULL;
	char dir[4096], path[4200];
	if (ks_store_get(pl->st, ks_rtype_find("", "v1", "pods"), ns, pod, &obj, e))
		return NULL;
	const char *ctr =
	        req->container && *req->container
	                ? req->container
	                : cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
	                          cJSON_GetArrayItem(kubeapi_get_path(obj, "spec.containers"), 0),
	                          "name"));
	const cJSON *cs = ctr ? ctr_status(obj, ctr) : NULL;
	bool known = false;
	const cJSON *c;
	cJSON_ArrayForEach(c, kubeapi_get_path(obj, "spec.containers"))
	{
		if (ctr &&
		    strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "name")) ?: "",
		           ctr) == 0)
			known = true;
	}
	if (!known) {
		ks_err_set(e, 400, "BadRequest", "container %s is not valid for pod %s",
		           ctr ? ctr : "", pod);
		cJSON_Delete(obj);
		return NULL;
	}
	const char *uid = cJSON_GetStringValue(kubeapi_get_path(obj, "metadata.uid")) ?: "";
	int restarts =
	        (int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(cs, "restartCount"));
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(cs, "state");
	bool running = cJSON_GetObjectItemCaseSensitive(st, "running") != NULL;
	bool started = cJSON_GetObjectItemCaseSensitive(cs, "containerID") != NULL;
	/* Run N writes logs/CONTAINER/N.log and restartCount counts the runs
	 * before the current one; a container waiting in back-off already
	 * counts its last run, which is then both "current" and "previous". */
	bool has_run = running || cJSON_GetObjectItemCaseSensitive(st, "terminated") != NULL;
	int run = has_run && !req->previous ? restarts : restarts - 1;
	ks_kubelet_pod_dir(pl->data_dir, ns, pod, uid, dir, sizeof(dir));
	ks_fmt(path, sizeof(path), "%s/logs/%s/%d.log", dir, ctr, run);
	int fd = run >= 0 && started ? open(path, O_RDONLY | O_CLOEXEC) : -1;
	if (fd < 0) {
		const char *why = cJSON_GetStringValue(kubeapi_get_path(st, "waiting.reason"));
		if (req->previous)
			ks_err_set(e, 400, "BadRequest",
			           "previous terminated container \"%s\" in pod \"%s\" not found",
			           ctr, pod);
		else
			ks_err_set(e, 400, "BadRequest",
			           "container \"%s\" in pod \"%s\" is waiting to start: %s", ctr,
			           pod, why ? why : "ContainerCreating");
		cJSON_Delete(obj);
		return NULL;
	}
	ks_logstream_t *ls = calloc(1, sizeof(*ls));
	if (!ls) {
		close(fd);
		cJSON_Delete(obj);
		ks_err_set(e, 500, "InternalError", "out of memory");
		return NULL;
	}
	ls->pl = pl;
	ls->fd = fd;
	ls->follow = req->follow && !req->previous && running;
	ls->left = req->limit_bytes > 0 ? req->limit_bytes : -1;
	ls->run = run;
	ks_fmt(ls->ns, sizeof(ls->ns), "%s", ns);
	ks_fmt(ls->pod, sizeof(ls->pod), "%s", pod);
	ks_fmt(ls->uid, sizeof(ls->uid), "%s", uid);
	ks_fmt(ls->ctr, sizeof(ls->ctr), "%s", ctr);
	lseek(fd, tail_offset(fd, req->tail_lines), SEEK_SET);
	cJSON_Delete(obj);
	return ls;
}

/* True while the followed run is still the running one. */
static bool still_running(ks_logstream_t *ls)
{
	cJSON *obj = NULL;
	ks_err_t e;
	bool on = false;
	if (atomic_load(&ls->pl->stop))
		return false;
	if (ks_store_get(ls->pl->st, ks_rtype_find("", "v1", "pods"), ls->ns, ls->pod, &obj, &e))
		return false;
	const cJSON *cs = ctr_status(obj, ls->ctr);
	const char *uid = cJSON_GetStringValue(kubeapi_get_path(obj, "metadata.uid")) ?: "";
	int restarts =
	        (int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(cs, "restartCount"));
	on = strcmp(uid, ls->uid) == 0 && restarts == ls->run &&
	     kubeapi_get_path(cs, "state.running") != NULL;
	cJSON_Delete(obj);
	return on;
}

ssize_t ks_logstream_read(ks_logstream_t *ls, char *buf, size_t max)
{
	if (ls->left == 0)
		return 0;
	if (ls->left > 0 && (size_t)ls->left < max)
		max = (size_t)ls->left;
	for (;;) {
		ssize_t n = read(ls->fd, buf, max);
		if (n > 0) {
			if (ls->left > 0)
				ls->left -= n;
			return n;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (!ls->follow)
			return 0;
		if (!still_running(ls)) {
			/* Drain what the last moments wrote. */
			n = read(ls->fd, buf, max);
			if (n > 0) {
				if (ls->left > 0)
					ls->left -= n;
				return n;
			}
			return 0;
		}
		base_sleep_ms(200);
	}
}

void ks_logstream_close(ks_logstream_t *ls)
{
	if (!ls)
		return;
	close(ls->fd);
	free(ls);
}

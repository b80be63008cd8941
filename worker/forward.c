/* Forwarder threads: queue -> pooled device connection -> completion. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "mbap/link.h"
#include "worker.h"

bool forward_submit(worker_t *w, req_t *r)
{
	pthread_mutex_lock(&w->qlock);
	if (w->qclosed || w->qlen >= w->o->queue_max) {
		pthread_mutex_unlock(&w->qlock);
		return false;
	}
	r->next = NULL;
	if (w->qtail)
		w->qtail->next = r;
	else
		w->qhead = r;
	w->qtail = r;
	w->qlen++;
	atomic_fetch_add(&w->m.waiting, 1);
	atomic_fetch_add(&w->inflight, 1);
	pthread_cond_signal(&w->qcond);
	pthread_mutex_unlock(&w->qlock);
	return true;
}

static req_t *queue_pop(worker_t *w)
{
	req_t *r;
	pthread_mutex_lock(&w->qlock);
	while (w->qhead == NULL && !w->qclosed)
		pthread_cond_wait(&w->qcond, &w->qlock);
	r = w->qhead;
	if (r) {
		w->qhead = r->next;
		if (w->qhead == NULL)
			w->qtail = NULL;
		w->qlen--;
	}
	pthread_mutex_unlock(&w->qlock);
	return r;
}

static void complete(worker_t *w, req_t *r)
{
	uint64_t one = 1;
	r->next = NULL;
	pthread_mutex_lock(&w->clock);
	if (w->ctail)
		w->ctail->next = r;
	else
		w->chead = r;
	w->ctail = r;
	pthread_mutex_unlock(&w->clock);
	if (write(w->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		base_logf(BASE_LOG_ERROR, "eventfd", "write: %s", strerror(errno));
}

req_t *forward_take_completed(worker_t *w)
{
	uint64_t v;
	req_t *r;
	if (read(w->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		base_logf(BASE_LOG_ERROR, "eventfd", "read: %s", strerror(errno));
	pthread_mutex_lock(&w->clock);
	r = w->chead;
	w->chead = w->ctail = NULL;
	pthread_mutex_unlock(&w->clock);
	return r;
}

static void answer_exception(req_t *r, uint8_t code, result_t res)
{
	int n = mbap_build_exception(r->adu, r->len, code, r->rep, sizeof(r->rep));
	r->rlen = n > 0 ? (size_t)n : 0;
	r->result = res;
}

/* Puts the device's reply (already matched) back under the client's id. */
static void answer_reply(req_t *r, uint16_t client_tid)
{
	mbap_set_tid(r->rep, client_tid);
	r->result = mbap_is_exception(r->rep, r->rlen, NULL) ? RES_EXCEPTION : RES_OK;
}

static bool is_read_only(uint8_t fc)
{
	return fc == 1 || fc == 2 || fc == 3 || fc == 4 || fc == 20 || fc == 24 || fc == 43;
}

static int64_t ms_left(int64_t deadline_ns)
{
	int64_t left = (deadline_ns - base_now_ns()) / 1000000;
	return left > 0 ? left : 0;
}

/* One exchange over a pooled connection. */
static void serve_pooled(worker_t *w, req_t *r)
{
	uint16_t client_tid = mbap_get_tid(r->adu);
	int attempts = is_read_only(r->adu[7]) ? 2 : 1;

	for (int a = 0; a < attempts; a++) {
		mcppool_conn_t *c = NULL;
		int rc = mcppool_acquire(w->pool, ms_left(r->deadline_ns), "worker", &c);
		if (a == 0)
			atomic_fetch_sub(&w->m.waiting, 1);
		if (rc != 0) {
			answer_exception(r, MBAP_EXC_GW_PATH, RES_UNAVAILABLE);
			return;
		}
		mbap_set_tid(r->adu, (uint16_t)atomic_fetch_add(&w->tid_seq, 1));
		rc = mbap_link_exchange(mcppool_conn_fd(c), r->adu, r->len, r->rep, sizeof(r->rep),
					&r->rlen, r->deadline_ns);
		mbap_set_tid(r->adu, client_tid);
		if (rc == 0) {
			mcppool_release(w->pool, c, MCPPOOL_OK);
			answer_reply(r, client_tid);
			return;
		}
		if (rc == MBAP_ETIMEDOUT) {
			mcppool_release(w->pool, c, MCPPOOL_TIMEOUT);
			answer_exception(r, MBAP_EXC_GW_TARGET, RES_TIMEOUT);
			return;
		}
		mcppool_release(w->pool, c, MCPPOOL_BROKEN_IO);
		base_log(BASE_LOG_WARN, "device_io", "error", mbap_strerror(rc), "retry",
			 a + 1 < attempts && rc == MBAP_EIO ? "yes" : "no", NULL);
		/* A pooled connection the device closed while idle fails at once;
		 * a read may safely be tried again on another one. */
		if (rc != MBAP_EIO)
			break;
	}
	answer_exception(r, MBAP_EXC_GW_TARGET, RES_TIMEOUT);
}

/* Opens a TCP connection to the device before the deadline; fd or -1. */
static int device_connect(worker_t *w, int64_t deadline_ns)
{
	char host[256];
	const char *colon = strrchr(w->o->device, ':');
	struct addrinfo hints = {0}, *ai = NULL;
	int fd = -1;
	int one = 1;
	size_t hl = (size_t)(colon - w->o->device);
	memcpy(host, w->o->device, hl);
	host[hl] = '\0';
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, colon + 1, &hints, &ai) != 0)
		return -1;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		int soerr = 0;
		socklen_t sl = sizeof(soerr);
		int64_t left = deadline_ns - base_now_ns();
		if (errno != EINPROGRESS || left <= 0 ||
		    poll(&p, 1, (int)((left + 999999) / 1000000)) != 1 ||
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0)
			goto fail;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	freeaddrinfo(ai);
	return fd;
fail:
	if (fd >= 0)
		close(fd);
	freeaddrinfo(ai);
	return -1;
}

/* The baseline mode: a fresh device connection for every request. */
static void serve_connect_per_request(worker_t *w, req_t *r)
{
	uint16_t client_tid = mbap_get_tid(r->adu);
	int64_t cdl = base_now_ns() + w->o->connect_timeout_ms * 1000000;
	int fd;
	int rc;
	atomic_fetch_sub(&w->m.waiting, 1);
	fd = device_connect(w, cdl < r->deadline_ns ? cdl : r->deadline_ns);
	metrics_count(&w->m, &w->m.cpr_connects);
	atomic_store(&w->m.cpr_up, fd >= 0);
	if (fd < 0) {
		answer_exception(r, MBAP_EXC_GW_PATH, RES_UNAVAILABLE);
		return;
	}
	mbap_set_tid(r->adu, (uint16_t)atomic_fetch_add(&w->tid_seq, 1));
	rc = mbap_link_exchange(fd, r->adu, r->len, r->rep, sizeof(r->rep), &r->rlen,
				r->deadline_ns);
	mbap_set_tid(r->adu, client_tid);
	close(fd);
	if (rc == 0)
		answer_reply(r, client_tid);
	else
		answer_exception(r, MBAP_EXC_GW_TARGET, RES_TIMEOUT);
}

static void *forwarder_main(void *arg)
{
	worker_t *w = arg;
	req_t *r;
	while ((r = queue_pop(w)) != NULL) {
		if (base_now_ns() >= r->deadline_ns) {
			/* Waited out its whole deadline in the queue. */
			atomic_fetch_sub(&w->m.waiting, 1);
			answer_exception(r, MBAP_EXC_GW_PATH, RES_UNAVAILABLE);
		} else if (w->pool) {
			serve_pooled(w, r);
		} else {
			serve_connect_per_request(w, r);
		}
		complete(w, r);
	}
	return NULL;
}

int forward_start(worker_t *w, char *err, size_t errlen)
{
	sigset_t all, old;
	int n = (int)(w->o->forwarders > 0 ? w->o->forwarders : w->o->pool_max);
	pthread_mutex_init(&w->qlock, NULL);
	pthread_cond_init(&w->qcond, NULL);
	pthread_mutex_init(&w->clock, NULL);
	w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->efd < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		return -1;
	}
	w->threads = calloc((size_t)n, sizeof(pthread_t));
	if (w->threads == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	/* Signals are the loop's (signalfd); keep them off these threads. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (int i = 0; i < n; i++) {
		pthread_attr_t at;
		pthread_attr_init(&at);
		pthread_attr_setstacksize(&at, 256 * 1024);
		if (pthread_create(&w->threads[i], &at, forwarder_main, w) != 0) {
			pthread_attr_destroy(&at);
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			snprintf(err, errlen, "cannot start forwarder thread %d: %s", i,
				 strerror(errno));
			forward_stop(w);
			return -1;
		}
		pthread_attr_destroy(&at);
		w->nthreads++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return 0;
}

void forward_stop(worker_t *w)
{
	pthread_mutex_lock(&w->qlock);
	w->qclosed = true;
	pthread_cond_broadcast(&w->qcond);
	pthread_mutex_unlock(&w->qlock);
	for (int i = 0; i < w->nthreads; i++)
		pthread_join(w->threads[i], NULL);
	w->nthreads = 0;
	free(w->threads);
	w->threads = NULL;
}

#include "kube/loop.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/clock.h"
#include "kube/kube.h"

#define DEFAULT_MAX_BODY (16u << 20)

/* One watched descriptor: a libcurl socket or a caller fd. Freed only after
 * the current epoll batch, since a later event of the batch may point at it. */
typedef struct watch {
	int fd;
	bool curl;
	bool dead;
	uint32_t events;
	kube_fd_cb cb;
	void *arg;
	struct watch *next; /* all watches, or the graveyard once dead */
} watch_t;

struct kube_timer {
	int64_t deadline;
	kube_timer_cb cb;
	void *arg;
	bool linked;
	bool cancelled; /* cancelled from inside its own callback */
	struct kube_timer *prev, *next;
};

struct kube_http {
	kube_loop_t *loop;
	CURL *easy;
	struct curl_slist *hdrs;
	char *req_body;
	base_buf_t buf;
	int (*on_data)(const char *p, size_t n, void *arg);
	void (*on_headers)(long status, void *arg);
	kube_http_done_cb done;
	void *arg;
	char errbuf[CURL_ERROR_SIZE];
	int64_t retry_after_ms;
	long status;
	bool headers_done;
	bool aborted;
	bool toobig;
	bool in_multi;
	bool cancelled;
	struct kube_http *prev, *next; /* loop->reqs, or loop->pending_add */
	struct kube_http *rm_next;     /* loop->pending_rm */
};

struct kube_loop {
	int epfd;
	CURLM *multi;
	int64_t curl_deadline; /* -1: none */
	kube_timer_t *timers;  /* sorted by deadline */
	kube_timer_t *running_timer;
	watch_t *watches;
	watch_t *graveyard;
	int in_curl;
	bool stop;
	struct kube_http *reqs;        /* handed to libcurl */
	struct kube_http *pending_add; /* started inside a libcurl callback */
	struct kube_http *pending_rm;  /* cancelled inside a libcurl callback */
	int http_count;
};

static void http_free(struct kube_http *h)
{
	if (h->easy)
		curl_easy_cleanup(h->easy);
	curl_slist_free_all(h->hdrs);
	free(h->req_body);
	base_buf_free(&h->buf);
	free(h);
}

static void list_unlink(struct kube_http **head, struct kube_http *h)
{
	if (h->prev)
		h->prev->next = h->next;
	else
		*head = h->next;
	if (h->next)
		h->next->prev = h->prev;
	h->prev = NULL;
	h->next = NULL;
}

static void list_push(struct kube_http **head, struct kube_http *h)
{
	h->prev = NULL;
	h->next = *head;
	if (*head)
		(*head)->prev = h;
	*head = h;
}

int64_t kube_loop_now_ms(kube_loop_t *loop)
{
	(void)loop;
	return base_now_ms();
}

/* ---- libcurl glue ------------------------------------------------------- */

static int sock_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	kube_loop_t *loop = userp;
	watch_t *w = socketp;
	struct epoll_event ev;
	(void)easy;

	if (what == CURL_POLL_REMOVE) {
		if (w) {
			epoll_ctl(loop->epfd, EPOLL_CTL_DEL, s, NULL);
			w->dead = true;
			curl_multi_assign(loop->multi, s, NULL);
		}
		return 0;
	}
	memset(&ev, 0, sizeof(ev));
	if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
		ev.events |= EPOLLIN;
	if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
		ev.events |= EPOLLOUT;
	if (w == NULL) {
		w = calloc(1, sizeof(*w));
		if (w == NULL)
			return -1;
		w->fd = s;
		w->curl = true;
		w->next = loop->watches;
		loop->watches = w;
		ev.data.ptr = w;
		if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, s, &ev) != 0) {
			w->dead = true;
			return -1;
		}
		curl_multi_assign(loop->multi, s, w);
	} else {
		ev.data.ptr = w;
		if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, s, &ev) != 0)
			return -1;
	}
	w->events = ev.events;
	return 0;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	kube_loop_t *loop = userp;
	(void)multi;
	loop->curl_deadline = timeout_ms < 0 ? -1 : base_now_ms() + timeout_ms;
	return 0;
}

static size_t header_cb(char *p, size_t size, size_t n, void *arg)
{
	struct kube_http *h = arg;
	size_t len = size * n;

	if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
		h->retry_after_ms = -1;
		h->headers_done = false;
	} else if (len >= 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
		char tmp[32];
		size_t k = len - 12;
		char *end;
		long v;
		if (k >= sizeof(tmp))
			k = sizeof(tmp) - 1;
		memcpy(tmp, p + 12, k);
		tmp[k] = '\0';
		errno = 0;
		v = strtol(tmp, &end, 10);
		while (*end == ' ' || *end == '\r' || *end == '\n' || *end == '\t')
			end++;
		/* Only delta-seconds; an HTTP-date is rare from API servers. */
		if (errno == 0 && end != tmp && *end == '\0' && v >= 0 && v <= 86400)
			h->retry_after_ms = v * 1000;
	} else if (len <= 2 && (p[0] == '\r' || p[0] == '\n')) {
		long code = 0;
		curl_easy_getinfo(h->easy, CURLINFO_RESPONSE_CODE, &code);
		if (code >= 200) {
			h->status = code;
			h->headers_done = true;
			if (h->on_headers)
				h->on_headers(code, h->arg);
		}
	}
	return len;
}

static size_t write_cb(char *p, size_t size, size_t n, void *arg)
{
	struct kube_http *h = arg;
	size_t len = size * n;

	if (h->cancelled)
		return 0;
	if (h->on_data && h->status >= 200 && h->status < 300) {
		if (h->on_data(p, len, h->arg) != 0) {
			h->aborted = true;
			return 0;
		}
		return len;
	}
	if (base_buf_append(&h->buf, p, len) != 0) {
		h->toobig = true;
		return 0;
	}
	return len;
}

static void flush_pending(kube_loop_t *loop)
{
	while (loop->pending_rm) {
		struct kube_http *h = loop->pending_rm;
		loop->pending_rm = h->rm_next;
		if (h->in_multi)
			curl_multi_remove_handle(loop->multi, h->easy);
		list_unlink(&loop->reqs, h);
		loop->http_count--;
		http_free(h);
	}
	while (loop->pending_add) {
		struct kube_http *h = loop->pending_add;
		list_unlink(&loop->pending_add, h);
		list_push(&loop->reqs, h);
		h->in_multi = true;
		if (curl_multi_add_handle(loop->multi, h->easy) != CURLM_OK) {
			/* Report it like a transport failure, through done. */
			h->in_multi = false;
			snprintf(h->errbuf, sizeof(h->errbuf), "curl_multi_add_handle failed");
		}
	}
}

static int map_curl_err(CURLcode rc)
{
	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT:
		return KUBE_ETIMEOUT;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_CONNECT_ERROR:
		return KUBE_ETLS;
	default:
		return KUBE_ETRANSPORT;
	}
}

static void finish(kube_loop_t *loop, struct kube_http *h, CURLcode rc)
{
	kube_http_result_t r;

	memset(&r, 0, sizeof(r));
	curl_easy_getinfo(h->easy, CURLINFO_RESPONSE_CODE, &r.status);
	curl_easy_getinfo(h->easy, CURLINFO_TOTAL_TIME, &r.total_s);
	r.retry_after_ms = h->retry_after_ms;
	r.body = h->buf.data ? h->buf.data : "";
	r.body_len = h->buf.len;
	r.aborted = h->aborted;
	r.errmsg = h->errbuf;
	if (h->toobig) {
		r.err = KUBE_ETOOBIG;
		snprintf(h->errbuf, sizeof(h->errbuf), "response body too large (cap %zu bytes)",
		         h->buf.max);
	} else if (h->aborted) {
		r.err = KUBE_ETRANSPORT;
		snprintf(h->errbuf, sizeof(h->errbuf), "aborted by receiver");
	} else if (rc != CURLE_OK) {
		r.err = map_curl_err(rc);
		if (h->errbuf[0] == '\0')
			snprintf(h->errbuf, sizeof(h->errbuf), "%s", curl_easy_strerror(rc));
	}
	if (h->in_multi)
		curl_multi_remove_handle(loop->multi, h->easy);
	h->in_multi = false;
	list_unlink(&loop->reqs, h);
	loop->http_count--;
	h->done(&r, h->arg);
	http_free(h);
}

static void check_done(kube_loop_t *loop)
{
	CURLMsg *m;
	int left;

	for (;;) {
		m = curl_multi_info_read(loop->multi, &left);
		if (m == NULL)
			break;
		if (m->msg != CURLMSG_DONE)
			continue;
		struct kube_http *h = NULL;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&h);
		if (h)
			finish(loop, h, m->data.result);
	}
	/* Requests libcurl refused to take: fail them through done. */
	for (;;) {
		struct kube_http *h = loop->reqs;
		while (h && (h->in_multi || h->cancelled))
			h = h->next;
		if (h == NULL)
			break;
		finish(loop, h, CURLE_FAILED_INIT);
	}
}

static void curl_action(kube_loop_t *loop, curl_socket_t s, int flags)
{
	int running;
	loop->in_curl++;
	curl_multi_socket_action(loop->multi, s, flags, &running);
	loop->in_curl--;
	flush_pending(loop);
	check_done(loop);
	flush_pending(loop);
}

/* ---- loop --------------------------------------------------------------- */

kube_loop_t *kube_loop_new(char *err, size_t errlen)
{
	kube_loop_t *loop = calloc(1, sizeof(*loop));
	static bool global_done;

	if (loop == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (!global_done) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		global_done = true;
	}
	loop->curl_deadline = -1;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0) {
		snprintf(err, errlen, "epoll_create1: %s", strerror(errno));
		goto fail;
	}
	loop->multi = curl_multi_init();
	if (loop->multi == NULL) {
		snprintf(err, errlen, "curl_multi_init failed");
		goto fail;
	}
	curl_multi_setopt(loop->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
	curl_multi_setopt(loop->multi, CURLMOPT_SOCKETDATA, loop);
	curl_multi_setopt(loop->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(loop->multi, CURLMOPT_TIMERDATA, loop);
	return loop;
fail:
	if (loop->epfd >= 0)
		close(loop->epfd);
	free(loop);
	return NULL;
}

static void free_watches(watch_t **head)
{
	while (*head) {
		watch_t *w = *head;
		*head = w->next;
		free(w);
	}
}

void kube_loop_free(kube_loop_t *loop)
{
	if (loop == NULL)
		return;
	while (loop->pending_add) {
		struct kube_http *h = loop->pending_add;
		list_unlink(&loop->pending_add, h);
		http_free(h);
	}
	loop->pending_rm = NULL;
	while (loop->reqs) {
		struct kube_http *h = loop->reqs;
		list_unlink(&loop->reqs, h);
		if (h->in_multi)
			curl_multi_remove_handle(loop->multi, h->easy);
		http_free(h);
	}
	while (loop->timers) {
		kube_timer_t *t = loop->timers;
		loop->timers = t->next;
		free(t);
	}
	curl_multi_cleanup(loop->multi);
	free_watches(&loop->watches);
	free_watches(&loop->graveyard);
	close(loop->epfd);
	free(loop);
}

static void timer_link(kube_loop_t *loop, kube_timer_t *t)
{
	kube_timer_t **pp = &loop->timers;
	kube_timer_t *prev = NULL;
	while (*pp && (*pp)->deadline <= t->deadline) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	t->next = *pp;
	t->prev = prev;
	if (*pp)
		(*pp)->prev = t;
	*pp = t;
	t->linked = true;
}

static void timer_unlink(kube_loop_t *loop, kube_timer_t *t)
{
	if (!t->linked)
		return;
	if (t->prev)
		t->prev->next = t->next;
	else
		loop->timers = t->next;
	if (t->next)
		t->next->prev = t->prev;
	t->prev = NULL;
	t->next = NULL;
	t->linked = false;
}

kube_timer_t *kube_loop_timer_add(kube_loop_t *loop, int64_t delay_ms, kube_timer_cb cb, void *arg)
{
	kube_timer_t *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	t->deadline = base_now_ms() + (delay_ms > 0 ? delay_ms : 0);
	t->cb = cb;
	t->arg = arg;
	timer_link(loop, t);
	return t;
}

void kube_loop_timer_cancel(kube_loop_t *loop, kube_timer_t *t)
{
	if (t == NULL)
		return;
	if (loop->running_timer == t) {
		t->cancelled = true;
		return;
	}
	timer_unlink(loop, t);
	free(t);
}

int kube_loop_fd_add(kube_loop_t *loop, int fd, uint32_t events, kube_fd_cb cb, void *arg)
{
	struct epoll_event ev;
	watch_t *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return KUBE_ENOMEM;
	w->fd = fd;
	w->cb = cb;
	w->arg = arg;
	w->events = events;
	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.ptr = w;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
		free(w);
		return KUBE_EINVAL;
	}
	w->next = loop->watches;
	loop->watches = w;
	return 0;
}

void kube_loop_fd_del(kube_loop_t *loop, int fd)
{
	for (watch_t *w = loop->watches; w; w = w->next) {
		if (!w->curl && !w->dead && w->fd == fd) {
			epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
			w->dead = true;
			return;
		}
	}
}

static void reap_watches(kube_loop_t *loop)
{
	watch_t **pp = &loop->watches;
	while (*pp) {
		watch_t *w = *pp;
		if (w->dead) {
			*pp = w->next;
			free(w);
		} else {
			pp = &w->next;
		}
	}
}

static void run_timers(kube_loop_t *loop)
{
	int64_t now = base_now_ms();
	/* Only timers due at entry: one that re-arms with 0 runs next round. */
	int budget = 1024;

	if (loop->curl_deadline >= 0 && loop->curl_deadline <= now) {
		loop->curl_deadline = -1;
		curl_action(loop, CURL_SOCKET_TIMEOUT, 0);
	}
	while (loop->timers && loop->timers->deadline <= now && budget-- > 0) {
		kube_timer_t *t = loop->timers;
		int64_t next;
		timer_unlink(loop, t);
		loop->running_timer = t;
		next = t->cb(loop, t->arg);
		loop->running_timer = NULL;
		if (next < 0 || t->cancelled) {
			free(t);
			continue;
		}
		t->deadline = base_now_ms() + (next > 0 ? next : 1);
		timer_link(loop, t);
	}
}

int kube_loop_run_once(kube_loop_t *loop, int64_t max_wait_ms)
{
	struct epoll_event evs[64];
	int64_t now = base_now_ms();
	int64_t wait = max_wait_ms;
	int n;

	flush_pending(loop);
	if (loop->curl_deadline >= 0) {
		int64_t d = loop->curl_deadline - now;
		if (d < 0)
			d = 0;
		if (wait < 0 || d < wait)
			wait = d;
	}
	if (loop->timers) {
		int64_t d = loop->timers->deadline - now;
		if (d < 0)
			d = 0;
		if (wait < 0 || d < wait)
			wait = d;
	}
	if (wait > 60000 || wait < 0)
		wait = 60000;
	n = epoll_wait(loop->epfd, evs, 64, (int)wait);
	for (int i = 0; i < n; i++) {
		watch_t *w = evs[i].data.ptr;
		if (w->dead)
			continue;
		if (w->curl) {
			int flags = 0;
			if (evs[i].events & EPOLLIN)
				flags |= CURL_CSELECT_IN;
			if (evs[i].events & EPOLLOUT)
				flags |= CURL_CSELECT_OUT;
			if (evs[i].events & (EPOLLERR | EPOLLHUP))
				flags |= CURL_CSELECT_ERR;
			curl_action(loop, w->fd, flags);
		} else {
			w->cb(loop, w->fd, evs[i].events, w->arg);
		}
	}
	run_timers(loop);
	check_done(loop);
	flush_pending(loop);
	reap_watches(loop);
	int pending = loop->http_count;
	for (kube_timer_t *t = loop->timers; t; t = t->next)
		pending++;
	return pending;
}

void kube_loop_run(kube_loop_t *loop)
{
	loop->stop = false;
	while (!loop->stop)
		kube_loop_run_once(loop, -1);
}

void kube_loop_stop(kube_loop_t *loop)
{
	loop->stop = true;
}

int kube_loop_http_count(kube_loop_t *loop)
{
	return loop->http_count;
}

/* ---- HTTP requests ------------------------------------------------------ */

int kube_http_start(kube_loop_t *loop, const kube_http_opts_t *o, kube_http_done_cb done, void *arg,
                    kube_http_t **out)
{
	struct kube_http *h;
	struct curl_blob blob;

	if (out)
		*out = NULL;
	if (loop == NULL || o == NULL || o->url == NULL || done == NULL)
		return KUBE_EINVAL;
	h = calloc(1, sizeof(*h));
	if (h == NULL)
		return KUBE_ENOMEM;
	h->loop = loop;
	h->done = done;
	h->arg = arg;
	h->on_data = o->on_data;
	h->on_headers = o->on_headers;
	h->retry_after_ms = -1;
	base_buf_init(&h->buf, o->max_body ? o->max_body : DEFAULT_MAX_BODY);
	h->easy = curl_easy_init();
	if (h->easy == NULL)
		goto fail;
	for (const char *const *p = o->headers; p && *p; p++) {
		struct curl_slist *nl = curl_slist_append(h->hdrs, *p);
		if (nl == NULL)
			goto fail;
		h->hdrs = nl;
	}
	CURL *e = h->easy;
	curl_easy_setopt(e, CURLOPT_URL, o->url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, h);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, h->errbuf);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, h);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, h);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
	                 (long)(o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 10000));
	if (o->timeout_ms > 0)
		curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)o->timeout_ms);
	if (h->hdrs)
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, h->hdrs);
	if (o->method && strcmp(o->method, "GET") != 0)
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, o->method);
	if (o->body) {
		h->req_body = malloc(o->body_len + 1);
		if (h->req_body == NULL)
			goto fail;
		memcpy(h->req_body, o->body, o->body_len);
		h->req_body[o->body_len] = '\0';
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, h->req_body);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->body_len);
	}
	if (o->ca_file)
		curl_easy_setopt(e, CURLOPT_CAINFO, o->ca_file);
	if (o->ca_pem) {
		blob.data = (void *)o->ca_pem;
		blob.len = o->ca_pem_len;
		blob.flags = CURL_BLOB_COPY;
		curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &blob);
	}
	if (o->insecure) {
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (o->cert_file)
		curl_easy_setopt(e, CURLOPT_SSLCERT, o->cert_file);
	if (o->key_file)
		curl_easy_setopt(e, CURLOPT_SSLKEY, o->key_file);
	if (o->cert_pem) {
		blob.data = (void *)o->cert_pem;
		blob.len = o->cert_pem_len;
		blob.flags = CURL_BLOB_COPY;
		curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &blob);
		curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
	}
	if (o->key_pem) {
		blob.data = (void *)o->key_pem;
		blob.len = o->key_pem_len;
		blob.flags = CURL_BLOB_COPY;
		curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &blob);
		curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
	}
	loop->http_count++;
	if (loop->in_curl) {
		list_push(&loop->pending_add, h);
	} else {
		list_push(&loop->reqs, h);
		h->in_multi = true;
		if (curl_multi_add_handle(loop->multi, e) != CURLM_OK) {
			list_unlink(&loop->reqs, h);
			loop->http_count--;
			goto fail;
		}
	}
	if (out)
		*out = h;
	return 0;
fail:
	http_free(h);
	return KUBE_ENOMEM;
}

void kube_http_cancel(kube_http_t *h)
{
	kube_loop_t *loop;
	if (h == NULL || h->cancelled)
		return;
	loop = h->loop;
	h->cancelled = true;
	if (!h->in_multi) {
		/* Still queued (or refused by libcurl): nothing started. */
		for (struct kube_http *p = loop->pending_add; p; p = p->next) {
			if (p == h) {
				list_unlink(&loop->pending_add, h);
				loop->http_count--;
				http_free(h);
				return;
			}
		}
	}
	if (loop->in_curl) {
		h->rm_next = loop->pending_rm;
		loop->pending_rm = h;
		return;
	}
	if (h->in_multi)
		curl_multi_remove_handle(loop->multi, h->easy);
	list_unlink(&loop->reqs, h);
	loop->http_count--;
	http_free(h);
}

struct sync_get {
	bool done;
	int err;
	long status;
	char *body;
	size_t len;
	char msg[256];
};

static void sync_done(const kube_http_result_t *r, void *arg)
{
	struct sync_get *s = arg;
	s->done = true;
	s->err = r->err;
	s->status = r->status;
	snprintf(s->msg, sizeof(s->msg), "%s", r->errmsg ? r->errmsg : "");
	s->body = malloc(r->body_len + 1);
	if (s->body) {
		memcpy(s->body, r->body, r->body_len);
		s->body[r->body_len] = '\0';
		s->len = r->body_len;
	}
}

int kube_http_get_sync(kube_loop_t *loop, const kube_http_opts_t *o, long *status, char **body,
                       size_t *body_len, char *err, size_t errlen)
{
	struct sync_get s;
	int rc;

	memset(&s, 0, sizeof(s));
	rc = kube_http_start(loop, o, sync_done, &s, NULL);
	if (rc != 0) {
		snprintf(err, errlen, "%s", kube_strerror(rc));
		return rc;
	}
	while (!s.done)
		kube_loop_run_once(loop, 1000);
	if (status)
		*status = s.status;
	if (body)
		*body = s.body;
	else
		free(s.body);
	if (body_len)
		*body_len = s.len;
	if (s.err)
		snprintf(err, errlen, "%s", s.msg);
	return s.err;
}

#include "svcproxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "kubeapi/kubeapi.h"
#include "podenv.h"

#define MAX_BACKENDS 256

typedef struct {
	uint32_t ip;
	int port;
} backend_t;

typedef struct lsn {
	struct lsn *next;
	char key[400]; /* ns/name/port */
	uint32_t ip;
	int port;
	int fd;         /* -1 when the bind failed */
	bool listening; /* fd listens (only while a ready endpoint exists) */
	bool seen;      /* kept by the last sync */
	bool reported;  /* bind failure reported */
	backend_t be[MAX_BACKENDS];
	int nbe;
	unsigned rr;
} lsn_t;

typedef struct relay {
	struct relay *next;
	int a, b;
} relay_t;

struct ks_svcproxy {
	ks_store_t *st;
	ks_ipam_t *ips;
	int sub_s, sub_p;
	pthread_mutex_t mu;
	lsn_t *lsn;
	relay_t *relays;
	int wake[2];
	pthread_t thr;
	bool thr_ok;
	atomic_bool stop;
	atomic_int nrelays;
};

static const char *pstr(const cJSON *o, const char *path)
{
	return cJSON_GetStringValue(kubeapi_get_path(o, path));
}

static unsigned alloc_cluster_ip(void *ud)
{
	ks_svcproxy_t *p = ud;
	return ks_ipam_alloc(p->ips);
}

static void poke(ks_svcproxy_t *p)
{
	char c = 1;
	ssize_t w = write(p->wake[1], &c, 1);
	(void)w;
}

/* ---- relays -------------------------------------------------------------- */

typedef struct {
	ks_svcproxy_t *p;
	relay_t *r;
	backend_t be;
} relay_arg_t;

static int connect_to(backend_t be)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)be.port);
	sa.sin_addr.s_addr = htonl(be.ip);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void *relay_thread(void *arg)
{
	relay_arg_t *ra = arg;
	ks_svcproxy_t *p = ra->p;
	relay_t *r = ra->r;
	char buf[16384];
	bool open_a = true, open_b = true;
	free(ra);
	while (open_a || open_b) {
		struct pollfd pf[2] = {{r->a, open_a ? POLLIN : 0, 0},
		                       {r->b, open_b ? POLLIN : 0, 0}};
		if (poll(pf, 2, 1000) < 0 && errno != EINTR)
			break;
		if (atomic_load(&p->stop))
			break;
		for (int i = 0; i < 2; i++) {
			if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			int from = i == 0 ? r->a : r->b, to = i == 0 ? r->b : r->a;
			ssize_t n = read(from, buf, sizeof(buf));
			if (n <= 0) {
				shutdown(to, SHUT_WR);
				if (i == 0)
					open_a = false;
				else
					open_b = false;
				if (n < 0) {
					open_a = open_b = false;
				}
				continue;
			}
			for (ssize_t off = 0; off < n;) {
				ssize_t w = send(to, buf + off, (size_t)(n - off), MSG_NOSIGNAL);
				if (w <= 0) {
					open_a = open_b = false;
					break;
				}
				off += w;
			}
		}
	}
	pthread_mutex_lock(&p->mu);
	for (relay_t **pp = &p->relays; *pp; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	}
	close(r->a);
	close(r->b);
	free(r);
	pthread_mutex_unlock(&p->mu);
	atomic_fetch_sub(&p->nrelays, 1);
	return NULL;
}

static void accept_one(ks_svcproxy_t *p, int lfd)
{
	int c = -1;
	backend_t be = {0, 0};
	bool have = false;
	/* Under the lock: the main loop may have closed this listener. */
	pthread_mutex_lock(&p->mu);
	for (lsn_t *l = p->lsn; l; l = l->next) {
		if (l->fd != lfd)
			continue;
		c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (c >= 0 && l->nbe > 0) {
			be = l->be[l->rr++ % (unsigned)l->nbe];
			have = true;
		}
		break;
	}
	pthread_mutex_unlock(&p->mu);
	if (c < 0)
		return;
	int b = have ? connect_to(be) : -1;
	if (b < 0) {
		/* The endpoint refused (it stopped between two syncs): reset the
		 * client, as the DNAT'ed connection to the pod would have been. */
		struct linger lg = {1, 0};
		setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(c);
		return;
	}
	relay_t *r = calloc(1, sizeof(*r));
	relay_arg_t *ra = calloc(1, sizeof(*ra));
	pthread_t t;
	pthread_attr_t at;
	if (!r || !ra) {
		free(r);
		free(ra);
		close(c);
		close(b);
		return;
	}
	r->a = c;
	r->b = b;
	ra->p = p;
	ra->r = r;
	pthread_mutex_lock(&p->mu);
	r->next = p->relays;
	p->relays = r;
	pthread_mutex_unlock(&p->mu);
	atomic_fetch_add(&p->nrelays, 1);
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &at, relay_thread, ra) != 0) {
		pthread_mutex_lock(&p->mu);
		for (relay_t **pp = &p->relays; *pp; pp = &(*pp)->next) {
			if (*pp == r) {
				*pp = r->next;
				break;
			}
		}
		pthread_mutex_unlock(&p->mu);
		atomic_fetch_sub(&p->nrelays, 1);
		close(c);
		close(b);
		free(r);
		free(ra);
	}
	pthread_attr_destroy(&at);
}

static void *proxy_thread(void *arg)
{
	ks_svcproxy_t *p = arg;
	struct pollfd pf[1025];
	while (!atomic_load(&p->stop)) {
		int n = 0;
		pf[n++] = (struct pollfd){p->wake[0], POLLIN, 0};
		pthread_mutex_lock(&p->mu);
		for (lsn_t *l = p->lsn; l && n < 1025; l = l->next) {
			if (l->fd >= 0 && l->listening)
				pf[n++] = (struct pollfd){l->fd, POLLIN, 0};
		}
		pthread_mutex_unlock(&p->mu);
		if (poll(pf, (nfds_t)n, 1000) <= 0)
			continue;
		if (pf[0].revents) {
			char b[64];
			ssize_t r = read(p->wake[0], b, sizeof(b));
			(void)r;
			continue; /* the listener set may have changed */
		}
		for (int i = 1; i < n; i++) {
			if (pf[i].revents & POLLIN)
				accept_one(p, pf[i].fd);
		}
	}
	return NULL;
}

/* ---- endpoints ----------------------------------------------------------- */

static bool pod_ready(const cJSON *pod)
{
	const cJSON *c;
	cJSON_ArrayForEach(c, kubeapi_get_path(pod, "status.conditions"))
	{
		if (strcmp(pstr(c, "type") ?: "", "Ready") == 0)
			return strcmp(pstr(c, "status") ?: "", "True") == 0;
	}
	return false;
}

static int resolve_target(const cJSON *sp, const cJSON *pod)
{
	const cJSON *tp = cJSON_GetObjectItemCaseSensitive(sp, "targetPort");
	if (!tp)
		tp = cJSON_GetObjectItemCaseSensitive(sp, "port");
	if (cJSON_IsNumber(tp))
		return (int)tp->valuedouble;
	if (!cJSON_IsString(tp))
		return -1;
	char *end;
	long v = strtol(tp->valuestring, &end, 10);
	if (!*end && v > 0 && v < 65536)
		return (int)v;
	const cJSON *c, *cp;
	cJSON_ArrayForEach(c, kubeapi_get_path(pod, "spec.containers"))
	{
		cJSON_ArrayForEach(cp, cJSON_GetObjectItemCaseSensitive(c, "ports"))
		{
			if (strcmp(pstr(cp, "name") ?: "", tp->valuestring) == 0)
				return (int)cJSON_GetNumberValue(
				        cJSON_GetObjectItemCaseSensitive(cp, "containerPort"));
		}
	}
	return -1;
}

static void report_bind(ks_svcproxy_t *p, const cJSON *svc, const char *msg)
{
	const char *ns = pstr(svc, "metadata.namespace"), *name = pstr(svc, "metadata.name");
	char ts[40], evname[300];
	cJSON *ev = cJSON_CreateObject();
	ks_err_t e;
	base_log(BASE_LOG_ERROR, "service-bind-failed", "service", name, "namespace", ns, "error",
	         msg, (char *)NULL);
	ks_timestamp(ts, sizeof(ts));
	ks_fmt(evname, sizeof(evname), "%s.%llx", name, (unsigned long long)base_wall_ms());
	cJSON *md = cJSON_AddObjectToObject(ev, "metadata");
	cJSON_AddStringToObject(md, "name", evname);
	cJSON *io = cJSON_AddObjectToObject(ev, "involvedObject");
	cJSON_AddStringToObject(io, "kind", "Service");
	cJSON_AddStringToObject(io, "namespace", ns);
	cJSON_AddStringToObject(io, "name", name);
	cJSON_AddStringToObject(io, "uid", pstr(svc, "metadata.uid") ?: "");
	cJSON_AddStringToObject(io, "apiVersion", "v1");
	cJSON_AddStringToObject(ev, "reason", "FailedToBind");
	cJSON_AddStringToObject(ev, "message", msg);
	cJSON_AddStringToObject(ev, "type", "Warning");
	cJSON_AddNumberToObject(ev, "count", 1);
	cJSON_AddStringToObject(ev, "firstTimestamp", ts);
	cJSON_AddStringToObject(ev, "lastTimestamp", ts);
	cJSON *src = cJSON_AddObjectToObject(ev, "source");
	cJSON_AddStringToObject(src, "component", "kube-proxy");
	ks_store_create(p->st, ks_rtype_find("", "v1", "events"), ns, ev, 0, NULL, &e);
	cJSON_Delete(ev);
}

static int open_listener(uint32_t ip, int port, char *err, size_t cap)
{
	struct sockaddr_in sa;
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		ks_fmt(err, cap, "socket: %s", strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(ip);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 512) != 0) {
		char ips[20];
		ks_fmt(err, cap, "cannot listen on %s:%d: %s%s", ks_ip_str(ip, ips, sizeof(ips)),
		       port, strerror(errno),
		       errno == EACCES ? " (ports below 1024 need root)" : "");
		close(fd);
		return -1;
	}
	return fd;
}

/* Recomputes Endpoints and proxy backends of one Service. */
static void sync_service(ks_svcproxy_t *p, const cJSON *svc)
{
	const char *ns = pstr(svc, "metadata.namespace"), *name = pstr(svc, "metadata.name");
	const cJSON *selobj = kubeapi_get_path(svc, "spec.selector");
	const cJSON *ports = kubeapi_get_path(svc, "spec.ports");
	uint32_t cip = ks_ip_parse(pstr(svc, "spec.clusterIP"));
	if (!ns || !name)
		return;
	if (cip)
		ks_ipam_reserve(p->ips, cip);
	if (!cJSON_IsObject(selobj) || cJSON_GetArraySize(selobj) == 0)
		return; /* Endpoints of selector-less Services are managed by users */

	/* Selector from the map. */
	cJSON *ls = cJSON_CreateObject();
	cJSON_AddItemToObject(ls, "matchLabels", cJSON_Duplicate(selobj, 1));
	kubeapi_selector_t *sel = NULL;
	char err[256];
	int rc = kubeapi_selector_from_json(ls, &sel, err, sizeof(err));
	cJSON_Delete(ls);
	if (rc)
		return;
	cJSON *items = NULL;
	uint64_t rv;
	char cont[8];
	long rest;
	ks_err_t e;
	rc = ks_store_list(p->st, ks_rtype_find("", "v1", "pods"), ns, sel, NULL, 0, NULL, &items,
	                   &rv, cont, sizeof(cont), &rest, &e);
	kubeapi_selector_free(sel);
	if (rc)
		return;

	/* subsets grouped by resolved port list */
	cJSON *subsets = cJSON_CreateArray();
	const cJSON *pod;
	cJSON_ArrayForEach(pod, items)
	{
		const char *ip = pstr(pod, "status.podIP");
		const char *phase = pstr(pod, "status.phase") ?: "";
		if (!ip || !*ip || kubeapi_get_path(pod, "metadata.deletionTimestamp") ||
		    strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0)
			continue;
		cJSON *plist = cJSON_CreateArray();
		const cJSON *sp;
		bool all = true;
		cJSON_ArrayForEach(sp, ports)
		{
			int tp = resolve_target(sp, pod);
			if (tp <= 0) {
				all = false;
				continue;
			}
			cJSON *o = cJSON_CreateObject();
			if (pstr(sp, "name"))
				cJSON_AddStringToObject(o, "name", pstr(sp, "name"));
			cJSON_AddNumberToObject(o, "port", tp);
			cJSON_AddStringToObject(o, "protocol", pstr(sp, "protocol") ?: "TCP");
			cJSON_AddItemToArray(plist, o);
		}
		(void)all;
		if (cJSON_GetArraySize(plist) == 0) {
			cJSON_Delete(plist);
			continue;
		}
		cJSON *addr = cJSON_CreateObject();
		cJSON_AddStringToObject(addr, "ip", ip);
		if (pstr(pod, "spec.nodeName"))
			cJSON_AddStringToObject(addr, "nodeName", pstr(pod, "spec.nodeName"));
		cJSON *tr = cJSON_AddObjectToObject(addr, "targetRef");
		cJSON_AddStringToObject(tr, "kind", "Pod");
		cJSON_AddStringToObject(tr, "namespace", ns);
		cJSON_AddStringToObject(tr, "name", pstr(pod, "metadata.name") ?: "");
		cJSON_AddStringToObject(tr, "uid", pstr(pod, "metadata.uid") ?: "");
		const char *which = pod_ready(pod) ? "addresses" : "notReadyAddresses";
		cJSON *ss, *found = NULL;
		cJSON_ArrayForEach(ss, subsets)
		{
			if (cJSON_Compare(cJSON_GetObjectItemCaseSensitive(ss, "ports"), plist,
			                  true))
				found = ss;
		}
		if (!found) {
			found = cJSON_CreateObject();
			cJSON_AddItemToObject(found, "ports", plist);
			cJSON_AddItemToArray(subsets, found);
		} else {
			cJSON_Delete(plist);
		}
		cJSON *arr = cJSON_GetObjectItemCaseSensitive(found, which);
		if (!arr)
			arr = cJSON_AddArrayToObject(found, which);
		cJSON_AddItemToArray(arr, addr);
	}
	cJSON_Delete(items);

	/* Store the Endpoints when they changed. */
	const ks_rtype_t *ert = ks_rtype_find("", "v1", "endpoints");
	cJSON *cur = NULL;
	bool exists = ks_store_get(p->st, ert, ns, name, &cur, &e) == 0;
	const cJSON *cs = cJSON_GetObjectItemCaseSensitive(cur, "subsets");
	bool same = exists && ((cJSON_GetArraySize(subsets) == 0 && cJSON_GetArraySize(cs) == 0) ||
	                       (cs && cJSON_Compare(cs, subsets, true)));
	if (!same) {
		cJSON *ep = exists ? cJSON_Duplicate(cur, 1) : cJSON_CreateObject();
		if (!exists) {
			cJSON *md = cJSON_AddObjectToObject(ep, "metadata");
			cJSON_AddStringToObject(md, "name", name);
			cJSON_AddStringToObject(md, "namespace", ns);
			cJSON *lb = cJSON_AddObjectToObject(md, "labels");
			cJSON_AddStringToObject(lb, "endpoints.kubernetes.io/managed-by",
			                        "endpoint-controller");
		}
		cJSON_DeleteItemFromObjectCaseSensitive(ep, "subsets");
		cJSON_AddItemToObject(ep, "subsets", cJSON_Duplicate(subsets, 1));
		if (exists)
			ks_store_update(p->st, ert, ns, name, ep, KS_W_MAIN, NULL, &e);
		else
			ks_store_create(p->st, ert, ns, ep, 0, NULL, &e);
		cJSON_Delete(ep);
	}
	cJSON_Delete(cur);

	/* Proxy listeners: one per service port. */
	const cJSON *sp;
	const char *type = pstr(svc, "spec.type") ?: "ClusterIP";
	if (!cip || strcmp(type, "ExternalName") == 0) {
		cJSON_Delete(subsets);
		return;
	}
	cJSON_ArrayForEach(sp, ports)
	{
		int port = (int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(sp, "port"));
		if (strcmp(pstr(sp, "protocol") ?: "TCP", "TCP") != 0)
			continue;
		char key[400];
		ks_fmt(key, sizeof(key), "%s/%s/%u/%d", ns, name, cip, port);
		backend_t be[MAX_BACKENDS];
		int nbe = 0;
		const cJSON *ss;
		cJSON_ArrayForEach(ss, subsets)
		{
			int tport = -1;
			const cJSON *pp;
			cJSON_ArrayForEach(pp, cJSON_GetObjectItemCaseSensitive(ss, "ports"))
			{
				const char *pn = pstr(pp, "name"), *sn = pstr(sp, "name");
				if ((!pn && !sn) || (pn && sn && strcmp(pn, sn) == 0))
					tport = (int)cJSON_GetNumberValue(
					        cJSON_GetObjectItemCaseSensitive(pp, "port"));
			}
			const cJSON *a;
			cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(ss, "addresses"))
			{
				if (tport > 0 && nbe < MAX_BACKENDS)
					be[nbe++] = (backend_t){ks_ip_parse(pstr(a, "ip")), tport};
			}
		}
		pthread_mutex_lock(&p->mu);
		lsn_t *l;
		for (l = p->lsn; l; l = l->next) {
			if (strcmp(l->key, key) == 0)
				break;
		}
		if (!l) {
			l = calloc(1, sizeof(*l));
			if (l) {
				ks_fmt(l->key, sizeof(l->key), "%s", key);
				l->ip = cip;
				l->port = port;
				l->fd = -1;
				l->next = p->lsn;
				p->lsn = l;
			}
		}
		char berr[256] = "";
		bool report = false;
		if (l) {
			l->seen = true;
			/* Listen only while a ready endpoint exists: a connection to
			 * a Service without one is refused at connect, as kube-proxy's
			 * REJECT rule does, not accepted and then closed (a client
			 * would take that for a peer that closed it, e.g. a pool that
			 * keeps the connection as open). The socket stays bound and
			 * stops listening with shutdown(SHUT_RD) (Linux), so no other
			 * socket takes the address and listen() resumes it. */
			if (l->fd >= 0 && nbe == 0 && l->listening) {
				shutdown(l->fd, SHUT_RD);
				l->listening = false;
			} else if (l->fd >= 0 && nbe > 0 && !l->listening) {
				if (listen(l->fd, 512) == 0) {
					l->listening = true;
				} else {
					close(l->fd);
					l->fd = -1;
				}
			}
			if (l->fd < 0 && nbe > 0) {
				l->fd = open_listener(cip, port, berr, sizeof(berr));
				l->listening = l->fd >= 0;
				if (l->fd < 0 && !l->reported) {
					l->reported = true;
					report = true;
				}
			}
			memcpy(l->be, be, sizeof(be[0]) * (size_t)nbe);
			l->nbe = nbe;
		}
		pthread_mutex_unlock(&p->mu);
		if (report) {
			char msg[400];
			ks_fmt(msg, sizeof(msg), "service port %d: %s", port, berr);
			report_bind(p, svc, msg);
		}
	}
	cJSON_Delete(subsets);
	poke(p);
}

/* Drops listeners of a Service (all when svc_prefix is NULL). */
static void drop_listeners(ks_svcproxy_t *p, const char *prefix)
{
	pthread_mutex_lock(&p->mu);
	for (lsn_t **pp = &p->lsn; *pp;) {
		lsn_t *l = *pp;
		if (!prefix || strncmp(l->key, prefix, strlen(prefix)) == 0) {
			*pp = l->next;
			if (l->fd >= 0)
				close(l->fd);
			free(l);
		} else {
			pp = &l->next;
		}
	}
	pthread_mutex_unlock(&p->mu);
	poke(p);
}

static void sync_ns(ks_svcproxy_t *p, const char *ns)
{
	cJSON *items = NULL;
	uint64_t rv;
	char cont[8];
	long rest;
	ks_err_t e;
	if (ks_store_list(p->st, ks_rtype_find("", "v1", "services"), ns, NULL, NULL, 0, NULL,
	                  &items, &rv, cont, sizeof(cont), &rest, &e))
		return;
	const cJSON *s;
	cJSON_ArrayForEach(s, items) sync_service(p, s);
	cJSON_Delete(items);
}

static void on_service(void *ud, ks_ev_type_t type, const ks_rtype_t *rt, const cJSON *obj,
                       const cJSON *old)
{
	ks_svcproxy_t *p = ud;
	(void)rt;
	if (type == KS_EV_RESYNC) {
		sync_ns(p, NULL);
		return;
	}
	const char *ns = pstr(obj, "metadata.namespace"), *name = pstr(obj, "metadata.name");
	char prefix[400];
	ks_fmt(prefix, sizeof(prefix), "%s/%s/", ns ? ns : "", name ? name : "");
	if (type == KS_EV_DELETED) {
		drop_listeners(p, prefix);
		uint32_t ip = ks_ip_parse(pstr(obj, "spec.clusterIP"));
		if (ip)
			ks_ipam_release(p->ips, ip);
		ks_err_t e;
		ks_store_delete(p->st, ks_rtype_find("", "v1", "endpoints"), ns, name, NULL, NULL,
		                KS_DEL_FORCE, NULL, &e);
		return;
	}
	if (old && !cJSON_Compare(kubeapi_get_path(old, "spec.ports"),
	                          kubeapi_get_path(obj, "spec.ports"), true))
		drop_listeners(p, prefix);
	sync_service(p, obj);
}

static void on_pod(void *ud, ks_ev_type_t type, const ks_rtype_t *rt, const cJSON *obj,
                   const cJSON *old)
{
	ks_svcproxy_t *p = ud;
	(void)rt;
	(void)old;
	if (type == KS_EV_RESYNC) {
		sync_ns(p, NULL);
		return;
	}
	/* Only what Endpoints show matters: IP, readiness, deletion, labels. */
	if (old && type == KS_EV_MODIFIED &&
	    strcmp(pstr(old, "status.podIP") ?: "", pstr(obj, "status.podIP") ?: "") == 0 &&
	    pod_ready(old) == pod_ready(obj) &&
	    !kubeapi_get_path(old, "metadata.deletionTimestamp") ==
	            !kubeapi_get_path(obj, "metadata.deletionTimestamp") &&
	    cJSON_Compare(kubeapi_get_path(old, "metadata.labels"),
	                  kubeapi_get_path(obj, "metadata.labels"), true) &&
	    strcmp(pstr(old, "status.phase") ?: "", pstr(obj, "status.phase") ?: "") == 0)
		return;
	sync_ns(p, pstr(obj, "metadata.namespace"));
}

ks_svcproxy_t *ks_svcproxy_new(ks_store_t *st, ks_ipam_t *ips, char *err, size_t errlen)
{
	ks_svcproxy_t *p = calloc(1, sizeof(*p));
	if (!p) {
		ks_fmt(err, errlen, "out of memory");
		return NULL;
	}
	p->st = st;
	p->ips = ips;
	p->sub_s = p->sub_p = -1;
	p->wake[0] = p->wake[1] = -1;
	pthread_mutex_init(&p->mu, NULL);
	atomic_init(&p->stop, false);
	atomic_init(&p->nrelays, 0);
	if (pipe2(p->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
		ks_fmt(err, errlen, "pipe: %s", strerror(errno));
		goto fail;
	}
	ks_store_set_ip_alloc(st, alloc_cluster_ip, p);
	p->sub_s = ks_store_subscribe(st, ks_rtype_find("", "v1", "services"), on_service, p);
	p->sub_p = ks_store_subscribe(st, ks_rtype_find("", "v1", "pods"), on_pod, p);
	if (p->sub_s < 0 || p->sub_p < 0) {
		ks_fmt(err, errlen, "cannot subscribe to the store");
		goto fail;
	}
	if (pthread_create(&p->thr, NULL, proxy_thread, p) != 0) {
		ks_fmt(err, errlen, "cannot start the proxy thread");
		goto fail;
	}
	p->thr_ok = true;
	sync_ns(p, NULL);
	return p;
fail:
	ks_svcproxy_free(p);
	return NULL;
}

void ks_svcproxy_free(ks_svcproxy_t *p)
{
	if (!p)
		return;
	ks_store_set_ip_alloc(p->st, NULL, NULL);
	if (p->sub_s >= 0)
		ks_store_unsubscribe(p->st, p->sub_s);
	if (p->sub_p >= 0)
		ks_store_unsubscribe(p->st, p->sub_p);
	atomic_store(&p->stop, true);
	if (p->thr_ok) {
		poke(p);
		pthread_join(p->thr, NULL);
	}
	/* Relays notice `stop` within a second; shut their sockets to hurry them. */
	pthread_mutex_lock(&p->mu);
	for (relay_t *r = p->relays; r; r = r->next) {
		shutdown(r->a, SHUT_RDWR);
		shutdown(r->b, SHUT_RDWR);
	}
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < 300 && atomic_load(&p->nrelays) > 0; i++)
		base_sleep_ms(10);
	drop_listeners(p, NULL);
	if (p->wake[0] >= 0)
		close(p->wake[0]);
	if (p->wake[1] >= 0)
		close(p->wake[1]);
	if (atomic_load(&p->nrelays) == 0) {
		pthread_mutex_destroy(&p->mu);
		free(p);
	}
	/* else: a relay thread still holds p; leaking it at exit is safer than a use after free */
}

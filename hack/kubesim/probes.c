#include "probes.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/clock.h"
#include "podenv.h"

typedef enum { P_HTTP, P_TCP, P_EXEC, P_UNSUPPORTED } kind_t;

struct ks_probe {
	atomic_int refs;
	kind_t kind;
	char url[1024];
	char host[64];
	int port;
	struct curl_slist *headers;
	char **argv, **envp;
	int64_t initial_ms, period_ms, timeout_ms;
	int success_th, failure_th;
	/* owner state */
	int64_t next_ms;
	int succ, fail;
	ks_probe_result_t verdict;
	bool in_flight;
	/* written by the check thread */
	atomic_bool done;
	bool ok;
	char msg[256];
	char last_msg[256];
};

static char **copy_vec(char *const *v)
{
	size_t n = 0;
	if (!v)
		return NULL;
	while (v[n])
		n++;
	char **o = calloc(n + 1, sizeof(char *));
	for (size_t i = 0; o && i < n; i++)
		o[i] = strdup(v[i]);
	return o;
}

static void free_vec(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

static void unref(ks_probe_t *p)
{
	if (atomic_fetch_sub(&p->refs, 1) != 1)
		return;
	curl_slist_free_all(p->headers);
	free_vec(p->argv);
	free_vec(p->envp);
	free(p);
}

static int num(const cJSON *spec, const char *k, int dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(spec, k);
	return cJSON_IsNumber(v) && v->valuedouble >= 0 ? (int)v->valuedouble : dflt;
}

/* Resolves a port (number or name) against the container's ports. */
static int resolve_port(const cJSON *port, const cJSON *container)
{
	if (cJSON_IsNumber(port))
		return (int)port->valuedouble;
	if (!cJSON_IsString(port))
		return -1;
	const cJSON *p;
	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(container, "ports"))
	{
		const char *n = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "name"));
		const cJSON *cp = cJSON_GetObjectItemCaseSensitive(p, "containerPort");
		if (n && strcmp(n, port->valuestring) == 0 && cJSON_IsNumber(cp))
			return (int)cp->valuedouble;
	}
	char *end;
	long v = strtol(port->valuestring, &end, 10);
	return *end || v < 1 || v > 65535 ? -1 : (int)v;
}

ks_probe_t *ks_probe_new(const cJSON *spec, const cJSON *container, const char *ip,
                         char *const *exec_argv, char *const *envp, char *err, size_t errlen)
{
	ks_probe_t *p = calloc(1, sizeof(*p));
	const cJSON *h;
	if (!p) {
		ks_fmt(err, errlen, "out of memory");
		return NULL;
	}
	atomic_init(&p->refs, 1);
	atomic_init(&p->done, false);
	p->initial_ms = (int64_t)num(spec, "initialDelaySeconds", 0) * 1000;
	p->period_ms = (int64_t)num(spec, "periodSeconds", 10) * 1000;
	p->timeout_ms = (int64_t)num(spec, "timeoutSeconds", 1) * 1000;
	p->success_th = num(spec, "successThreshold", 1);
	p->failure_th = num(spec, "failureThreshold", 3);
	if (p->period_ms < 1000)
		p->period_ms = 1000;
	if (p->timeout_ms < 1000)
		p->timeout_ms = 1000;
	if (p->success_th < 1)
		p->success_th = 1;
	if (p->failure_th < 1)
		p->failure_th = 1;
	if ((h = cJSON_GetObjectItemCaseSensitive(spec, "httpGet"))) {
		const char *path =
		        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(h, "path"));
		const char *host =
		        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(h, "host"));
		const char *scheme =
		        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(h, "scheme"));
		int port = resolve_port(cJSON_GetObjectItemCaseSensitive(h, "port"), container);
		if (port < 1 || port > 65535) {
			ks_fmt(err, errlen, "httpGet probe: port does not resolve");
			goto fail;
		}
		p->kind = P_HTTP;
		ks_fmt(p->url, sizeof(p->url), "%s://%s:%d%s%s",
		       scheme && strcmp(scheme, "HTTPS") == 0 ? "https" : "http",
		       host && *host ? host : ip, port, path && path[0] == '/' ? "" : "/",
		       path ? path : "");
		const cJSON *hh;
		p->headers = curl_slist_append(NULL, "User-Agent: kube-probe/1.32");
		cJSON_ArrayForEach(hh, cJSON_GetObjectItemCaseSensitive(h, "httpHeaders"))
		{
			char line[512];
			ks_fmt(line, sizeof(line), "%s: %s",
			       cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(hh, "name"))
			               ?: "X",
			       cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(hh, "value"))
			               ?: "");
			p->headers = curl_slist_append(p->headers, line);
		}
	} else if ((h = cJSON_GetObjectItemCaseSensitive(spec, "tcpSocket"))) {
		const char *host =
		        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(h, "host"));
		p->kind = P_TCP;
		p->port = resolve_port(cJSON_GetObjectItemCaseSensitive(h, "port"), container);
		ks_fmt(p->host, sizeof(p->host), "%s", host && *host ? host : ip);
		if (p->port < 1 || p->port > 65535) {
			ks_fmt(err, errlen, "tcpSocket probe: port does not resolve");
			goto fail;
		}
	} else if ((h = cJSON_GetObjectItemCaseSensitive(spec, "exec"))) {
		p->kind = P_EXEC;
		if (!exec_argv || !exec_argv[0]) {
			ks_fmt(err, errlen, "exec probe: command not found");
			goto fail;
		}
		p->argv = copy_vec(exec_argv);
		p->envp = copy_vec(envp);
	} else {
		p->kind = P_UNSUPPORTED;
	}
	return p;
fail:
	unref(p);
	return NULL;
}

static bool check_http(ks_probe_t *p, char *msg, size_t cap)
{
	CURL *c = curl_easy_init();
	char eb[CURL_ERROR_SIZE] = "";
	long code = 0;
	if (!c) {
		ks_fmt(msg, cap, "out of memory");
		return false;
	}
	curl_easy_setopt(c, CURLOPT_URL, p->url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, p->headers);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)p->timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, eb);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_RANGE, "0-10239"); /* kubelet reads at most 10 KiB */
	FILE *null = fopen("/dev/null", "w");
	curl_easy_setopt(c, CURLOPT_WRITEDATA, null);
	CURLcode rc = curl_easy_perform(c);
	if (null)
		fclose(null);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(c);
	if (rc != CURLE_OK) {
		ks_fmt(msg, cap, "Get \"%s\": %s", p->url, eb[0] ? eb : curl_easy_strerror(rc));
		return false;
	}
	if (code < 200 || code >= 400) {
		ks_fmt(msg, cap, "HTTP probe failed with statuscode: %ld", code);
		return false;
	}
	return true;
}

static bool check_tcp(ks_probe_t *p, char *msg, size_t cap)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	bool ok = false;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)p->port);
	if (fd < 0 || inet_pton(AF_INET, p->host, &sa.sin_addr) != 1) {
		ks_fmt(msg, cap, "dial tcp %s:%d: bad address", p->host, p->port);
		if (fd >= 0)
			close(fd);
		return false;
	}
	int rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	if (rc == 0) {
		ok = true;
	} else if (errno == EINPROGRESS) {
		struct pollfd pf = {fd, POLLOUT, 0};
		if (poll(&pf, 1, (int)p->timeout_ms) == 1) {
			int e = 0;
			socklen_t l = sizeof(e);
			getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &l);
			ok = e == 0;
			if (!ok)
				ks_fmt(msg, cap, "dial tcp %s:%d: connect: %s", p->host, p->port,
				       strerror(e));
		} else {
			ks_fmt(msg, cap, "dial tcp %s:%d: i/o timeout", p->host, p->port);
		}
	} else {
		ks_fmt(msg, cap, "dial tcp %s:%d: connect: %s", p->host, p->port, strerror(errno));
	}
	close(fd);
	return ok;
}

static bool check_exec(ks_probe_t *p, char *msg, size_t cap)
{
	posix_spawnattr_t at;
	posix_spawn_file_actions_t fa;
	sigset_t none, def;
	pid_t pid;
	int status = 0;
	posix_spawnattr_init(&at);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	sigemptyset(&none);
	sigemptyset(&def);
	sigaddset(&def, SIGPIPE);
	sigaddset(&def, SIGTERM);
	sigaddset(&def, SIGINT);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &def);
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
	                                      POSIX_SPAWN_SETPGROUP);
	int rc = posix_spawn(&pid, p->argv[0], &fa, &at, p->argv, p->envp);
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0) {
		ks_fmt(msg, cap, "exec %s: %s", p->argv[0], strerror(rc));
		return false;
	}
	int64_t deadline = base_now_ms() + p->timeout_ms;
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			break;
		if (base_now_ms() >= deadline) {
			kill(-pid, SIGKILL);
			waitpid(pid, &status, 0);
			ks_fmt(msg, cap, "command timed out after %llds",
			       (long long)(p->timeout_ms / 1000));
			return false;
		}
		base_sleep_ms(20);
	}
	kill(-pid, SIGKILL); /* anything it left in its group */
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return true;
	ks_fmt(msg, cap, "command exited with %d",
	       WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	return false;
}

static void *check_thread(void *arg)
{
	ks_probe_t *p = arg;
	char msg[256] = "";
	bool ok;
	switch (p->kind) {
	case P_HTTP:
		ok = check_http(p, msg, sizeof(msg));
		break;
	case P_TCP:
		ok = check_tcp(p, msg, sizeof(msg));
		break;
	case P_EXEC:
		ok = check_exec(p, msg, sizeof(msg));
		break;
	default:
		ok = false;
		ks_fmt(msg, sizeof(msg), "probe type not supported by kubesim (grpc)");
		break;
	}
	p->ok = ok;
	memcpy(p->msg, msg, sizeof(msg));
	atomic_store(&p->done, true);
	unref(p);
	return NULL;
}

void ks_probe_reset(ks_probe_t *p, int64_t now_ms)
{
	p->succ = p->fail = 0;
	p->verdict = KS_PROBE_UNKNOWN;
	p->next_ms = now_ms + p->initial_ms;
	p->last_msg[0] = '\0';
	if (p->in_flight && atomic_load(&p->done))
		p->in_flight = false; /* a result from the previous run is dropped */
}

ks_probe_result_t ks_probe_tick(ks_probe_t *p, int64_t now_ms)
{
	if (p->in_flight && atomic_load(&p->done)) {
		p->in_flight = false;
		if (p->ok) {
			p->fail = 0;
			if (++p->succ >= p->success_th)
				p->verdict = KS_PROBE_SUCCESS;
		} else {
			p->succ = 0;
			ks_fmt(p->last_msg, sizeof(p->last_msg), "%s", p->msg);
			if (++p->fail >= p->failure_th)
				p->verdict = KS_PROBE_FAILURE;
		}
	}
	if (!p->in_flight && now_ms >= p->next_ms) {
		pthread_t t;
		pthread_attr_t a;
		atomic_store(&p->done, false);
		atomic_fetch_add(&p->refs, 1);
		pthread_attr_init(&a);
		pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&t, &a, check_thread, p) == 0) {
			p->in_flight = true;
		} else {
			atomic_fetch_sub(&p->refs, 1);
		}
		pthread_attr_destroy(&a);
		p->next_ms = now_ms + p->period_ms;
	}
	return p->verdict;
}

const char *ks_probe_message(const ks_probe_t *p)
{
	return p->last_msg;
}

void ks_probe_free(ks_probe_t *p)
{
	if (p)
		unref(p);
}

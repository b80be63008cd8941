/* tests/lib/kube_simproc: kubesim as a child process (see the header). */
#include "kube_simproc.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SIMPROC_MAX_ARGS  48
#define SIMPROC_TRIES     5
#define SIMPROC_READY_MS  30000
#define SIMPROC_STOP_MS   10000
#define SIMPROC_LOG_QUOTE 600

struct kube_simproc {
	pid_t pid;
	char dir[64];
	char log[128];
	char kubeconfig[128];
	char server[80];
};

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static uint32_t rnd32(void)
{
	uint32_t v = 0;
	if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v))
		v = (uint32_t)time(NULL) ^ ((uint32_t)getpid() << 16);
	return v;
}

/* Reads at most cap-1 bytes of the log into buf; returns the length. */
static size_t read_log(const char *path, char *buf, size_t cap)
{
	size_t n = 0;
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		buf[0] = '\0';
		return 0;
	}
	if (fseek(f, 0, SEEK_END) == 0) {
		long sz = ftell(f);
		if (sz > (long)cap - 1)
			(void)fseek(f, sz - ((long)cap - 1), SEEK_SET);
		else
			rewind(f);
	}
	n = fread(buf, 1, cap - 1, f);
	buf[n] = '\0';
	fclose(f);
	return n;
}

static bool log_has_ready(const char *path)
{
	char buf[8192];
	read_log(path, buf, sizeof(buf));
	return strstr(buf, "event=ready") != NULL;
}

/* Ends the child by pid: SIGTERM, then SIGKILL after SIMPROC_STOP_MS. */
static void end_child(pid_t pid)
{
	int st;
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	for (long waited = 0; waited < SIMPROC_STOP_MS; waited += 20) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid || (r < 0 && errno == ECHILD))
			return;
		sleep_ms(20);
	}
	kill(pid, SIGKILL);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

/* Forks and execs; the child only calls async-signal-safe functions. */
static pid_t spawn(const char *bin, char *const argv[], const char *log)
{
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || in < 0)
		_exit(126);
	dup2(in, 0);
	dup2(fd, 1);
	dup2(fd, 2);
	/* kubesim must not outlive us, whatever way we end. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(125);
	execv(bin, argv);
	_exit(127);
}

kube_simproc_t *kube_simproc_start(const char *bin_dir, const char *const *extra, char *err,
                                   size_t errlen)
{
	char bin[512], ddir[128], listen[64];
	char *argv[SIMPROC_MAX_ARGS];
	int argc = 0;
	kube_simproc_t *s = calloc(1, sizeof(*s));

	if (s == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	snprintf(bin, sizeof(bin), "%s/kubesim", bin_dir ? bin_dir : "build/bin");
	if (access(bin, X_OK) != 0) {
		snprintf(err, errlen, "%s: not an executable (%s); run make first", bin,
		         strerror(errno));
		goto fail;
	}
	snprintf(s->dir, sizeof(s->dir), "/tmp/kube-simproc-XXXXXX");
	if (mkdtemp(s->dir) == NULL) {
		snprintf(err, errlen, "mkdtemp: %s", strerror(errno));
		s->dir[0] = '\0';
		goto fail;
	}
	snprintf(ddir, sizeof(ddir), "%s/data", s->dir);
	snprintf(s->log, sizeof(s->log), "%s/kubesim.log", s->dir);
	snprintf(s->kubeconfig, sizeof(s->kubeconfig), "%s/kubeconfig", s->dir);

	argv[argc++] = bin;
	argv[argc++] = "--data-dir";
	argv[argc++] = ddir;
	argv[argc++] = "--kubeconfig";
	argv[argc++] = s->kubeconfig;
	argv[argc++] = "--listen";
	argv[argc++] = listen;
	for (int i = 0; extra != NULL && extra[i] != NULL; i++) {
		if (argc >= SIMPROC_MAX_ARGS - 1) {
			snprintf(err, errlen, "too many kubesim arguments (max %d)",
			         SIMPROC_MAX_ARGS - 8);
			goto fail;
		}
		argv[argc++] = (char *)extra[i];
	}
	argv[argc] = NULL;

	for (int attempt = 0; attempt < SIMPROC_TRIES; attempt++) {
		uint32_t r = rnd32();
		unsigned port = 20000 + (rnd32() % 30000);
		snprintf(listen, sizeof(listen), "127.4.%u.%u:%u", r & 0xff, 1 + (r >> 8) % 253,
		         port);
		snprintf(s->server, sizeof(s->server), "https://%s", listen);
		s->pid = spawn(bin, argv, s->log);
		if (s->pid < 0) {
			snprintf(err, errlen, "fork: %s", strerror(errno));
			s->pid = 0;
			goto fail;
		}
		for (long waited = 0; waited < SIMPROC_READY_MS; waited += 50) {
			int st;
			if (log_has_ready(s->log))
				return s;
			if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
				s->pid = 0;
				break;
			}
			sleep_ms(50);
		}
		end_child(s->pid); /* not ready in time: give up on this one too */
		s->pid = 0;
	}
	{
		char tail[SIMPROC_LOG_QUOTE];
		read_log(s->log, tail, sizeof(tail));
		for (char *p = tail; *p; p++)
			if (*p == '\n')
				*p = ' ';
		snprintf(err, errlen, "%s did not become ready after %d tries; log: %s", bin,
		         SIMPROC_TRIES, tail);
	}
fail:
	kube_simproc_stop(s);
	return NULL;
}

void kube_simproc_stop(kube_simproc_t *s)
{
	if (s == NULL)
		return;
	end_child(s->pid);
	if (s->dir[0] != '\0')
		nftw(s->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(s);
}

const char *kube_simproc_kubeconfig(const kube_simproc_t *s)
{
	return s->kubeconfig;
}

const char *kube_simproc_server(const kube_simproc_t *s)
{
	return s->server;
}

pid_t kube_simproc_pid(const kube_simproc_t *s)
{
	return s->pid;
}

const char *kube_simproc_dir(const kube_simproc_t *s)
{
	return s->dir;
}

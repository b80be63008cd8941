#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Everything below between fork() and exec()/_exit() uses only
 * async-signal-safe calls: kubesim is multithreaded. */

static void write_all(int fd, const char *s)
{
	size_t n = strlen(s);
	while (n) {
		ssize_t w = write(fd, s, n);
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

static void close_from(int lowfd)
{
#ifdef SYS_close_range
	if (syscall(SYS_close_range, lowfd, ~0U, 0) == 0)
		return;
#endif
	for (int fd = lowfd; fd < 1024; fd++)
		close(fd);
}

static int exit_code_of(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 255;
}

static void container_child(const ks_proc_spec_t *spec, int logfd)
{
	sigset_t none;
	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int s = 1; s < NSIG; s++) {
		if (s != SIGKILL && s != SIGSTOP)
			signal(s, SIG_DFL);
	}
	int nul = open("/dev/null", O_RDONLY);
	if (nul >= 0 && nul != 0) {
		dup2(nul, 0);
		close(nul);
	}
	dup2(logfd, 1);
	dup2(logfd, 2);
	close_from(3);
	if (spec->cwd && chdir(spec->cwd) != 0) {
		write_all(2, "kubesim: cannot chdir to the pod directory\n");
		_exit(127);
	}
	execve(spec->path, spec->argv, spec->envp);
	write_all(2, "kubesim: exec ");
	write_all(2, spec->path);
	write_all(2, ": ");
	write_all(2, strerror(errno));
	write_all(2, "\n");
	_exit(127);
}

static void shim(const ks_proc_spec_t *spec, int logfd, int pidfd, pid_t parent)
{
	sigset_t set;
	pid_t c;
	int status;

	setpgid(0, 0);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	c = fork();
	if (c < 0) {
		write_all(logfd, "kubesim: fork failed\n");
		_exit(127);
	}
	if (c == 0)
		container_child(spec, logfd);
	setpgid(c, c);
	close(logfd);
	ssize_t w = write(pidfd, &c, sizeof(c));
	(void)w;
	close(pidfd);
	for (;;) {
		struct timespec ts = {1, 0};
		siginfo_t si;
		int sig = sigtimedwait(&set, &si, &ts);
		pid_t r = waitpid(c, &status, WNOHANG);
		if (r == c) {
			kill(-c, SIGKILL);
			_exit(exit_code_of(status));
		}
		(void)sig;
		if (getppid() != parent) {
			/* kubesim is gone: take the container's group with us. */
			kill(-c, SIGKILL);
			waitpid(c, &status, 0);
			_exit(137);
		}
	}
}

int ks_proc_spawn(const ks_proc_spec_t *spec, ks_proc_t *out, char *err, size_t errlen)
{
	int pfd[2];
	int logfd;
	pid_t parent = getpid();
	pid_t s, c = 0;

	out->shim = 0;
	out->pid = 0;
	logfd = open(spec->log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (logfd < 0) {
		snprintf(err, errlen, "open %s: %s", spec->log_path, strerror(errno));
		return -1;
	}
	if (pipe2(pfd, O_CLOEXEC) != 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		close(logfd);
		return -1;
	}
	s = fork();
	if (s < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		close(pfd[0]);
		close(pfd[1]);
		close(logfd);
		return -1;
	}
	if (s == 0) {
		close(pfd[0]);
		shim(spec, logfd, pfd[1], parent);
		_exit(127);
	}
	close(pfd[1]);
	close(logfd);
	setpgid(s, s);
	ssize_t r;
	do {
		r = read(pfd[0], &c, sizeof(c));
	} while (r < 0 && errno == EINTR);
	close(pfd[0]);
	out->shim = s;
	out->pid = r == (ssize_t)sizeof(c) ? c : 0;
	return 0;
}

void ks_proc_signal(const ks_proc_t *p, int sig)
{
	if (p->shim > 0 && p->pid > 0)
		kill(-p->pid, sig);
}

int ks_proc_poll(ks_proc_t *p, int *exit_code)
{
	int status;
	if (p->shim <= 0)
		return -1;
	pid_t r = waitpid(p->shim, &status, WNOHANG);
	if (r == 0)
		return 0;
	if (r < 0 && errno == EINTR)
		return 0;
	*exit_code = r == p->shim ? exit_code_of(status) : 255;
	p->shim = 0;
	return 1;
}

#include "loop.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "base/clock.h"

#define MAX_TIMERS 64
#define MAX_FDS    256

typedef struct {
	int id;
	int64_t due_ms;
	ks_timer_fn fn;
	void *ud;
} timer_t_;

typedef struct {
	int fd;
	ks_fd_fn fn;
	void *ud;
} fdw_t;

struct ks_loop {
	int efd, sfd;
	timer_t_ timers[MAX_TIMERS];
	int ntimers, next_id;
	fdw_t fds[MAX_FDS];
	int nfds;
	volatile bool stop;
};

ks_loop_t *ks_loop_new(void)
{
	ks_loop_t *l = calloc(1, sizeof(*l));
	sigset_t set;
	if (!l)
		return NULL;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
		goto fail;
	l->sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	l->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (l->sfd < 0 || l->efd < 0)
		goto fail;
	signal(SIGPIPE, SIG_IGN);
	return l;
fail:
	if (l->sfd > 0)
		close(l->sfd);
	if (l->efd > 0)
		close(l->efd);
	free(l);
	return NULL;
}

void ks_loop_free(ks_loop_t *l)
{
	if (!l)
		return;
	close(l->sfd);
	close(l->efd);
	free(l);
}

int ks_loop_add_timer(ks_loop_t *l, int64_t first_ms, ks_timer_fn fn, void *ud)
{
	if (l->ntimers >= MAX_TIMERS)
		return -1;
	int id = l->next_id++;
	l->timers[l->ntimers++] = (timer_t_){id, base_now_ms() + first_ms, fn, ud};
	return id;
}

void ks_loop_remove_timer(ks_loop_t *l, int id)
{
	for (int i = 0; i < l->ntimers; i++) {
		if (l->timers[i].id == id) {
			l->timers[i] = l->timers[--l->ntimers];
			return;
		}
	}
}

int ks_loop_add_fd(ks_loop_t *l, int fd, ks_fd_fn fn, void *ud)
{
	if (l->nfds >= MAX_FDS)
		return -1;
	l->fds[l->nfds++] = (fdw_t){fd, fn, ud};
	return 0;
}

void ks_loop_remove_fd(ks_loop_t *l, int fd)
{
	for (int i = 0; i < l->nfds; i++) {
		if (l->fds[i].fd == fd) {
			l->fds[i] = l->fds[--l->nfds];
			return;
		}
	}
}

void ks_loop_wake(void *loop)
{
	ks_loop_t *l = loop;
	uint64_t one = 1;
	ssize_t n = write(l->efd, &one, sizeof(one));
	(void)n; /* EAGAIN means a wakeup is already pending */
}

void ks_loop_stop(ks_loop_t *l)
{
	l->stop = true;
	ks_loop_wake(l);
}

int ks_loop_run(ks_loop_t *l, ks_store_t *st)
{
	struct pollfd pfd[MAX_FDS + 2];
	fdw_t snap[MAX_FDS];
	while (!l->stop) {
		int64_t now = base_now_ms();
		int64_t wait = 1000;
		for (int i = 0; i < l->ntimers; i++) {
			int64_t d = l->timers[i].due_ms - now;
			if (d < wait)
				wait = d < 0 ? 0 : d;
		}
		int n = l->nfds;
		memcpy(snap, l->fds, sizeof(fdw_t) * (size_t)n);
		pfd[0] = (struct pollfd){l->sfd, POLLIN, 0};
		pfd[1] = (struct pollfd){l->efd, POLLIN, 0};
		for (int i = 0; i < n; i++)
			pfd[i + 2] = (struct pollfd){snap[i].fd, POLLIN, 0};
		int rc = poll(pfd, (nfds_t)n + 2, (int)wait);
		if (rc < 0 && errno != EINTR)
			return 0;
		if (rc > 0 && (pfd[0].revents & POLLIN)) {
			struct signalfd_siginfo si;
			if (read(l->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
				return (int)si.ssi_signo;
		}
		if (rc > 0 && (pfd[1].revents & POLLIN)) {
			uint64_t v;
			ssize_t r = read(l->efd, &v, sizeof(v));
			(void)r;
		}
		if (st)
			ks_store_dispatch(st);
		for (int i = 0; rc > 0 && i < n; i++) {
			if (pfd[i + 2].revents)
				snap[i].fn(snap[i].ud, snap[i].fd);
		}
		now = base_now_ms();
		for (int i = 0; i < l->ntimers;) {
			timer_t_ *t = &l->timers[i];
			if (t->due_ms > now) {
				i++;
				continue;
			}
			int id = t->id;
			int64_t next = t->fn(t->ud);
			/* The callback may have added or removed timers. */
			int k;
			for (k = 0; k < l->ntimers && l->timers[k].id != id; k++)
				;
			if (k == l->ntimers)
				continue;
			if (next < 0) {
				l->timers[k] = l->timers[--l->ntimers];
				continue;
			}
			l->timers[k].due_ms = now + next;
			i++;
		}
	}
	return 0;
}

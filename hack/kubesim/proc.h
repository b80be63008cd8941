/* hack/kubesim/proc: runs one container as a local process under a shim.
 *
 * kubesim forks a shim per container; the shim forks the container process,
 * which becomes the leader of its own process group (pgid = its pid), with
 * stdout and stderr appended to a log file. The shim waits for it and
 * exits with its exit code (128 + signal when it was killed, as container
 * runtimes report). The shim has PR_SET_PDEATHSIG: when kubesim dies, even
 * by SIGKILL, the shim kills the container's whole process group and exits,
 * so nothing is orphaned. When the container exits, the shim also kills
 * what is left of its group (as a container's cgroup ends with it).
 *
 * Only the thread that calls ks_proc_spawn must outlive the processes
 * (PDEATHSIG is tied to the forking thread): kubesim spawns from its main
 * loop thread. Not thread safe; one owner per ks_proc_t. */
#ifndef KUBESIM_PROC_H
#define KUBESIM_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct {
	pid_t shim; /* direct child of kubesim; 0 when not running */
	pid_t pid;  /* the container process, leader of its process group */
} ks_proc_t;

/* What a container process gets. Everything is borrowed for the call. */
typedef struct {
	const char *path;     /* absolute program path */
	char *const *argv;    /* NULL-terminated */
	char *const *envp;    /* NULL-terminated */
	const char *cwd;      /* working directory, or NULL */
	const char *log_path; /* stdout+stderr are appended here */
} ks_proc_spec_t;

/* Starts the shim and the container process. 0, or -1 with err (fork or
 * pipe failure, log file not writable). An exec failure is reported as an
 * exit code of 127 with the reason written to the log file. */
int ks_proc_spawn(const ks_proc_spec_t *spec, ks_proc_t *out, char *err, size_t errlen);

/* Sends sig to the container's process group (no-op when not running). */
void ks_proc_signal(const ks_proc_t *p, int sig);

/* Reaps without blocking. Returns 1 when the process has ended (then
 * *exit_code is its code, 128+N when killed by signal N, and p->shim is
 * 0), 0 while it runs, -1 when p holds no process. */
int ks_proc_poll(ks_proc_t *p, int *exit_code);

#endif

/* hack/kubesim/loop: kubesim's main loop. It sleeps in poll() until a
 * timer is due, a watched fd is ready, the store signals a write
 * (ks_loop_wake, thread safe) or SIGTERM/SIGINT arrives; after every
 * wakeup it delivers store events to in-process subscribers
 * (ks_store_dispatch), then runs due timers.
 *
 * This is where controllers of the same process plug in (issue 5): a
 * Deployment controller subscribes to the store and adds a resync timer; a
 * kubelet adds fd watchers for its children's output pipes and timers for
 * probes. Timers return their next delay (redis ae style). */
#ifndef KUBESIM_LOOP_H
#define KUBESIM_LOOP_H

#include <stdint.h>

#include "store.h"

typedef struct ks_loop ks_loop_t;

/* Returns the delay in ms until the next call, or -1 to remove the timer. */
typedef int64_t (*ks_timer_fn)(void *ud);
/* Called when fd is readable (or hung up). */
typedef void (*ks_fd_fn)(void *ud, int fd);

/* Creates a loop that blocks SIGTERM/SIGINT (and receives them through a
 * signalfd); call before starting threads. NULL on failure. */
ks_loop_t *ks_loop_new(void);
void ks_loop_free(ks_loop_t *l);

/* Adds a timer first due in first_ms. Returns an id >= 0, or -1. */
int ks_loop_add_timer(ks_loop_t *l, int64_t first_ms, ks_timer_fn fn, void *ud);
void ks_loop_remove_timer(ks_loop_t *l, int id);
/* Watches fd for input. 0 or -1 (too many). */
int ks_loop_add_fd(ks_loop_t *l, int fd, ks_fd_fn fn, void *ud);
void ks_loop_remove_fd(ks_loop_t *l, int fd);

/* Wakes the loop from any thread (suitable for ks_store_set_notify). */
void ks_loop_wake(void *loop);

/* Runs until SIGTERM/SIGINT or ks_loop_stop; returns the signal number
 * (0 when stopped otherwise). */
int ks_loop_run(ks_loop_t *l, ks_store_t *st);
void ks_loop_stop(ks_loop_t *l);

#endif

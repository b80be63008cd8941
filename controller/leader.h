/* controller/leader: leader election on a coordination.k8s.io/v1 Lease,
 * with client-go's semantics (leaderelection.LeaderElector and
 * resourcelock.LeaseLock):
 *  - every retry period (2 s) a candidate GETs the Lease and tries to acquire
 *    it: absent -> create it holding it; held by another identity whose
 *    record has not changed for leaseDurationSeconds (15 s, measured on the
 *    local monotonic clock from when this replica last saw the record change,
 *    never by comparing clocks) -> take it; the update carries the
 *    resourceVersion, so two candidates cannot both win (409 for one);
 *  - taking over sets acquireTime and increments leaseTransitions; renewing
 *    keeps both and moves renewTime (MicroTime);
 *  - the leader renews every retry period; when no renewal has succeeded for
 *    the renew deadline (10 s, shorter than the lease), it stops leading at
 *    once, before any other replica can acquire;
 *  - release (on SIGTERM): holderIdentity "" and leaseDurationSeconds 1, as
 *    client-go's ReleaseOnCancel, so a standby takes over within ~1 s.
 * ctl_leader_leading() is the write gate: it re-checks the renew deadline on
 * every call, so a replica whose renewals hang stops writing at the deadline
 * even if no timer has fired yet. */
#ifndef MCP_CONTROLLER_LEADER_H
#define MCP_CONTROLLER_LEADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "ctlmetrics.h"
#include "kube/client.h"

/* A Lease's spec as read. */
typedef struct {
	char holder[256];
	int32_t duration_s;
	char acquire_time[40];
	char renew_time[40];
	int32_t transitions;
} ctl_lease_rec_t;

/* Reads spec of a Lease object into out (missing fields zero/empty). */
void ctl_lease_read(const cJSON *lease, ctl_lease_rec_t *out);

/* client-go's tryAcquireOrRenew, pure. old: the current record (exists
 * false: no Lease yet). old_valid: the holder's lease has not expired by
 * local observation. Returns true and fills next when `me` may write the
 * Lease now (acquire or renew), false when another holder's lease is valid.
 * now_wall: wall seconds for acquireTime/renewTime. */
bool ctl_lease_try(const ctl_lease_rec_t *old, bool exists, bool old_valid, const char *me,
                   int32_t duration_s, double now_wall, ctl_lease_rec_t *next);

/* Writes rec as the Lease's spec into obj (creating "spec"). 0 or -1 (ENOMEM). */
int ctl_lease_write(cJSON *obj, const ctl_lease_rec_t *rec);

typedef struct {
	const char *ns;
	const char *name;
	const char *identity;
	int64_t lease_ms;          /* default 15 s */
	int64_t renew_deadline_ms; /* default 10 s */
	int64_t retry_ms;          /* default 2 s */
} ctl_leader_opts_t;

typedef struct ctl_leader ctl_leader_t;

/* Called when leadership starts (true) or ends (false). */
typedef void (*ctl_leader_fn)(bool leading, void *arg);

/* Starts campaigning at once. client and metrics are borrowed. NULL on ENOMEM
 * or a missing ns/name/identity (err says). */
ctl_leader_t *ctl_leader_new(kube_client_t *client, const ctl_leader_opts_t *o,
                             ctl_metrics_t *metrics, ctl_leader_fn fn, void *arg, char *err,
                             size_t errlen);
/* True while this replica holds the lease within the renew deadline. */
bool ctl_leader_leading(ctl_leader_t *l);
/* Stops campaigning; when leading, releases the Lease and calls done (also
 * called at once when there is nothing to release). */
void ctl_leader_release(ctl_leader_t *l, void (*done)(void *arg), void *arg);
/* Cancels everything (no callbacks) and frees. NULL is a no-op. */
void ctl_leader_free(ctl_leader_t *l);

#endif

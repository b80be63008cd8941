#!/bin/sh
# Leader election with two controllers on one Lease: only the holder writes;
# kill -9 of the leader -> the standby takes over within the lease duration
# (short durations here: lease 4 s, renew deadline 3 s, retry 0.5 s), with
# leaseTransitions incremented; SIGTERM releases the Lease (empty holder).
if [ -z "${CTL_TIMED:-}" ]; then CTL_TIMED=1 exec timeout -k 5 90 sh "$0" "$@"; fi
. "$(dirname "$0")/ctl_lib.inc"

LE="--leader-elect --leader-election-namespace mcp --leader-election-lease-duration 4s --leader-election-renew-deadline 3s --leader-election-retry-period 500ms"
holder() { kc get lease mcp-autoscaler -o jsonpath='{.spec.holderIdentity}' 2>/dev/null; }
transitions() { kc get lease mcp-autoscaler -o jsonpath='{.spec.leaseTransitions}' 2>/dev/null; }

start_kubesim
create_deploy w 2
create_pod w-a w "$NET.11"
create_pod w-b w "$NET.12"
set_load '{"default":{"pool_size":8,"in_use":5,"waiters":0}}'
start_fake "$NET.11,$NET.12"
create_policy worker '{"scaleTargetRef":"Deployment/w","minReplicas":"1","maxReplicas":"8","poolMinSize":"8","poolMaxSize":"8","targetPoolOccupancy":"70","syncPeriod":"1s"}'

# shellcheck disable=SC2086
start_ctl c1 $LE --leader-election-id c1
C1=$LAST_PID
wait_for 10 "c1 holds the Lease" sh -c "[ \"\$(kubectl -n mcp get lease mcp-autoscaler -o jsonpath='{.spec.holderIdentity}')\" = c1 ]"
# shellcheck disable=SC2086
start_ctl c2 $LE --leader-election-id c2
C2=$LAST_PID
kc get lease mcp-autoscaler -o jsonpath='{.spec.renewTime}' | grep -Eq '^[0-9-]+T[0-9:]+\.[0-9]{6}Z$' || fail "renewTime is not a MicroTime"

set_load '{"default":{"pool_size":8,"in_use":8,"waiters":4}}'
wait_for 15 "c1 scales up" sh -c '[ "$(kubectl -n mcp get deploy w -o jsonpath={.spec.replicas})" -gt 2 ]'
sleep 2
[ "$(holder)" = c1 ] || fail "the Lease moved while c1 was healthy: $(holder)"
grep -q 'event=scale' "$T/c2.log" && fail "the standby c2 wrote while c1 held the Lease"
grep -q 'event=leader_acquired' "$T/c2.log" && fail "c2 believed it was leader"
T0=$(transitions)

# Kill the leader hard: c2 must take over within the lease duration (+ retry slack).
kill -9 "$C1"
t0=$(date +%s%N)
wait_for 15 "c2 takes over" sh -c "[ \"\$(kubectl -n mcp get lease mcp-autoscaler -o jsonpath='{.spec.holderIdentity}')\" = c2 ]"
dt=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "takeover after ${dt} ms"
[ "$dt" -le 6500 ] || fail "takeover took ${dt} ms (lease 4 s + retry)"
[ "$(transitions)" -eq $((T0 + 1)) ] || fail "leaseTransitions $(transitions), want $((T0 + 1))"

# c2 now writes: a load drop scales down (default 300 s window would block: patch it).
kc patch cm worker --type=merge -p '{"data":{"behavior":"scaleDown:\n  stabilizationWindowSeconds: 0\n"}}' >/dev/null
set_load '{"default":{"pool_size":8,"in_use":1,"waiters":0}}'
wait_for 15 "c2 scales down" sh -c '[ "$(kubectl -n mcp get deploy w -o jsonpath={.spec.replicas})" -le 2 ]'
grep -q 'event=scale' "$T/c2.log" || fail "c2 did not log its decision"

# SIGTERM: c2 releases the Lease (holder empty, 1 s) and exits 0.
kill -TERM "$C2"
wait "$C2"; rc=$?
[ "$rc" = 0 ] || fail "c2 exit code $rc after SIGTERM"
[ -z "$(holder)" ] || fail "Lease not released: holder $(holder)"
[ "$(kc get lease mcp-autoscaler -o jsonpath='{.spec.leaseDurationSeconds}')" = 1 ] || fail "released Lease duration is not 1"
echo "PASS: 71_controller_leader"

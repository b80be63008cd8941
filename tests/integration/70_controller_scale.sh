#!/bin/sh
# Controller against kubesim + fake worker metrics: pool grows first, then
# replicas; no write while nothing changes; a `kubectl patch` of the policy
# takes effect within a second; scale-down after the (short) stabilization
# window; an invalid policy is reported (Event, status, log) and its target
# left alone; status annotation and decision log lines have their shape.
if [ -z "${CTL_TIMED:-}" ]; then CTL_TIMED=1 exec timeout -k 5 100 sh "$0" "$@"; fi
. "$(dirname "$0")/ctl_lib.inc"

start_kubesim
create_deploy w 2
create_pod w-a w "$NET.11"
create_pod w-b w "$NET.12"
set_load '{"default":{"pool_size":4,"in_use":2,"waiters":0}}'
start_fake "$NET.11,$NET.12"
create_policy worker '{"scaleTargetRef":"Deployment/w","minReplicas":"1","maxReplicas":"6","poolMinSize":"4","poolMaxSize":"8","targetPoolOccupancy":"70","syncPeriod":"1s","behavior":"scaleDown:\n  stabilizationWindowSeconds: 3\n"}'
start_ctl c1 --log-level debug
CTL=$LAST_PID

# Steady load at the target: the pool ConfigMap is created, replicas stay.
wait_for 10 "pool ConfigMap created" sh -c '[ -n "$(kubectl -n mcp get cm worker-pool -o jsonpath={.data.poolSize} 2>/dev/null)" ]'
kc get cm worker-pool -o jsonpath='{.metadata.ownerReferences[0].name}' | grep -qx worker || fail "pool ConfigMap has no ownerReference to the policy"
[ "$(replicas w)" = 2 ] || fail "replicas changed without load: $(replicas w)"
wait_for 10 "status annotation" sh -c '[ -n "$(kubectl -n mcp get cm worker -o jsonpath="{.metadata.annotations.mcp-autoscaler\.io/status}")" ]'

# Nothing changes for a few syncs: the Deployment is not written.
RV1=$(kc get deploy w -o jsonpath='{.metadata.resourceVersion}')
P1=$(kc get cm worker-pool -o jsonpath='{.metadata.resourceVersion}')
sleep 3
[ "$(kc get deploy w -o jsonpath='{.metadata.resourceVersion}')" = "$RV1" ] || fail "Deployment written although nothing changed"
[ "$(kc get cm worker-pool -o jsonpath='{.metadata.resourceVersion}')" = "$P1" ] || fail "pool ConfigMap written although nothing changed"
grep -q 'event=hold' "$T/c1.log" || fail "no hold line at debug level"

# Load step: pool grows to its max first, replicas follow, never above max.
set_load '{"default":{"pool_size":4,"in_use":4,"waiters":6}}'
wait_for 15 "scale up" sh -c '[ "$(kubectl -n mcp get deploy w -o jsonpath={.spec.replicas})" -gt 2 ]'
[ "$(poolsize worker)" = 8 ] || fail "pool not at its max 8 after scale-up: $(poolsize worker)"
grep 'event=scale ' "$T/c1.log" | head -1 | grep -Eq '^ts=[^ ]+ level=info policy=mcp/worker event=scale replicas=2->[0-9]+ pool=[0-9]+->[0-9]+ reason="[^"]+"$' ||
	fail "decision line not in the documented shape: $(grep 'event=scale ' "$T/c1.log" | head -1)"
# The pool write of a scale-up precedes the replica write.
EV=$(events_of)
echo "$EV" | grep -q 'ConfigMap/worker SuccessfulRescale: New size: [0-9]*; reason: ' || fail "no SuccessfulRescale Event on the policy: $EV"
echo "$EV" | grep -q 'Deployment/w SuccessfulRescale' || fail "no SuccessfulRescale Event on the Deployment"
echo "$EV" | grep -q 'ConfigMap/worker PoolResized' || fail "no PoolResized Event"
wait_for 15 "replicas at maxReplicas 6" sh -c '[ "$(kubectl -n mcp get deploy w -o jsonpath={.spec.replicas})" = 6 ]'
sleep 2
[ "$(replicas w)" = 6 ] || fail "replicas left [1,6]: $(replicas w)"
status_json worker | grep -q '"ScalingLimited","status":"True","reason":"TooManyReplicas"' || fail "status does not report the limit: $(status_json worker)"

# kubectl patch of the policy takes effect within a second.
t0=$(date +%s%N)
kc patch cm worker --type=merge -p '{"data":{"maxReplicas":"4"}}' >/dev/null || fail "kubectl patch"
wait_for 5 "maxReplicas 4 applied" sh -c '[ "$(kubectl -n mcp get deploy w -o jsonpath={.spec.replicas})" = 4 ]'
dt=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "patch applied after ${dt} ms"
[ "$dt" -le 1500 ] || fail "policy change took ${dt} ms (want within ~1 s)"

# Someone else scales: the next sync starts from the new value, logged.
kc scale deploy w --replicas=3 >/dev/null 2>&1 || kc patch deploy w --type=merge -p '{"spec":{"replicas":3}}' >/dev/null
wait_for 10 "external change logged" grep -q 'event=external_scale replicas=4->3' "$T/c1.log"

# Load drops: replicas go down only after the 3 s stabilization window.
set_load '{"default":{"pool_size":8,"in_use":1,"waiters":0}}'
wait_for 20 "scale down to 1" sh -c '[ "$(kubectl -n mcp get deploy w -o jsonpath={.spec.replicas})" = 1 ]'
[ "$(poolsize worker)" -ge 4 ] || fail "pool below poolMinSize"

# An invalid policy is reported and its target untouched.
create_deploy v 2
create_policy broken '{"scaleTargetRef":"Deployment/v","minReplicas":"5","maxReplicas":"two"}'
wait_for 10 "InvalidPolicy event" sh -c 'kubectl -n mcp get events -o jsonpath="{range .items[*]}{.reason} {.involvedObject.name}{\"\n\"}{end}" | grep -q "InvalidPolicy broken"'
wait_for 10 "invalid status" sh -c 'kubectl -n mcp get cm broken -o jsonpath="{.metadata.annotations.mcp-autoscaler\.io/status}" | grep -q "\"policyValid\":false"'
grep 'event=invalid_policy' "$T/c1.log" | grep -q 'maxReplicas' || fail "the invalid_policy log line does not name the key"
[ "$(replicas v)" = 2 ] || fail "target of an invalid policy was changed"
kc get cm broken-pool >/dev/null 2>&1 && fail "pool ConfigMap written for an invalid policy"

# A missing target is reported.
create_policy ghost '{"scaleTargetRef":"Deployment/nope","minReplicas":"1","maxReplicas":"3","syncPeriod":"1s"}'
wait_for 10 "FailedGetScale event" sh -c 'kubectl -n mcp get events -o jsonpath="{range .items[*]}{.reason} {.involvedObject.name}{\"\n\"}{end}" | grep -q "FailedGetScale ghost"'

# SIGTERM: exit 0.
kill -TERM "$CTL"
i=0; while kill -0 "$CTL" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
kill -0 "$CTL" 2>/dev/null && fail "controller did not stop on SIGTERM"
wait "$CTL"; rc=$?
[ "$rc" = 0 ] || fail "exit code $rc after SIGTERM"
echo "PASS: 70_controller_scale"

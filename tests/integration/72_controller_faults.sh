#!/bin/sh
# Injected API faults leave the controller running and correct: 409 on the
# /scale patch (re-read, retry), 429 and 500 on reads (client retries, per
# policy backoff), dropped watches (relist; a policy change still arrives),
# and a full API outage (everything 503) after which it resumes.
if [ -z "${CTL_TIMED:-}" ]; then CTL_TIMED=1 exec timeout -k 5 100 sh "$0" "$@"; fi
. "$(dirname "$0")/ctl_lib.inc"
OUTAGE=${CTL_OUTAGE_S:-30}

start_kubesim
create_deploy w 2
create_pod w-a w "$NET.11"
create_pod w-b w "$NET.12"
set_load '{"default":{"pool_size":8,"in_use":5,"waiters":0}}'
start_fake "$NET.11,$NET.12"
create_policy worker '{"scaleTargetRef":"Deployment/w","minReplicas":"1","maxReplicas":"8","poolMinSize":"8","poolMaxSize":"8","targetPoolOccupancy":"70","syncPeriod":"1s","behavior":"scaleDown:\n  stabilizationWindowSeconds: 0\n"}'
start_ctl c1 --metrics-bind-address "$NET.1:$(rport)"
CTL=$LAST_PID
wait_for 10 "first sync" sh -c '[ -n "$(kubectl -n mcp get cm worker-pool -o jsonpath={.data.poolSize} 2>/dev/null)" ]'

# 409 on the scale patch (twice), 429 and 500 on reads: the scale still lands.
admin_faults '[{"verb":"patch","resource":"deployments","code":409,"count":2},{"verb":"get","resource":"configmaps","code":429,"retryAfter":1,"count":2},{"verb":"get","resource":"deployments","code":500,"count":3}]'
set_load '{"default":{"pool_size":8,"in_use":8,"waiters":6}}'
wait_for 20 "scale up despite 409/429/500" sh -c '[ "$(kubectl -n mcp get deploy w -o jsonpath={.spec.replicas})" -gt 2 ]'
grep -q 'event=scale_conflict' "$T/c1.log" || fail "the 409 was not seen (no scale_conflict line)"
admin_clear
R=$(replicas w)
[ "$R" -le 8 ] || fail "replicas above max: $R"

# Dropped watches: a policy change made after the drop still takes effect.
admin_faults '{"dropWatches":true}'
kc patch cm worker --type=merge -p '{"data":{"maxReplicas":"3"}}' >/dev/null || fail "kubectl patch"
wait_for 10 "maxReplicas 3 after dropped watches" sh -c '[ "$(kubectl -n mcp get deploy w -o jsonpath={.spec.replicas})" = 3 ]'

# Outage: every API call fails; the controller keeps running and recovers.
admin_faults "{\"outage\":$OUTAGE}"
set_load '{"default":{"pool_size":8,"in_use":1,"waiters":0}}'
sleep 3
kill -0 "$CTL" 2>/dev/null || fail "controller died during the outage"
[ "$(replicas w 2>/dev/null || echo 3)" = 3 ] || true
wait_for $((OUTAGE + 25)) "scale down after the outage" sh -c '[ "$(kubectl -n mcp get deploy w -o jsonpath={.spec.replicas} 2>/dev/null)" = 1 ]'
kill -0 "$CTL" 2>/dev/null || fail "controller died"
grep -q 'event=sync_failed' "$T/c1.log" || fail "the outage left no sync_failed line"
echo "PASS: 72_controller_faults"

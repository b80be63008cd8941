#!/bin/sh
# End to end: faults under load, each followed by a check that the system
# returns to the right size with nothing lost but what the fault kills.
#
# minReplicas=2 makes 2 workers the right size at the test's 200 req/s.
# 1. A worker killed under load: one pod force-deleted (--grace-period=0
#    --force), another worker's process killed with SIGKILL (pid from kubesim's
#    container-started log line). Loadgen errors are counted and bounded (only
#    requests in flight on the killed worker; only in the seconds around the
#    kill); 2 ready workers again.
# 2. The device down for 20 s (mcp-devsim scaled to 0, then to 1): workers
#    report mcp_device_up 0 and answer 0x0A/0x0B, the controller never scales
#    above max(2, fallbackReplicas); after recovery no more errors, 2 ready.
# 3. The API server down for 30 s (kubesim outage), then injected 409 (on the
#    /scale patch), 429 and 500 and dropped watches: the controllers keep
#    running (no restart) and converge (minReplicas 3 -> 3 workers, then 2).
# 4. The leader killed (SIGKILL of its process): within the lease duration
#    (15 s, +5 s slack) a live controller holds the Lease (the standby, or
#    the leader's restarted container, which has the same identity), exactly
#    one controller reports mcp_autoscaler_leader 1, the leader applies the
#    next change and no other controller writes.
set -u
# The whole run is bounded (the phases take ~90 s here; their waits add up
# to less than this).
if [ -z "${E2E_TIMED:-}" ]; then E2E_TIMED=1 exec timeout -k 10 420 sh "$0" "$@"; fi
. "$(dirname "$0")/e2e_lib.inc"

e2e_start_kubesim
e2e_deploy
kc patch cm mcp-worker --type=merge -p '{"data":{"minReplicas":"2"}}' >/dev/null || fail "patch minReplicas"
wait_for 20 "2 workers ready" ready_ge 2
say "deployed; worker Service at $SVC:502"

# pod_pid POD: pid of the pod's (latest) container process.
pod_pid() { grep "event=container-started pod=$1 " "$T/kubesim.log" | tail -1 | sed 's/.* pid=\([0-9]*\).*/\1/'; }
worker_pods() { kc get pods -l app.kubernetes.io/name=mcp-worker -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}'; }
now_s() { echo $(($(date +%s) - LG_T0 + 1)); } # the loadgen CSV's second

# Longer than the phases take: loadgen is stopped (SIGTERM: what is in
# flight finishes) once the last check is done.
loadgen flt "hold 200 360s"
lg=$LG_PID
LG_T0=$(date +%s)
sleep 5

# ---- 1. worker killed ----------------------------------------------------
set -- $(worker_pods)
[ $# -ge 2 ] || fail "expected 2 worker pods, got: $*"
k1=$(now_s)
kc delete pod "$1" --grace-period=0 --force >/dev/null 2>&1 || fail "force delete of $1"
pid=$(pod_pid "$2")
[ -n "$pid" ] && kill -0 "$pid" || fail "no process for pod $2"
kill -9 "$pid"
say "force-deleted $1, SIGKILLed $2 (pid $pid)"
wait_for 30 "2 workers ready after the kill" ready_ge 2
sleep 4
k2=$(now_s)
outside=$(errors_in flt 0 "$k2")
say "worker kill: $outside errors (CSV seconds $k1..$k2)"
[ "$outside" -le 300 ] || fail "a worker kill lost $outside requests (bound 300)"
killed_errs=$outside
# The kill may push P99 over target and scale out; the right size at 200/s
# is minReplicas again once the 10 s scale-down window passes.
# The device outage must start from a settled state, or the kill's own
# latency spike (scraped a round or two later) reads as a scale-up on the
# device failure: P99 back under target in two syncs, then 2 replicas.
wait_for 40 "the controller's P99 under target after the worker kill" p99_under_target
sleep 2
wait_for 40 "the controller's P99 under target after the worker kill" p99_under_target
wait_for 40 "replicas back to 2 after the worker kill" replicas_is 2

# ---- 2. device down 20 s ---------------------------------------------------
d1=$(now_s)
kc scale deploy mcp-devsim --replicas=0 >/dev/null || fail "scale devsim to 0"
maxr=0 down_seen=0
end=$(($(date +%s) + 20))
while [ "$(date +%s)" -lt "$end" ]; do
	r=$(replicas)
	[ "$r" -gt "$maxr" ] && maxr=$r
	ip=$(kc get pods -l app.kubernetes.io/name=mcp-worker -o jsonpath='{.items[0].status.podIP}')
	curl -s --max-time 2 "http://$ip:9090/metrics" | grep -q '^mcp_device_up 0' && down_seen=1
	sleep 1
done
kc scale deploy mcp-devsim --replicas=1 >/dev/null || fail "scale devsim to 1"
say "device back; replicas max $maxr during the outage"
[ "$down_seen" = 1 ] || fail "no worker reported mcp_device_up 0 while the device was down"
# 2 = the size before the fault = fallbackReplicas.
[ "$maxr" -le 2 ] || fail "the controller scaled up to $maxr on a device failure"
wait_for 40 "2 workers ready after the device came back" ready_ge 2
sleep 5
d2=$(now_s)
derr=$(errors_in flt "$d2" 100000)
[ "$derr" = 0 ] || fail "$derr errors after the device recovered (from CSV second $d2)"
wait_for 30 "replicas 2 after the device outage" replicas_is 2

# ---- 3. API server down 30 s, then injected errors -------------------------
restarts() { kc get pods -l app.kubernetes.io/name=mcp-autoscaler -o jsonpath='{range .items[*]}{.status.containerStatuses[0].restartCount}{" "}{end}'; }
r0=$(restarts)
admin_faults '{"outage":30}'
say "API outage 30 s"
sleep 31
wait_for 10 "the API answers again" kc get ns mcp
[ "$(restarts)" = "$r0" ] || fail "controllers restarted during the API outage: $r0 -> $(restarts)"
kc patch cm mcp-worker --type=merge -p '{"data":{"minReplicas":"3","fallbackReplicas":"3"}}' >/dev/null || fail "patch minReplicas 3"
wait_for 30 "convergence after the outage (minReplicas 3)" replicas_is 3
say "converged after the outage"
# The rules name the controller's service account, so this script's own
# kubectl calls are not hit.
u="\"user\":\"$CTL_USER\""
admin_faults "[{\"verb\":\"patch\",\"resource\":\"deployments\",\"code\":409,\"count\":2,$u},{\"verb\":\"get\",\"resource\":\"configmaps\",\"code\":500,\"count\":3,$u},{\"verb\":\"list\",\"code\":429,\"retryAfter\":1,\"count\":3,$u},{\"verb\":\"get\",\"resource\":\"deployments\",\"code\":429,\"retryAfter\":1,\"count\":2,$u},{\"dropWatches\":true}]"
kc patch cm mcp-worker --type=merge -p '{"data":{"minReplicas":"2","fallbackReplicas":"2"}}' >/dev/null || fail "patch minReplicas 2"
wait_for 40 "convergence with injected 409/429/500 (minReplicas 2)" replicas_is 2
fired=$(curl -s "http://$KS_ADDR:$APORT/faults" | python3 -c 'import json,sys; print(sum(r.get("fired",0) for r in json.load(sys.stdin)["rules"]))')
admin_clear
say "converged with injected errors ($fired fired)"
[ "$fired" -ge 2 ] || fail "the injected errors did not fire ($fired)"
[ "$(restarts)" = "$r0" ] || fail "controllers restarted under injected errors"

# ---- 4. leader killed --------------------------------------------------------
# The manifests make the pod name the Lease identity, so the container that
# kubesim restarts in the killed leader's pod may resume the Lease at once
# (client-go: a holder that finds its own identity renews); otherwise the
# standby takes it once the lease expires (15 s). Either way a live process
# must renew the Lease within 15 s + 5 s slack.
lease() { kc get lease mcp-autoscaler -o jsonpath="{.spec.$1}"; }
old=$(lease holderIdentity)
[ -n "$old" ] || fail "no leader"
pid=$(pod_pid "$old")
# Log lines written from here on, per controller log file.
for f in "$T"/ks/pods/mcp_mcp-autoscaler-*/logs/controller/*.log; do
	echo "$f $(wc -l <"$f")"
done >"$T/ctl.lines"
kill -9 "$pid" || fail "cannot kill the leader $old (pid $pid)"
lk=$(date +%s)
say "killed leader $old (pid $pid)"
renewed_by_live() {
	h=$(lease holderIdentity)
	[ -n "$h" ] || return 1
	rt=$(date -d "$(lease renewTime)" +%s) || return 1
	p=$(pod_pid "$h")
	[ "$rt" -gt "$lk" ] && [ -n "$p" ] && [ "$p" != "$pid" ] && kill -0 "$p"
}
wait_for 20 "a live controller renews the Lease after the leader's kill" renewed_by_live
took=$(($(date +%s) - lk))
new=$(lease holderIdentity)
[ "$new" = "$old" ] && who="the restarted container of $old" || who="the standby $new"
say "$who holds the Lease ${took}s after the kill"
ctl_ready() { [ "$(kc get pods -l app.kubernetes.io/name=mcp-autoscaler -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{" "}{end}')" = "True True " ]; }
wait_for 30 "both controllers ready (the killed one restarted)" ctl_ready
leaders=0
for ip in $(kc get pods -l app.kubernetes.io/name=mcp-autoscaler -o jsonpath='{.items[*].status.podIP}'); do
	v=$(curl -s --max-time 3 "http://$ip:8080/metrics" | awk '$1 == "mcp_autoscaler_leader" { print $2 }')
	[ "$v" = 1 ] && leaders=$((leaders + 1))
done
[ "$leaders" = 1 ] || fail "$leaders controllers report mcp_autoscaler_leader 1"
kc patch cm mcp-worker --type=merge -p '{"data":{"minReplicas":"3","fallbackReplicas":"3"}}' >/dev/null || fail "patch minReplicas 3"
wait_for 20 "the new leader applies the next change" replicas_is 3
# Only the Lease holder wrote after the kill.
writers=$(for f in "$T"/ks/pods/mcp_mcp-autoscaler-*/logs/controller/*.log; do
	n=$(awk -v f="$f" '$1 == f { print $2 }' "$T/ctl.lines")
	tail -n +"$((${n:-0} + 1))" "$f" | grep -q 'event=scale\|event=pool_resize' &&
		echo "$f" | sed 's|.*/mcp_\(mcp-autoscaler-[^_]*\)_.*|\1|'
done | sort -u | tr '\n' ' ')
[ "$writers" = "$new " ] || fail "writes after the leader's kill came from '$writers', the Lease holder is $new"

kill -TERM "$lg"
loadgen_wait flt "$lg" 15
say "load: $(cat "$T/flt.out")"
total=$(summary flt errors)
# Everything lost is explained: the worker kill (bounded above) and the
# device outage window (the 20 s plus the workers' return to ready).
# now_s truncates to whole seconds, so a CSV second may lead it by one: the
# outage's first errors can land in second d1 - 1.
between=$(errors_in flt "$((k2 + 1))" "$((d1 - 2))")
after=$(errors_in flt "$((d2 + 1))" 100000)
[ "$between" = 0 ] && [ "$after" = 0 ] ||
	fail "errors outside the fault windows: $between between the kill and the device outage, $after after it"
rbac_check_used
echo "PASS: worker kill lost $killed_errs (bounded), device outage held size and recovered, API outage and 409/429/500 converged, Lease held again ${took}s after the leader kill; $total errors all inside fault windows"

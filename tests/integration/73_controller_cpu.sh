#!/bin/sh
# targetCPUUtilization end to end.
# Part 1: kubesim without workloads serves no metrics.k8s.io (404): with
#   queue + CPU targets and a fallback, only the CPU metric fails
#   (FailedGetResourceMetric in the status and an Event); low load does not
#   scale down (HPA) and does not go to fallbackReplicas (the queue works);
#   high load still scales up.
# Part 2: kubesim running pods: a Deployment of a small duty-cycled /bin/sh
#   loop with a 20m CPU request; `kubectl top pod` reads kubesim's PodMetrics;
#   the controller lists them and scales up on CPU alone (no /metrics at
#   all); a Deployment without a CPU request gets HPA's "missing request for
#   cpu" for that metric.
if [ -z "${CTL_TIMED:-}" ]; then CTL_TIMED=1 exec timeout -k 5 90 sh "$0" "$@"; fi
. "$(dirname "$0")/ctl_lib.inc"

# A Running, Ready pod of deployment APP at IP with a 100m CPU request.
create_pod_req() { # NAME APP IP
	create_pod "$@"
	kc patch pod "$1" --type=json -p '[{"op":"add","path":"/spec/containers/0/resources","value":{"requests":{"cpu":"100m"}}}]' >/dev/null ||
		fail "cannot set the CPU request of pod $1"
}

# ---- part 1: metrics.k8s.io not served ---------------------------------------
start_kubesim
KS1=$(echo $PIDS | awk '{print $NF}')
create_deploy w 3
create_pod_req w-a w "$NET.11"
create_pod_req w-b w "$NET.12"
create_pod_req w-c w "$NET.13"
set_load '{"default":{"pool_size":4,"in_use":1,"waiters":0.5}}'
start_fake "$NET.11,$NET.12,$NET.13"
create_policy worker '{"scaleTargetRef":"Deployment/w","minReplicas":"1","maxReplicas":"6","targetQueueLength":"2","targetCPUUtilization":"50","fallbackReplicas":"1","fallbackFailureThreshold":"2","syncPeriod":"1s","behavior":"scaleDown:\n  stabilizationWindowSeconds: 0\n"}'
start_ctl c1 --log-level debug
C1=$LAST_PID

wait_for 10 "FailedGetResourceMetric in the status" sh -c \
	'kubectl -n mcp get cm worker -o jsonpath="{.metadata.annotations.mcp-autoscaler\.io/status}" | grep -q FailedGetResourceMetric'
ST=$(status_json worker)
echo "$ST" | grep -q '"name":"cpu_utilization","current":null,"target":50,"error":"unable to get metrics for resource cpu: unable to fetch metrics from resource metrics API: [^"]*404' ||
	fail "status does not carry the CPU error (404): $ST"
echo "$ST" | grep -q '"name":"queue_length","current":0.5' || fail "queue metric not working: $ST"
# Several syncs at low load: the queue says 1 replica, the failed CPU forbids
# the scale-down, and the fallback (1) is not taken: only CPU failed.
sleep 5
[ "$(replicas w)" = 3 ] || fail "replicas changed while a metric failed: $(replicas w) ($(status_json worker))"
status_json worker | grep -q '"fallback":true' && fail "fallback active although the queue metric works"
wait_for 10 "FailedGetResourceMetric Event" sh -c \
	'kubectl -n mcp get events -o jsonpath="{range .items[*]}{.reason} {.involvedObject.name}: {.message}{\"\n\"}{end}" | grep -q "FailedGetResourceMetric worker: failed to get cpu_utilization: unable to get metrics for resource cpu"'
N=$(events_of | grep -c 'ConfigMap/worker FailedGetResourceMetric')
[ "$N" = 1 ] || fail "the standing CPU failure was reported $N times (want one Event)"
grep -q 'event=metric_failed metric=cpu_utilization reason=FailedGetResourceMetric' "$T/c1.log" || fail "no metric_failed log line"
# High load: scale up on the queue although CPU keeps failing.
set_load '{"default":{"pool_size":4,"in_use":4,"waiters":6}}'
wait_for 10 "scale up despite the CPU failure" sh -c '[ "$(kubectl -n mcp get deploy w -o jsonpath={.spec.replicas})" -gt 3 ]'
grep -q 'event=scale replicas=3->[4-6] .*queue_length' "$T/c1.log" || fail "scale-up not driven by the queue: $(grep event=scale "$T/c1.log")"
kill "$C1"
wait "$C1" || fail "controller did not exit 0 on SIGTERM"
kill "$KS1"
wait "$KS1" 2>/dev/null

# ---- part 2: kubesim runs the pods and serves PodMetrics ---------------------
mkdir -p "$T/ks2"
KUBECONFIG=$T/ks2/kubeconfig
export KUBECONFIG
KPORT2=$(rport)
"$MCP_BIN/kubesim" --data-dir "$T/ks2" --listen "$NET.2:$KPORT2" --snapshot=false \
	--pod-cidr "$NET.128/25" --service-cidr "127.6.$((R + 1)).0/24" --metrics-window 1s \
	--shutdown-grace 2s >"$T/kubesim2.log" 2>&1 &
KS2=$!
PIDS="$PIDS $KS2"
wait_for 10 "kubesim (pods) ready" grep -q 'event=ready' "$T/kubesim2.log"
printf '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"mcp"}}' >"$T/ns2.json"
kubectl create --validate=false -f "$T/ns2.json" >/dev/null || fail "cannot create namespace"

# About 4% of a core per pod (dash arithmetic, then a sleep whose CPU is the
# child's): 200% of its 20m request, four times the 50% target.
BURN='while :; do i=0; while [ $i -lt 10000 ]; do i=$((i+1)); done; sleep 0.2; done'
cat >"$T/burn.json" <<EOT
{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"burn","namespace":"mcp"},
 "spec":{"replicas":1,"selector":{"matchLabels":{"app":"burn"}},
 "template":{"metadata":{"labels":{"app":"burn"}},"spec":{"terminationGracePeriodSeconds":1,
  "containers":[{"name":"burn","image":"none/none:1","command":["/bin/sh","-c","$BURN"],
   "resources":{"requests":{"cpu":"20m"}}}]}}}}
EOT
cat >"$T/idle.json" <<EOT
{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"idle","namespace":"mcp"},
 "spec":{"replicas":1,"selector":{"matchLabels":{"app":"idle"}},
 "template":{"metadata":{"labels":{"app":"idle"}},"spec":{"terminationGracePeriodSeconds":1,
  "containers":[{"name":"idle","image":"none/none:1","command":["/bin/sleep","600"]}]}}}}
EOT
kc create --validate=false -f "$T/burn.json" >/dev/null || fail "cannot create deployment burn"
kc create --validate=false -f "$T/idle.json" >/dev/null || fail "cannot create deployment idle"
wait_for 20 "kubectl top pod shows the burner" sh -c 'kubectl -n mcp top pod -l app=burn --no-headers 2>/dev/null | grep -Eq "^burn-[a-z0-9-]+ +[0-9]+m"'
kc top pod -l app=burn --no-headers
create_policy cpu '{"scaleTargetRef":"Deployment/burn","minReplicas":"1","maxReplicas":"3","targetCPUUtilization":"50","syncPeriod":"1s"}'
create_policy noreq '{"scaleTargetRef":"Deployment/idle","minReplicas":"1","maxReplicas":"3","targetCPUUtilization":"50","syncPeriod":"1s"}'
start_ctl c2 --log-level debug --metrics-port 1
C2=$LAST_PID

wait_for 25 "scale up on CPU" sh -c '[ "$(kubectl -n mcp get deploy burn -o jsonpath={.spec.replicas})" -gt 1 ]'
grep -q 'policy=mcp/cpu event=scale replicas=1->[23] .*reason="cpu_utilization [0-9]*% above target 50%' "$T/c2.log" ||
	fail "scale-up not driven by cpu_utilization: $(grep 'mcp/cpu event=scale' "$T/c2.log")"
ST=$(status_json cpu)
echo "$ST" | grep -Eq '"name":"cpu_utilization","current":[0-9]+' || fail "status without the CPU value: $ST"
# no scraped metric is targeted: the workers' /metrics is never fetched
grep -q 'scrape_failed' "$T/c2.log" && fail "a CPU-only policy scraped /metrics"
wait_for 10 "missing request reported" sh -c \
	'kubectl -n mcp get cm noreq -o jsonpath="{.metadata.annotations.mcp-autoscaler\.io/status}" | grep -q "missing request for cpu in container idle of Pod idle-"'
[ "$(replicas idle)" = 1 ] || fail "target without CPU requests was scaled: $(replicas idle)"
wait_for 10 "missing request Event" sh -c \
	'kubectl -n mcp get events -o jsonpath="{range .items[*]}{.reason} {.involvedObject.name}: {.message}{\"\n\"}{end}" | grep -q "FailedGetResourceMetric noreq: failed to get cpu_utilization: missing request for cpu"'
wait_for 20 "burn at maxReplicas 3" sh -c '[ "$(kubectl -n mcp get deploy burn -o jsonpath={.spec.replicas})" = 3 ]'
kill "$C2"
wait "$C2" || fail "controller did not exit 0 on SIGTERM"
echo "PASS: 73_controller_cpu"

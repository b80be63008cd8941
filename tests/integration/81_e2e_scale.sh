#!/bin/sh
# End to end: the manifests and a load step.
#
# 1. manifests/ parse (kubectl kustomize), pass a server-side dry run and apply
#    unmodified to kubesim; the policy is then tuned with kubectl patch.
# 2. A load step (50 -> 350 -> ramp to 1300 -> 30 req/s through the worker Service, mcp-loadgen)
#    grows the pool first, then the replicas; the P99 of the last seconds of
#    the step is under the policy's targetP99Latency; after the load falls and
#    the scale-down window passes, replicas go back to minReplicas and the pool
#    shrinks; loadgen ends with errors=0 (retried requests are fine).
# 3. Interop: mbpoll writes and reads back a register through the Service
#    every second while the scaling happens; every exchange must succeed.
# 4. RBAC: every (verb, group, resource, subresource) the controller's service
#    account sent (kubesim --audit-log) is granted by the Role, and every
#    granted tuple was used in this run.
set -u
. "$(dirname "$0")/e2e_lib.inc"
command -v mbpoll >/dev/null 2>&1 || { echo "SKIP: mbpoll not installed"; exit 0; }

say "manifests parse"
kubectl kustomize "$E2E_ROOT/manifests" >"$T/kustomized.yaml" 2>&1 || fail "kubectl kustomize: $(cat "$T/kustomized.yaml")"
python3 - "$T/kustomized.yaml" <<'EOF' || fail "kustomize output is not the expected objects"
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
kinds = sorted(d["kind"] + "/" + d["metadata"]["name"] for d in docs)
want = ["ConfigMap/mcp-worker", "Deployment/mcp-autoscaler", "Deployment/mcp-devsim",
        "Deployment/mcp-worker", "Namespace/mcp", "Role/mcp-autoscaler",
        "RoleBinding/mcp-autoscaler", "Service/mcp-autoscaler-metrics", "Service/mcp-devsim",
        "Service/mcp-worker", "ServiceAccount/mcp-autoscaler"]
if kinds != want:
    sys.exit("got %s" % kinds)
EOF

e2e_start_kubesim
say "kubesim on $KS_ADDR:$KPORT"
# A server-side dry run stores nothing: the namespace must not exist afterwards.
kubectl --request-timeout=20s create namespace mcp >/dev/null || fail "create namespace"
kubectl --request-timeout=20s apply --dry-run=server -k "$E2E_ROOT/manifests" >"$T/dry.out" 2>&1 ||
	fail "kubectl apply --dry-run=server -k manifests/: $(cat "$T/dry.out")"
grep -q "deployment.apps/mcp-worker created (server dry run)" "$T/dry.out" || fail "dry run output: $(cat "$T/dry.out")"
kc get deploy mcp-worker >/dev/null 2>&1 && fail "a server-side dry run stored the worker Deployment"
e2e_deploy
say "deployed; worker Service at $SVC:502"

pool0=$(pool_size)
target_ms=$(kc get cm mcp-worker -o jsonpath='{.data.targetP99Latency}' | sed 's/ms$//')
[ "$(replicas)" = 1 ] || fail "expected 1 worker replica at start, got $(replicas)"

# 8 s at 50/s, a step to 350/s (beyond what the initial pool of 2 keeps
# under the occupancy target), a ramp to 1300/s (beyond what one worker's
# largest pool carries), 14 s there, then 30/s for 30 s. A single step to
# 1300/s would overload the one worker until the new pods run: its queue
# waits pass --request-timeout and it sheds with 0x0A (see docs/e2e.md).
loadgen step "hold 50 8s" "hold 350 10s" "ramp 350 1300 20s" "hold 1300 14s" "hold 30 30s"
lg=$LG_PID
echo "t,replicas,ready,pool,mbpoll" >"$T/timeline.csv"
t_pool_up="" t_rep_up="" max_rep=1 max_pool=$pool0 mb_fail=0 mb_n=0 t_down=""
i=0
while kill -0 "$lg" 2>/dev/null; do
	t=$(($(date +%s) - T0))
	r=$(replicas) rd=$(ready_replicas) p=$(pool_size)
	mb=ok
	i=$((i + 1))
	if mbwrite $((1000 + i % 50)) $((i * 7 % 30000)); then :; else mb=fail mb_fail=$((mb_fail + 1)); fi
	mb_n=$((mb_n + 1))
	echo "$t,$r,$rd,$p,$mb" >>"$T/timeline.csv"
	[ -n "$p" ] && [ "$p" -gt "$pool0" ] && [ -z "$t_pool_up" ] && t_pool_up=$t
	[ -n "$r" ] && [ "$r" -gt 1 ] && [ -z "$t_rep_up" ] && t_rep_up=$t
	[ -n "$r" ] && [ "$r" -gt "$max_rep" ] && max_rep=$r
	[ -n "$p" ] && [ "$p" -gt "$max_pool" ] && max_pool=$p
	if [ -n "$t_rep_up" ] && [ -z "$t_down" ] && [ "$r" = 1 ]; then t_down=$t; fi
	[ $(($(date +%s) - T0)) -lt 240 ] || fail "load step did not finish"
	sleep 0.5
done
loadgen_wait step "$lg" 10
say "load done: $(cat "$T/step.out")"
say "pool $pool0 -> max $max_pool (first up at ${t_pool_up:-never}s), replicas max $max_rep (first up at ${t_rep_up:-never}s), back to 1 at ${t_down:-not yet}"

[ -n "$t_pool_up" ] || fail "the pool never grew under load (stayed at $pool0)"
[ -n "$t_rep_up" ] || fail "replicas never grew under load"
[ "$t_pool_up" -le "$t_rep_up" ] || fail "replicas grew (${t_rep_up}s) before the pool (${t_pool_up}s)"
errs=$(summary step errors)
[ "$errs" = 0 ] || fail "loadgen lost requests: $(cat "$T/step.out")"
[ "$mb_fail" = 0 ] || fail "mbpoll failed $mb_fail of $mb_n write/read-backs through the Service while scaling"

# P99 back under target: the median P99 of the last 8 seconds at 1300/s
# (CSV seconds 45..52).
p99=$(awk -F, 'NR > 1 && $1 >= 45 && $1 <= 52 { print $11 }' "$T/step.csv" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
say "median P99 of the step's last 8 s: ${p99} ms (target ${target_ms} ms)"
awk -v p="$p99" -v t="$target_ms" 'BEGIN { exit !(p != "" && p + 0 < t + 0) }' ||
	fail "P99 ${p99} ms at the end of the step is not under the target ${target_ms} ms"

# Scale-down: the load fell at ~52 s; the 10 s window passes, replicas go to 1
# and the pool shrinks below its peak.
wait_for 60 "replicas back to 1 after the load fell" replicas_is 1
shrunk() { p=$(pool_size); [ -n "$p" ] && [ "$p" -lt "$max_pool" ]; }
wait_for 30 "pool shrinks below its peak $max_pool" shrunk
ctl_logs | grep -q 'event=scale replicas=1->' || fail "no scale-up decision line in the controller logs"
ctl_logs | grep -Eq 'event=scale replicas=[0-9]+->1 ' || fail "no scale-down decision line"
say "scaled back: replicas $(replicas), pool $(pool_size)"

# RBAC: used == granted.
rbac_check_used
unused=$(grep -vxFf "$T/rbac.used" "$T/rbac.granted")
[ -z "$unused" ] || fail "the Role grants what the controller never used: $unused"
say "RBAC: $(wc -l <"$T/rbac.used") tuples used, all granted, none unused"
echo "PASS: manifests apply; load step scales pool then replicas and back; P99 ${p99} ms; 0 lost; mbpoll $mb_n/$mb_n; RBAC exact"

#!/bin/sh
# The project's manifests run unmodified on kubesim: `kubectl apply -k
# manifests/` starts the controller (in-cluster config from the mounted
# service-account files), devsim and the worker as local processes; all
# become Ready, the Services get endpoints, the controller writes the pool
# ConfigMap and the worker reads it through its ConfigMap volume. Skips
# without kubectl or when the programs are not built.
. "$(dirname "$0")/kubesim_lib.inc"
for p in mcp-worker mcp-devsim mcp-autoscaler; do
	[ -x "$BIN/$p" ] || { echo "SKIP: $BIN/$p is not built"; exit 0; }
done
ks_fail_hook() { kubectl -n mcp get pods -o wide >&2 2>/dev/null; }
X=$(( 245 + $(rnd) % 3 * 3 ))
ADDR=127.7.$X.1
PORT=$((20000 + $(rnd) % 30000))
export KUBECONFIG=$TMP/kubeconfig
K="kubectl --request-timeout=10s"
# Port 502 needs root; elsewhere the proxy reports the bind failure and the
# rest still runs.
"$BIN/kubesim" --data-dir "$TMP/data" --listen "$ADDR:$PORT" --kubeconfig "$KUBECONFIG" \
	--pod-cidr "127.7.$((X + 1)).0/24" --service-cidr "127.7.$((X + 2)).0/24" \
	--shutdown-grace 3s >"$TMP/kubesim.log" 2>&1 &
PID=$!
ks_wait_up "$ADDR" "$PORT" || fail "kubesim did not come up"
$K apply -k "$ROOT/manifests/" >/dev/null || fail "kubectl apply -k manifests/"
all_ready() {
	out=$($K -n mcp get pods -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}')
	[ "$(echo "$out" | grep -c True)" -eq 4 ] && [ "$(echo "$out" | grep -c .)" -eq 4 ]
}
wait_for 30 "controllers, devsim and the worker ready" all_ready
for s in mcp-devsim mcp-worker mcp-autoscaler-metrics; do
	$K -n mcp get endpoints "$s" -o jsonpath='{.subsets[*].addresses[*].ip}' | grep -q '^127\.7\.' ||
		fail "no endpoints for $s"
done
wait_for 30 "the pool ConfigMap" $K -n mcp get cm mcp-worker-pool
wait_for 30 "the pool file in the worker's volume" sh -c "ls $TMP/data/pods/mcp_mcp-worker-*/volumes/pool/poolSize"
$K -n mcp logs deploy/mcp-autoscaler 2>/dev/null | grep -q "config=in-cluster" ||
	fail "the controller did not start with in-cluster config"
echo "PASS: manifests/ run unmodified on kubesim"

#!/bin/sh
# `make run`: the whole product on a local cluster.
#
# Starts kubesim (a Kubernetes API server whose kubelet runs pods as local
# processes), applies manifests/ unmodified (controller, device simulator,
# workers, policy), drives a load profile through the worker Service (rise,
# burst, hold, fall), and shows the scaling as it happens: the controller's
# decision lines and a live status line. Writes a timeline CSV and a PNG plot.
#
# Runs until Ctrl-C, or for DURATION seconds when set (DURATION=150 plays the
# whole profile once and exits 0). Everything it starts is ended on exit.
#
# Environment: DURATION (s), RUN_DIR (default out/run), API (default
# 127.0.0.1:6443), RATE_SCALE (multiplies the profile's rates, default 1).
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
bin="$top/build/bin"
RUN_DIR=${RUN_DIR:-$top/out/run}
API=${API:-127.0.0.1:6443}
DURATION=${DURATION:-0}
RATE_SCALE=${RATE_SCALE:-1}
NS=mcp

for b in kubesim mcp-worker mcp-devsim mcp-loadgen mcp-autoscaler; do
	if [ ! -x "$bin/$b" ]; then
		echo "make run: $bin/$b is missing; run 'make' first" >&2
		exit 1
	fi
done
command -v kubectl >/dev/null 2>&1 || {
	echo "make run: kubectl not found (make deps installs kubernetes-client)" >&2
	exit 1
}

rm -rf "$RUN_DIR"
mkdir -p "$RUN_DIR"
KCFG="$RUN_DIR/kubeconfig"
export KUBECONFIG="$KCFG"
pids=""

cleanup() {
	trap - EXIT INT TERM
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	if [ -n "${ks_pid:-}" ]; then
		kill "$ks_pid" 2>/dev/null || true
		# kubesim ends every pod it started (SIGTERM, then SIGKILL after the grace period).
		i=0
		while kill -0 "$ks_pid" 2>/dev/null && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
		kill -9 "$ks_pid" 2>/dev/null || true
	fi
	wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 0' INT TERM

echo "== starting kubesim on https://$API (data in $RUN_DIR/kubesim)"
"$bin/kubesim" --data-dir "$RUN_DIR/kubesim" --listen "$API" --kubeconfig "$KCFG" \
	>"$RUN_DIR/kubesim.log" 2>&1 &
ks_pid=$!
i=0
until [ -s "$KCFG" ] && kubectl get --raw /version >/dev/null 2>&1; do
	i=$((i + 1))
	if [ $i -gt 100 ] || ! kill -0 "$ks_pid" 2>/dev/null; then
		echo "make run: kubesim did not come up; see $RUN_DIR/kubesim.log" >&2
		tail -5 "$RUN_DIR/kubesim.log" >&2
		exit 1
	fi
	sleep 0.1
done

echo "== kubectl apply -k manifests/"
kubectl apply -k "$top/manifests" | sed 's/^/   /'

echo "== waiting for the device simulator, a worker and the controller to be ready"
kubectl -n $NS rollout status deploy/mcp-devsim --timeout=60s >/dev/null
kubectl -n $NS rollout status deploy/mcp-worker --timeout=60s >/dev/null
kubectl -n $NS rollout status deploy/mcp-autoscaler --timeout=60s >/dev/null
svc=$(kubectl -n $NS get svc mcp-worker -o jsonpath='{.spec.clusterIP}')
echo "   worker Service at $svc:502"

# Decision lines from both controller replicas (the standby logs that it waits for the lease).
kubectl -n $NS logs -f -l app.kubernetes.io/name=mcp-autoscaler --prefix --max-log-requests=4 \
	2>/dev/null | grep --line-buffered -E 'event=(scale|leader|invalid|fallback)|level=(warn|error)' |
	sed -u 's/^/   /' &
pids="$pids $!"

# Load profile: rise, burst, hold, fall (150 s). Rates are requests per second.
prof="$RUN_DIR/profile.txt"
awk -v k="$RATE_SCALE" '$1 == "hold" { $2 = $2 * k } $1 == "ramp" { $2 = $2 * k; $3 = $3 * k } { print }' \
	"$top/hack/run-profile.txt" >"$prof"
echo "== load profile ($prof): rise, burst, hold, fall"
# The loop runs in a subshell: ending it must end the loadgen it is waiting
# for too (wait returns at once on a trapped signal), or a Ctrl-C or a
# DURATION shorter than the profile would leave loadgen running.
loop_load() {
	lg=""
	trap '[ -n "$lg" ] && kill "$lg" 2>/dev/null; exit 0' TERM INT
	while :; do
		"$bin/mcp-loadgen" --target "$svc:502" --profile "$prof" --connections 32 --max-inflight 256 \
			--csv "$RUN_DIR/load.csv" --quiet >>"$RUN_DIR/loadgen.log" 2>&1 &
		lg=$!
		wait "$lg" || true
		lg=""
		[ "$DURATION" -gt 0 ] && break
	done
}
loop_load &
load_pid=$!
pids="$pids $load_pid"

# Timeline: one line per second; live status line on the terminal.
tl="$RUN_DIR/timeline.csv"
echo "t,load_rps,replicas,ready,pool_size,p99_ms" >"$tl"
start=$(date +%s)
while :; do
	now=$(date +%s)
	t=$((now - start))
	if [ "$DURATION" -gt 0 ] && [ $t -ge "$DURATION" ]; then break; fi
	reps=$(kubectl -n $NS get deploy mcp-worker -o jsonpath='{.spec.replicas} {.status.readyReplicas}' 2>/dev/null || echo "? ?")
	pool=$(kubectl -n $NS get cm mcp-worker-pool -o jsonpath='{.data.poolSize}' 2>/dev/null || true)
	# loadgen's CSV: second,target_rate,sent,ok,...,p50_ms,p99_ms
	last=$(tail -1 "$RUN_DIR/load.csv" 2>/dev/null || true)
	case "$last" in
	[0-9]*)
		load=$(printf '%s' "$last" | cut -d, -f3)
		p99=$(printf '%s' "$last" | cut -d, -f11)
		;;
	*) load= p99= ;;
	esac
	set -- $reps
	printf '%s,%s,%s,%s,%s,%s\n' "$t" "${load:-0}" "${1:-}" "${2:-}" "${pool:-}" "${p99:-}" >>"$tl"
	line=$(printf 't=%3ss load=%5s req/s replicas=%s ready=%s pool=%s p99=%sms' \
		"$t" "${load:-0}" "${1:-?}" "${2:-?}" "${pool:-default}" "${p99:-?}")
	# On a terminal the status line rewrites itself; in a log, one line every 5 s.
	if [ -t 1 ]; then printf '\r   %s      ' "$line"; elif [ $((t % 5)) -eq 0 ]; then echo "   $line"; fi
	sleep 1
done
echo
# With DURATION, let the profile's last second finish so its summary is written.
if [ "$DURATION" -gt 0 ]; then
	i=0
	while kill -0 "$load_pid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.2; i=$((i + 1)); done
fi

if command -v gnuplot >/dev/null 2>&1; then
	gnuplot -e "in='$tl'; out='$RUN_DIR/timeline.png'" "$top/hack/timeline.gp" &&
		echo "== plot: $RUN_DIR/timeline.png"
else
	echo "== gnuplot not found (apt-get install gnuplot-nox) - no plot"
fi
echo "== timeline: $tl"
echo "== loadgen summary: $(tail -1 "$RUN_DIR/loadgen.log" 2>/dev/null)"

#!/bin/sh
# pkg/kube against kubesim over HTTPS: runs the test_kube_live cmocka group
# (CRUD, paging, 409, 429 + Retry-After, 5xx backoff, watch + informer
# recovery after an injected drop, token rotation, a wrong CA rejected,
# Events, /scale, Leases) with kubesim as the backend. Faults and tokens go
# through kubesim's loopback admin endpoint.
set -eu
: "${MCP_BIN:?MCP_BIN must point at build/bin}"
: "${MCP_BUILD:?MCP_BUILD must point at build/<variant>}"
KUBESIM="$MCP_BIN/kubesim"
LIVE="$MCP_BUILD/tests/test_kube_live"
root=$(cd "$(dirname "$0")/../.." && pwd)
if [ ! -x "$KUBESIM" ]; then
	if ls "$root"/hack/kubesim/*.c >/dev/null 2>&1; then
		echo "FAIL: $KUBESIM not built"; exit 1
	fi
	echo "SKIP: hack/kubesim is not in this tree yet"; exit 0
fi
if [ ! -x "$LIVE" ]; then
	# `make integration` builds programs only; the cmocka client lives with the units.
	variant=${MCP_VARIANT:-default}
	san=; [ "$variant" != default ] && san="SANITIZER=$variant"
	# shellcheck disable=SC2086
	make -C "$root" --no-print-directory $san "build/$variant/tests/test_kube_live" >/dev/null ||
		{ echo "FAIL: cannot build $LIVE"; exit 1; }
fi
command -v openssl >/dev/null 2>&1 || { echo "FAIL: openssl is required"; exit 1; }

dir=$(mktemp -d /tmp/kube-int-XXXXXX)
pid=""
cleanup() {
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM

# A random address in the kube area's loopback range 127.4.0.0/16, random ports.
start_kubesim() {
	a=$(( $(od -An -N1 -tu1 /dev/urandom) ))
	b=$(( $(od -An -N1 -tu1 /dev/urandom) % 253 + 1 ))
	port=$(( 20000 + $(od -An -N2 -tu2 /dev/urandom) % 30000 ))
	ip="127.4.$a.$b"
	"$KUBESIM" --data-dir "$dir/data" --listen "$ip:$port" --admin "$ip:$((port + 1))" \
		--kubeconfig "$dir/kubeconfig" --history 16 >"$dir/kubesim.log" 2>&1 &
	pid=$!
	i=0
	while [ $i -lt 100 ]; do
		if grep -q "event=ready" "$dir/kubesim.log" 2>/dev/null; then
			return 0
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			pid=""
			return 1
		fi
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

mkdir -p "$dir/data"
tries=0
until start_kubesim; do
	tries=$((tries + 1))
	if [ $tries -ge 5 ]; then
		echo "FAIL: kubesim did not start:"; cat "$dir/kubesim.log"; exit 1
	fi
	[ -n "$pid" ] && { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=""; }
done

if ! MCP_KUBE_LIVE_KUBECONFIG="$dir/kubeconfig" MCP_KUBE_LIVE_ADMIN="$ip:$((port + 1))" \
	timeout 120 "$LIVE"; then
	echo "FAIL: pkg/kube against kubesim (kubesim log follows)"
	tail -40 "$dir/kubesim.log"
	exit 1
fi
echo "ok: pkg/kube against kubesim"

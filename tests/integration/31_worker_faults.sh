#!/bin/sh
# Gateway exception codes per device fault: 0x04 passed through from the device,
# 0x0B when the device stops answering, 0x0A when no device connection can be
# had (connections closed and refused, breaker open), 0x06 when the queue is full;
# the gateway recovers when the fault clears; the latency histogram times only
# the requests the device answered.
. "$(dirname "$0")/worker_lib.inc"

DS="$MCP_BIN/mcp-devsim"
start_devsim d --max-connections 32
start_worker w "$DEV_d" --pool-size 2 --request-timeout 300ms --breaker-threshold 20 \
	--breaker-open 1s --keepalive 0
wait_ready "$HTTP_w"

# Device exception passes through unchanged.
"$DS" ctl "$CTL_d" fault exception 4 >/dev/null || fail "control port"
out=$(loadgen --target "$GW_w" --rate 100 --duration 1s --connections 2) || true
[ "$(sumval "$out" exception_04)" -ge 50 ] || fail "expected device exception 0x04: $out"

# Device silent: 0x0B (gateway target device failed to respond).
"$DS" ctl "$CTL_d" fault stop >/dev/null
out=$(loadgen --target "$GW_w" --rate 20 --duration 1s --connections 2) || true
[ "$(sumval "$out" exception_0b)" -ge 3 ] || fail "expected 0x0B on a silent device: $out"
[ "$(sumval "$out" timeout)" = 0 ] || fail "the gateway itself must answer within its deadline: $out"
t=$(metric "$HTTP_w" 'mcp_requests_total{result="timeout"}')
[ "${t:-0}" -ge 3 ] || fail "mcp_requests_total timeout=$t"

# Device gone (connections closed, new ones refused): 0x0A, fast.
# First let the silent phase's last exchanges end: the worker keeps a
# connection whose client was answered at its deadline until the device's
# own response timeout (300 ms) passes, and a replacement opened in the
# instant between "close" and "refuse" below would be a healthy connection.
sleep 0.5
"$DS" ctl "$CTL_d" fault refuse >/dev/null
"$DS" ctl "$CTL_d" fault close >/dev/null
"$DS" ctl "$CTL_d" fault refuse >/dev/null
out=$(loadgen --target "$GW_w" --rate 50 --duration 2s --connections 2) || true
[ "$(sumval "$out" exception_0a)" -ge 20 ] || fail "expected 0x0A with the device refusing: $out"
u=$(metric "$HTTP_w" 'mcp_requests_total{result="unavailable"}')
[ "${u:-0}" -ge 20 ] || fail "mcp_requests_total unavailable=$u"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://$HTTP_w/readyz")
[ "$code" = 503 ] || fail "/readyz should be 503 with no device connection, got $code"

# Recovery.
"$DS" ctl "$CTL_d" fault none >/dev/null
wait_ready "$HTTP_w"
out=$(loadgen --target "$GW_w" --rate 100 --duration 1s --connections 2 --expect-no-errors) ||
	fail "no recovery after the fault cleared: $out"

# The latency histogram times only what the device answered: the 0x0B and
# 0x0A above are counted in mcp_requests_total, not in the histogram.
hc=$(metric "$HTTP_w" 'mcp_request_duration_seconds_count')
ok=$(metric "$HTTP_w" 'mcp_requests_total{result="ok"}')
ex=$(metric "$HTTP_w" 'mcp_requests_total{result="exception"}')
[ "$hc" = $((ok + ex)) ] || fail "histogram count $hc, expected ok $ok + exception $ex"

# Queue full: one slow connection, queue of 2, a burst: 0x06.
start_devsim slow --service-time 100ms
start_worker q "$DEV_slow" --pool-size 1 --pool-max 1 --queue-max 2 --request-timeout 3s
wait_ready "$HTTP_q"
out=$(loadgen --target "$GW_q" --rate 200 --duration 1s --connections 4 --timeout 5s) || true
[ "$(sumval "$out" exception_06)" -ge 50 ] || fail "expected 0x06 with the queue full: $out"
[ "$(sumval "$out" ok)" -ge 3 ] || fail "queued requests should still be served: $out"
b=$(metric "$HTTP_q" 'mcp_requests_total{result="busy"}')
[ "${b:-0}" -ge 50 ] || fail "mcp_requests_total busy=$b"
echo "ok: worker exceptions 0x04 0x0B 0x0A 0x06, recovery, histogram times device answers only"

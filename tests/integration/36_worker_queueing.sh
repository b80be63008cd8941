#!/bin/bash
# mcp-worker under queueing (2 device connections, 5 ms service, offered
# more than the 400 req/s they carry): queued requests wait without burning
# CPU, every released connection takes the next queued request at once, and
# overload never opens the breaker (a healthy device is not counted as
# failed). Bounds are generous: outcomes, not timings.
. "$(dirname "$0")/worker_lib.inc"

start_devsim d --service-time 5ms --max-connections 64
start_worker w "$DEV_d" --pool-size 2 --request-timeout 1s
wait_ready "$HTTP_w"
pid=$(eval echo "\$WORKER_PID_w")
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)

# 1 + 2: 450 req/s for 6 s against a capacity of 400 req/s.
c0=$(cpu)
out=$(loadgen --target "$GW_w" --rate 450 --duration 6s --connections 32 --timeout 3s) || true
c1=$(cpu)
ok=$(sumval "$out" ok)
# CPU seconds per second while queueing (spinning was ~0.7).
cps=$(awk -v a="$c0" -v b="$c1" -v hz="$hz" 'BEGIN { printf "%.3f", (b - a) / hz / 6 }')
awk -v c="$cps" 'BEGIN { exit !(c < 0.2) }' || fail "worker burns ${cps} s CPU/s while queueing: $out"
# Throughput: 2 x 5 ms is 400 req/s; it was 283 (breaker trips, lost polls).
[ "${ok:-0}" -ge $((6 * 300)) ] || fail "only $ok ok in 6 s with 2 connections: $out"
other=$(($(sumval "$out" sent) - ok - $(sumval "$out" exception_0a) - $(sumval "$out" exception_06)))
[ "$other" -le 20 ] || fail "outcomes other than ok/0x0A/0x06: $other: $out"
b=$(metric "$HTTP_w" mcp_pool_breaker_open)
[ "${b:-1}" = 0 ] || fail "breaker opened under overload: $out"

# 3: a step from 50 to 900 req/s must not open the breaker.
printf 'hold 50 2s\nhold 900 4s\n' >"$T/step.txt"
loadgen --target "$GW_w" --profile "$T/step.txt" --connections 32 --timeout 3s \
	>"$T/step.out" 2>/dev/null &
lg=$!
up_min=1
while kill -0 "$lg" 2>/dev/null; do
	u=$(metric "$HTTP_w" mcp_device_up)
	[ "${u:-0}" = 1 ] || up_min=0
	sleep 0.2
done
wait "$lg" || true
[ "$up_min" = 1 ] || fail "mcp_device_up fell to 0 during the 50->900 step: $(cat "$T/step.out")"
b=$(metric "$HTTP_w" mcp_pool_breaker_open)
[ "${b:-1}" = 0 ] || fail "breaker open after the step: $(cat "$T/step.out")"
c=$(metric "$HTTP_w" mcp_pool_connects_total)
[ "${c:-99}" -le 2 ] || fail "connections replaced under overload (connects=$c)"
echo "ok: queueing: ${cps} s CPU/s, $ok ok in 6 s at 450 req/s on 2 connections, step 50->900 kept the breaker closed: $(cat "$T/step.out")"

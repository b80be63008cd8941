#!/bin/sh
# --max-client-age closes client connections gracefully, between requests,
# and loses no request: the client reconnects (here to the same worker) and
# re-sends the reads that crossed the close. Every request sent is answered
# ok, and the worker counted the retirements.
. "$(dirname "$0")/worker_lib.inc"

start_devsim d --service-time 5ms --max-connections 32
start_worker w "$DEV_d" --pool-size 8 --max-client-age 700ms --request-timeout 5s
wait_ready "$HTTP_w"

out=$(loadgen --target "$GW_w" --rate 400 --duration 4s --connections 8 --timeout 5s) ||
	fail "loadgen failed: $out"
sent=$(sumval "$out" sent)
for k in conn_error unsent timeout exception mismatch errors; do
	[ "$(sumval "$out" $k)" = 0 ] || fail "$k with client retirement: $out"
done
[ "$sent" -ge 1200 ] || fail "too few requests sent: $out"
[ "$(sumval "$out" ok)" = "$sent" ] || fail "not every request sent was answered ok: $out"
r=$(metric "$HTTP_w" mcp_client_retired_total)
[ "${r:-0}" -ge 8 ] || fail "expected clients retired by age, mcp_client_retired_total=$r"
a=$(metric "$HTTP_w" mcp_client_accepted_total)
[ "${a:-0}" -ge 16 ] || fail "clients should have reconnected, accepted=$a"
echo "ok: max client age retired $r clients (accepted $a), nothing lost: $out"

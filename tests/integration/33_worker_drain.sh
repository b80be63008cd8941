#!/bin/sh
# SIGTERM drain loses no request. Two workers in front of one device (100 ms
# service time, so many requests are in flight at the device), as two pods
# behind a Service; the load generator spreads its connections over both.
# SIGTERM to one: it stops accepting, keeps answering its clients, closes each
# one gracefully between requests, and exits 0 having abandoned nothing. The
# client re-sends the reads it had sent on a closing connection without an
# answer (counted as retried) to the other worker. Every request sent is
# answered ok: no conn_error, unsent, timeout or exception.
. "$(dirname "$0")/worker_lib.inc"

start_devsim d --service-time 100ms --max-connections 40
start_worker a "$DEV_d" --pool-size 16 --drain-grace 4s --request-timeout 5s
start_worker b "$DEV_d" --pool-size 16 --drain-grace 10s --request-timeout 5s
wait_ready "$HTTP_a"
wait_ready "$HTTP_b"

loadgen --target "$GW_a,$GW_b" --rate 100 --duration 6s --connections 8 --timeout 5s \
	>"$T/lg.out" 2>&1 &
LG=$!
PIDS="$PIDS $LG"
sleep 2
inflight=$(metric "$HTTP_a" 'mcp_pool_connections{state="in_use"}')
term_worker a
grep -q "event=drain_start" "$T/worker_a.log" || fail "no drain_start log line"
grep -q "event=drain_timeout" "$T/worker_a.log" && fail "drain ran into its deadline"
answered=$(field "$T/worker_a.log" stopped answered)
abandoned=$(field "$T/worker_a.log" stopped abandoned)
wait "$LG" || fail "loadgen failed: $(cat "$T/lg.out")"
out=$(tail -1 "$T/lg.out")
sent=$(sumval "$out" sent)
[ "$abandoned" = 0 ] || fail "worker abandoned $abandoned requests"
[ "${inflight:-0}" -ge 1 ] || fail "nothing was in flight at SIGTERM (in_use=$inflight)"
for k in conn_error unsent timeout exception mismatch errors; do
	[ "$(sumval "$out" $k)" = 0 ] || fail "$k during drain: $out"
done
[ "$sent" -ge 500 ] || fail "too few requests sent: $out"
[ "$(sumval "$out" ok)" = "$sent" ] || fail "not every request sent was answered ok: $out"
[ "$answered" -ge 1 ] || fail "the drained worker answered nothing"
echo "ok: drain lost nothing (drained worker answered $answered, in_use at SIGTERM: $inflight): $out"

#!/bin/sh
# mcp-worker with several event loops (--threads 3) and fewer device
# connections than loops: loop 0 hands each new client to the loop serving
# the fewest (9 clients: 3 each), every loop borrows from the one pool,
# read-back through any loop sees writes made through another, and
# SIGTERM drains every loop and exits 0 with nothing abandoned.
. "$(dirname "$0")/worker_lib.inc"

start_devsim d --service-time 2ms --max-connections 16
start_worker w "$DEV_d" --pool-size 2 --threads 3 --log-level debug --drain-grace 5s
wait_ready "$HTTP_w"
[ "$(field "$T/worker_w.log" listening threads)" = 3 ] || fail "listening line does not say threads=3"

# 1. 9 connections, write then read back on each one's own block, at about
# half the 2 x 2 ms capacity: no error, no mismatch.
out=$(loadgen --target "$GW_w" --rate 400 --duration 3s --connections 9 --verify --count 10 \
	--address 200 --timeout 3s --expect-no-errors) || fail "verify run had errors: $out"
[ "$(sumval "$out" ok)" -ge 1000 ] || fail "too few verified requests: $out"
[ "$(sumval "$out" mismatch)" = 0 ] || fail "read-back mismatch: $out"
for i in 0 1 2; do
	n=$(grep "event=client_open" "$T/worker_w.log" | grep -c " loop=$i\b" || true)
	[ "$n" = 3 ] || fail "loop $i took $n of the 9 clients (want 3 each)"
done

# 2. Overload (1,500 req/s offered to the pool of 2 shared by three loops):
# every outcome is an answer, 0x0A or 0x06, and the loops' hand-overs keep
# the throughput up. (The order in which loops get connections is checked
# by test_worker's test_loops_share_pool_in_arrival_order.)
out=$(loadgen --target "$GW_w" --rate 1500 --duration 3s --connections 9 --timeout 3s) || true
ok=$(sumval "$out" ok)
[ "$ok" -ge 2000 ] || fail "only $ok ok in 3 s under overload with 3 loops: $out"
other=$(($(sumval "$out" sent) - ok - $(sumval "$out" exception_0a) - $(sumval "$out" exception_06)))
[ "$other" -le 20 ] || fail "outcomes other than ok/0x0A/0x06 under overload: $other: $out"

# 3. SIGTERM under load: all three loops drain, exit 0, nothing abandoned.
loadgen --target "$GW_w" --rate 300 --duration 4s --connections 9 --timeout 3s \
	>"$T/lg.out" 2>&1 &
LG=$!
PIDS="$PIDS $LG"
sleep 1.5
term_worker w
for i in 0 1 2; do
	grep "event=drain_start" "$T/worker_w.log" | grep -q " loop=$i " ||
		fail "loop $i did not drain"
done
grep -q "event=drain_timeout" "$T/worker_w.log" && fail "a loop ran into the drain deadline"
[ "$(field "$T/worker_w.log" stopped abandoned)" = 0 ] || fail "requests abandoned at exit"
wait "$LG" || true
echo "ok: 3 loops, clients 3/3/3, overload ok=$ok, drained: $(tail -1 "$T/lg.out")"

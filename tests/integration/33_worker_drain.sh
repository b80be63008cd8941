#!/bin/sh
# SIGTERM drain: the worker stops accepting, answers every request it has read
# (many are in flight at the device: 150 ms service time), closes and exits 0.
# Every answer the worker wrote reached the client, and no client request timed
# out or got an exception.
. "$(dirname "$0")/worker_lib.inc"

start_devsim d --service-time 150ms --max-connections 32
start_worker w "$DEV_d" --pool-size 16 --drain-grace 10s --request-timeout 5s
wait_ready "$HTTP_w"

loadgen --target "$GW_w" --rate 100 --duration 6s --connections 8 --timeout 5s \
	>"$T/lg.out" 2>&1 &
LG=$!
PIDS="$PIDS $LG"
sleep 2
inflight=$(metric "$HTTP_w" 'mcp_pool_connections{state="in_use"}')
kill -TERM "$WORKER_PID_w"
set +e
timeout 20 sh -c "while kill -0 $WORKER_PID_w 2>/dev/null; do sleep 0.1; done"
wait "$WORKER_PID_w"
rc=$?
set -e
[ $rc = 0 ] || fail "worker exit code $rc after SIGTERM"
grep -q "event=drain_start" "$T/worker_w.log" || fail "no drain_start log line"
answered=$(field "$T/worker_w.log" stopped answered)
abandoned=$(field "$T/worker_w.log" stopped abandoned)
wait "$LG" || true
out=$(tail -1 "$T/lg.out")
got=$(( $(sumval "$out" ok) + $(sumval "$out" exception) ))
[ "$abandoned" = 0 ] || fail "worker abandoned $abandoned requests"
[ "$(sumval "$out" timeout)" = 0 ] || fail "requests timed out during drain: $out"
[ "$(sumval "$out" exception)" = 0 ] || fail "exceptions during drain: $out"
[ "$got" = "$answered" ] || fail "worker answered $answered, client got $got: $out"
[ "${inflight:-0}" -ge 1 ] || fail "nothing was in flight at SIGTERM (in_use=$inflight)"
echo "ok: drain answered $answered requests (in_use at SIGTERM: $inflight), exit 0: $out"

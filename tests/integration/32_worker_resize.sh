#!/bin/sh
# Live pool resize through the pool size file, laid out as kubelet mounts a
# ConfigMap (poolSize -> ..data/poolSize, ..data -> a timestamped dir, swapped
# by rename), under load, with no failed request; a bad value is logged and
# ignored.
. "$(dirname "$0")/worker_lib.inc"

CM="$T/cm"
mkdir -p "$CM"
n=0
# publish VALUE: what kubelet's atomic writer does.
publish() {
	n=$((n + 1))
	mkdir "$CM/..v$n"
	printf '%s' "$1" >"$CM/..v$n/poolSize"
	ln -s "..v$n" "$CM/..data_tmp"
	mv -T "$CM/..data_tmp" "$CM/..data"
	[ -L "$CM/poolSize" ] || ln -s ..data/poolSize "$CM/poolSize"
}
# wait_metric HTTP NAME VALUE: 10 s.
wait_metric() {
	i=0
	while [ "$(metric "$1" "$2")" != "$3" ]; do
		i=$((i + 1))
		[ $i -gt 100 ] && fail "$2 stayed $(metric "$1" "$2"), expected $3"
		sleep 0.1
	done
}

publish 2
start_devsim d --service-time 2ms --max-connections 32
start_worker w "$DEV_d" --pool-size 1 --pool-size-file "$CM/poolSize" --request-timeout 5s
wait_ready "$HTTP_w"
wait_metric "$HTTP_w" mcp_pool_target_size 2

loadgen --target "$GW_w" --rate 400 --duration 8s --connections 8 --timeout 5s \
	--expect-no-errors >"$T/lg.out" 2>&1 &
LG=$!
PIDS="$PIDS $LG"
sleep 1.5
publish 6
wait_metric "$HTTP_w" mcp_pool_target_size 6
wait_metric "$HTTP_w" mcp_pool_size 6
sleep 1
publish 3
wait_metric "$HTTP_w" mcp_pool_target_size 3
sleep 1
publish "twelve"
sleep 1
[ "$(metric "$HTTP_w" mcp_pool_target_size)" = 3 ] || fail "a bad value changed the size"
grep -q 'event=pool_size_file.*value=twelve.*action=ignored' "$T/worker_w.log" ||
	fail "the bad value was not logged"
publish 0
sleep 0.5
[ "$(metric "$HTTP_w" mcp_pool_target_size)" = 3 ] || fail "0 must be refused"
# A plain rewrite (no symlink swap) is seen too.
rm "$CM/poolSize"
printf '5\n' >"$CM/poolSize"
wait_metric "$HTTP_w" mcp_pool_target_size 5
wait "$LG" || fail "requests failed during resize: $(cat "$T/lg.out")"
out=$(tail -1 "$T/lg.out")
[ "$(sumval "$out" ok)" -ge 2800 ] || fail "too few requests: $out"
grep -q "event=pool_resize from=2 to=6" "$T/worker_w.log" || fail "resize not logged"
echo "ok: live pool resize 2 -> 6 -> 3 -> 5 under load, bad values ignored: $out"

#!/bin/sh
# No orphans: every process kubesim starts for a pod (and what that process
# starts in its process group) ends when kubesim is stopped with SIGTERM
# (graceful: the pod's TERM trap runs) and when kubesim is killed with
# SIGKILL (the per-container shim's parent-death signal). Skips without
# kubectl.
. "$(dirname "$0")/kubesim_lib.inc"
MARK=ks51-$$-$(rnd)
marked_pids() {
	grep -l "MARK=$MARK" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3
}
# Never leave anything behind, even when the test fails: kubesim is killed
# (not stopped), then every marked process.
KS_KILL_SIG=KILL
ks_cleanup_hook() {
	for p in $(marked_pids); do kill -9 "$p" 2>/dev/null; done
}
X=$(( 240 + $(rnd) % 5 ))
ADDR=127.7.$X.1
PORT=$((20000 + $(rnd) % 30000))
export KUBECONFIG=$TMP/kubeconfig
K="kubectl --request-timeout=10s"

start() {
	"$BIN/kubesim" --data-dir "$TMP/data" --listen "$ADDR:$PORT" --kubeconfig "$KUBECONFIG" \
		--pod-cidr "127.7.$X.0/25" --service-cidr "127.7.$X.128/25" --shutdown-grace 5s \
		>>"$TMP/kubesim.log" 2>&1 &
	PID=$!
	ks_wait_up "$ADDR" "$PORT" || fail "kubesim did not come up"
}
count() { marked_pids | wc -l; }
wait_count() { # wait_count N SECONDS WHAT
	n=0
	while [ "$(count)" -ne "$1" ]; do
		n=$((n + 1))
		[ $n -lt $(($2 * 5)) ] || fail "$3: $(count) marked processes, want $1"
		sleep 0.2
	done
}

cat >"$TMP/orphans.yaml" <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: sleeper}
spec:
  replicas: 2
  selector: {matchLabels: {app: sleeper}}
  template:
    metadata: {labels: {app: sleeper}}
    spec:
      terminationGracePeriodSeconds: 10
      containers:
      - name: c
        image: x/y/sh:1
        # A background child in the same process group, and a TERM trap
        # that leaves a file behind to prove the graceful path ran.
        command: ["/bin/sh", "-c", "trap 'touch \"\$HOME/../../termed-\$(hostname)\"; exit 0' TERM; sleep 1000 & while :; do sleep 0.2; done"]
        env: [{name: MARK, value: "$MARK"}]
YAML
start
$K apply -f "$TMP/orphans.yaml" >/dev/null || fail "apply"
# 2 pods x (sh + sleep 1000 + the loop's short sleeps): at least 4.
n=0
while [ "$(count)" -lt 4 ]; do
	n=$((n + 1))
	[ $n -lt 100 ] || fail "pods did not start: $(count) processes"
	sleep 0.2
done

echo "before SIGTERM: $(count) processes"
# SIGTERM: kubesim stops every pod gracefully, then exits.
kill -TERM "$PID"
wait "$PID"
rc=$?
PID=""
[ $rc -eq 0 ] || fail "kubesim exited $rc on SIGTERM"
wait_count 0 5 "after SIGTERM"
[ "$(ls "$TMP"/data/pods/ 2>/dev/null | wc -l)" -ge 1 ] || true
ls "$TMP"/data/pods/*/termed-* >/dev/null 2>&1 || ls "$TMP"/data/pods/termed-* >/dev/null 2>&1 ||
	fail "the pods' TERM trap did not run on a graceful stop"

# The pods are restarted from the snapshot; SIGKILL leaves nothing behind.
start
n=0
while [ "$(count)" -lt 4 ]; do
	n=$((n + 1))
	[ $n -lt 100 ] || fail "pods did not restart after a kubesim restart: $(count) processes"
	sleep 0.2
done
echo "before SIGKILL: $(count) processes"
kill -KILL "$PID"
wait "$PID" 2>/dev/null
PID=""
wait_count 0 10 "after SIGKILL"
echo "PASS: kubesim leaves no orphans (SIGTERM and SIGKILL)"

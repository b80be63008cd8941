#!/bin/sh
# Soak (make e2e-long, not part of make test): make run's whole load profile
# (hack/run-profile.txt: rise, burst to 2400 req/s, hold, fall; 150 s) twice
# through the worker Service, on the manifests applied unmodified with the
# default policy. Checks: the burst scales out, losses stay under 1 % of the
# requests (a burst beyond what the running workers carry is shed with
# 0x0A/0x06 until new pods are ready), after the fall the workers go back to
# at most 2 replicas, no controller restarted, and no process survives.
set -u
. "$(dirname "$0")/../integration/e2e_lib.inc"
E2E_POLICY='{"data":{}}' # the manifests' own policy
e2e_start_kubesim
e2e_deploy
say "deployed; worker Service at $SVC:502"
grep -v '^#' "$E2E_ROOT/hack/run-profile.txt" | grep . >"$T/p1"
set --
while read -r l; do set -- "$@" "$l"; done <"$T/p1"
loadgen soak "$@" "$@" "hold 20 90s"
lg=$LG_PID
maxr=1
while kill -0 "$lg" 2>/dev/null; do
	r=$(replicas)
	[ -n "$r" ] && [ "$r" -gt "$maxr" ] && maxr=$r
	sleep 2
done
loadgen_wait soak "$lg" 10
say "load: $(cat "$T/soak.out"); replicas max $maxr, now $(replicas)"
[ "$maxr" -gt 2 ] || fail "the burst did not scale out (max $maxr)"
sent=$(summary soak sent)
errs=$(summary soak errors)
[ $((errs * 100)) -le "$sent" ] || fail "lost $errs of $sent requests (more than 1 %)"
r=$(replicas)
[ "$r" -le 2 ] || fail "replicas $r after the load fell, want <= 2"
n=$(kc get pods -l app.kubernetes.io/name=mcp-autoscaler -o jsonpath='{range .items[*]}{.status.containerStatuses[0].restartCount}{"\n"}{end}' | awk '{ s += $1 } END { print s + 0 }')
[ "$n" = 0 ] || fail "controllers restarted $n times"
rbac_check_used
echo "PASS: soak: 2 x run profile, max $maxr replicas, $errs of $sent lost, back to $r"

#!/bin/sh
# kubesim runs pods (issue 5), driven by the real kubectl: a Deployment of a
# small HTTP server (python3) behind a Service, scaled up and down (processes
# come and go), readiness flipping through an exec probe, a ConfigMap volume
# updated live, $(VAR) expansion and Service env vars, logs (--tail, -f,
# --previous), CrashLoopBackOff with exit codes, image errors, SIGTERM grace
# and SIGKILL after it, metrics.k8s.io (kubectl top). Skips without kubectl
# or python3.
. "$(dirname "$0")/kubesim_lib.inc"
if [ ! -x /usr/bin/python3 ]; then
	echo "SKIP: /usr/bin/python3 is not installed (the test pods use it)"
	exit 0
fi

# Our loopback range is 127.7.0.0/16: API on 127.7.X.1, pods 127.7.X+1.0/24,
# services 127.7.X+2.0/24, X random so parallel runs do not collide.
X=$(( ($(rnd) % 80) * 3 ))
ADDR=127.7.$X.1
PORT=$((20000 + $(rnd) % 30000))
PODNET=127.7.$((X + 1)).0/24
SVCNET=127.7.$((X + 2)).0/24
DATA=$TMP/data
export KUBECONFIG=$TMP/kubeconfig
K="kubectl --request-timeout=10s"

"$BIN/kubesim" --data-dir "$DATA" --listen "$ADDR:$PORT" --kubeconfig "$KUBECONFIG" \
	--pod-cidr "$PODNET" --service-cidr "$SVCNET" --crashloop-backoff 500ms \
	--volume-sync 300ms --metrics-window 500ms --shutdown-grace 3s >"$TMP/kubesim.log" 2>&1 &
PID=$!
ks_wait_up "$ADDR" "$PORT" || fail "kubesim did not come up"

# Processes started by this kubesim carry MARK in their environment.
MARK=ks50-$$-$(rnd)
count_procs() {
	grep -l "MARK=$MARK" /proc/[0-9]*/environ 2>/dev/null | wc -l
}
procs_are() { [ "$(count_procs)" -eq "$1" ]; }
ready_pods() {
	$K get pods -l app=web -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' |
		grep -c True
}
ready_is() { [ "$(ready_pods)" -eq "$1" ]; }
ep_count() {
	$K get endpoints web -o jsonpath='{.subsets[*].addresses[*].ip}' | wc -w
}
ep_is() { [ "$(ep_count)" -eq "$1" ]; }

cat >"$TMP/web.yaml" <<YAML
apiVersion: v1
kind: ConfigMap
metadata: {name: web-config}
data: {greeting: hello}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
      - name: srv
        image: example.com/test/not-a-kubesim-program:1
        command: ["/usr/bin/python3", "-u", "-c"]
        args:
        - |
          import http.server, os, sys
          print("start", os.environ["GREETING"], os.environ.get("WEB_SERVICE_HOST", "-"), flush=True)
          class H(http.server.BaseHTTPRequestHandler):
              def log_message(self, *a): pass
              def do_GET(self):
                  self.send_response(200); self.end_headers()
                  self.wfile.write((os.environ["POD_NAME"] + " " + open(sys.argv[1]).read()).encode())
          http.server.HTTPServer((os.environ["POD_IP"], 8080), H).serve_forever()
        - /etc/web/greeting
        env:
        - {name: MARK, value: "$MARK"}
        - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
        - {name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
        - {name: GREETING, value: "hi-\$(POD_NAME)-\$\$(KEEP)"}
        ports: [{name: http, containerPort: 8080}]
        readinessProbe:
          exec: {command: ["/bin/sh", "-c", "test ! -f \"\$HOME/unready\""]}
          periodSeconds: 1
        livenessProbe: {httpGet: {path: /, port: http}, periodSeconds: 1, failureThreshold: 3}
        volumeMounts: [{name: cfg, mountPath: /etc/web}]
      volumes: [{name: cfg, configMap: {name: web-config}}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 8080, targetPort: http}]
YAML
# The Service first, so the pods see its env vars.
$K apply -f "$TMP/web.yaml" >/dev/null || fail "apply web.yaml"
wait_for 20 "2 ready web pods" ready_is 2
wait_for 10 "2 web processes" procs_are 2
wait_for 10 "2 endpoints" ep_is 2
# The Deployment's status follows the pods' readiness a moment later.
deploy_status_is() {
	[ "$($K get deploy web -o jsonpath='{.status.readyReplicas}/{.status.availableReplicas}/{.status.updatedReplicas}')" = "$1" ]
}
wait_for 10 "deployment status 2/2/2 (ready/available/updated)" deploy_status_is 2/2/2
POD=$($K get pods -l app=web -o jsonpath='{.items[0].metadata.name}')
echo "$POD" | grep -Eq '^web-[a-z0-9]+-[a-z0-9]{5}$' || fail "pod name $POD"
$K get pod "$POD" -o jsonpath='{.status.podIP}' | grep -q "^127\.7\.$((X + 1))\." ||
	fail "pod IP not from the pod CIDR"
$K get pod "$POD" -o jsonpath='{.metadata.ownerReferences[0].kind}' | grep -qx Deployment ||
	fail "ownerReferences"

# Logs: $(VAR) expanded, $$(KEEP) escaped, --tail, deploy/NAME.
$K logs "$POD" | grep -q "^start hi-$POD-\$(KEEP)" || fail "logs/env: $($K logs "$POD")"
$K logs --tail=1 deploy/web | grep -q "^start hi-" || fail "kubectl logs --tail deploy/web"
timeout 3 $K logs -f "$POD" >"$TMP/follow.txt" 2>&1
[ $? -eq 124 ] || fail "kubectl logs -f ended while the container runs"
grep -q "^start" "$TMP/follow.txt" || fail "kubectl logs -f printed nothing"

# The Service spreads new connections over both pods; the ConfigMap file is mounted.
CIP=$($K get svc web -o jsonpath='{.spec.clusterIP}')
echo "$CIP" | grep -q "^127\.7\.$((X + 2))\." || fail "ClusterIP $CIP not from the service CIDR"
: >"$TMP/hits"
for i in 1 2 3 4 5 6; do
	curl -s --max-time 3 "http://$CIP:8080/" >>"$TMP/hits" || fail "curl through the Service"
	echo >>"$TMP/hits"
done
[ "$(cut -d' ' -f1 "$TMP/hits" | sort -u | wc -l)" -eq 2 ] || fail "not spread: $(cat "$TMP/hits")"
grep -q " hello$" "$TMP/hits" || fail "ConfigMap content not served: $(cat "$TMP/hits")"

# ConfigMap change reaches the mounted file (..data swap) within the sync delay.
$K patch cm web-config -p '{"data":{"greeting":"changed"}}' >/dev/null || fail "patch cm"
served_changed() { curl -s --max-time 3 "http://$CIP:8080/" | grep -q " changed$"; }
wait_for 10 "the changed ConfigMap value to be served" served_changed
D=$(ls -d "$DATA"/pods/default_"$POD"_*)
[ -L "$D/volumes/cfg/..data" ] || fail "no ..data symlink in $D/volumes/cfg"

# Readiness flips with the exec probe; the Service drops the pod.
touch "$D/home/unready"
wait_for 10 "1 ready pod" ready_is 1
wait_for 10 "1 endpoint" ep_is 1
rm -f "$D/home/unready"
wait_for 10 "2 ready pods again" ready_is 2
wait_for 10 "2 endpoints again" ep_is 2

# Scale up and down: processes come and go.
$K scale deploy web --replicas=4 >/dev/null || fail "scale to 4"
wait_for 20 "4 web processes" procs_are 4
wait_for 20 "4 ready pods" ready_is 4
$K scale deploy web --replicas=1 >/dev/null || fail "scale to 1"
wait_for 20 "1 web process" procs_are 1
wait_for 10 "1 endpoint after scale-down" ep_is 1

# metrics.k8s.io: kubectl top pod.
wait_for 15 "kubectl top pod" sh -c "$K top pod -l app=web --no-headers | grep -q web-"

cat >"$TMP/misc.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: crash}
spec:
  containers:
  - name: c
    image: x/y/sh:1
    command: ["/bin/sh", "-c", "echo run \$\$; exit 3"]
    env: [{name: MARK, value: "$MARK"}]
---
apiVersion: v1
kind: Pod
metadata: {name: noimage}
spec:
  containers: [{name: c, image: registry.example/none/no-such-program:1}]
---
apiVersion: v1
kind: Pod
metadata: {name: graceful}
spec:
  terminationGracePeriodSeconds: 20
  containers:
  - name: c
    image: x/y/sh:1
    command: ["/bin/sh", "-c", "trap 'echo term; sleep 2; exit 0' TERM; echo up; while :; do sleep 0.2; done"]
    env: [{name: MARK, value: "$MARK"}]
---
apiVersion: v1
kind: Pod
metadata: {name: stubborn}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: c
    image: x/y/sh:1
    command: ["/bin/sh", "-c", "trap '' TERM; sleep 1000 & while :; do sleep 0.2; done"]
    env: [{name: MARK, value: "$MARK"}]
YAML
$K apply -f "$TMP/misc.yaml" >/dev/null || fail "apply misc.yaml"

# CrashLoopBackOff: restarts counted, exit code kept, --previous logs.
restarted() { [ "$($K get pod crash -o jsonpath='{.status.containerStatuses[0].restartCount}')" -ge 2 ]; }
wait_for 20 "crash to restart twice" restarted
$K get pod crash -o jsonpath='{.status.containerStatuses[0].lastState.terminated.exitCode}' |
	grep -qx 3 || fail "lastState exit code"
$K logs --previous crash | grep -q "^run " || fail "kubectl logs --previous"
imgerr() { $K get pod noimage -o jsonpath='{.status.containerStatuses[0].state.waiting.reason}' | grep -Eq 'ErrImagePull|ImagePullBackOff'; }
wait_for 10 "noimage to report an image error" imgerr

# SIGTERM grace: the trapping pod is still Terminating a second after the
# delete, then goes within its 2 s of cleanup; the stubborn one (and its
# background child) is SIGKILLed after its 2 s grace.
running() { $K get pod "$1" -o jsonpath='{.status.phase}' | grep -qx Running; }
wait_for 10 "graceful running" running graceful
wait_for 10 "stubborn running" running stubborn
$K delete pod graceful stubborn --wait=false >/dev/null || fail "delete pods"
sleep 1
$K get pod graceful >/dev/null 2>&1 || fail "graceful vanished at once (no grace)"
$K get pod graceful -o jsonpath='{.metadata.deletionTimestamp}' | grep -q . || fail "no deletionTimestamp"
gone() { ! $K get pod "$1" >/dev/null 2>&1; }
wait_for 15 "graceful to finish" gone graceful
wait_for 15 "stubborn to be killed" gone stubborn
$K delete pod crash noimage --wait=false >/dev/null
$K delete deploy web >/dev/null || fail "delete deploy"
wait_for 20 "no process left" procs_are 0

echo "PASS: kubesim workloads (deployment, service, probes, volumes, logs, grace, metrics)"

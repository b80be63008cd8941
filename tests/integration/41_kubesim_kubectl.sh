#!/bin/sh
# kubesim driven by the machine's real kubectl: apply, get/describe, patch
# (merge, strategic, json), scale, label/annotate, selectors, watch, events,
# dry run, 401, 409, 410, paging, fault injection and a restart that keeps
# the cluster. Skips only when kubectl is not installed.
. "$(dirname "$0")/kubesim_lib.inc"
HERE=$(cd "$(dirname "$0")" && pwd)

DATA=$TMP/data
KC=$TMP/kubeconfig
# Our own loopback range (127.5.0.0/16), random address and port.

start() { # start [extra flags]: (re)starts kubesim on $ADDR:$PORT
	"$BIN/kubesim" --data-dir "$DATA" --listen "$ADDR:$PORT" --kubeconfig "$KC" \
		--admin "$ADDR:$APORT" --snapshot-delay 100ms --history 64 --bookmark-interval 1s \
		"$@" >>"$TMP/kubesim.log" 2>&1 &
	PID=$!
	ks_wait_up "$ADDR" "$PORT"
}

# --help, --version, bad flags.
"$BIN/kubesim" --help >/dev/null || fail "kubesim --help did not exit 0"
"$BIN/kubesim" --version | grep -q kubesim || fail "kubesim --version"
"$BIN/kubesim" --data-dir "$TMP/x" --bogus >/dev/null 2>&1
[ $? -eq 2 ] || fail "an unknown flag must exit 2"
"$BIN/kubesim" >/dev/null 2>&1
[ $? -eq 2 ] || fail "a missing --data-dir must exit 2"
"$BIN/kubesim" --data-dir "$TMP/x" --admin 10.1.2.3:80 >/dev/null 2>&1
[ $? -eq 2 ] || fail "a non-loopback --admin must exit 2"
"$BIN/kubesim" --data-dir "$TMP/x" --faults '{"code":999}' --listen 127.5.0.1:1 >/dev/null 2>&1
[ $? -eq 2 ] || fail "a bad --faults must exit 2"

started=0
for attempt in 1 2 3 4 5; do
	ADDR=127.5.$(($(rnd) % 254 + 1)).$(($(rnd) % 254 + 1))
	PORT=$(($(rnd) % 30000 + 20000))
	APORT=$((PORT + 1))
	if start; then
		started=1
		break
	fi
	kill "$PID" 2>/dev/null
	wait "$PID" 2>/dev/null
done
[ $started -eq 1 ] || fail "kubesim did not start"
echo "kubesim on $ADDR:$PORT (admin $APORT)"

S=https://$ADDR:$PORT
A=http://$ADDR:$APORT
TOKEN=$(cat "$DATA/admin.token")
k() { timeout 30 kubectl --kubeconfig "$KC" --request-timeout=20s "$@"; }
api() { # api METHOD PATH [BODY [CONTENT-TYPE]] -> body in $TMP/body, code in $CODE
	CODE=$(curl -sS --max-time 20 --cacert "$DATA/ca.crt" -o "$TMP/body" -w '%{http_code}' \
		-X "$1" -H "Authorization: Bearer $TOKEN" -H "Content-Type: ${4:-application/json}" \
		${3:+--data-binary "$3"} "$S$2")
}
jget() { python3 -c 'import json,sys
d=json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    d = d[int(k)] if isinstance(d, list) else d.get(k, "")
print(d)' "$TMP/body" "$1"; }

# The kubeconfig is complete: TLS verified against the minted CA.
grep -q certificate-authority-data "$KC" || fail "kubeconfig lacks certificate-authority-data"
k get ns default >/dev/null || fail "kubectl get ns default"
for ns in kube-system kube-public; do k get ns $ns >/dev/null || fail "namespace $ns missing"; done

# apply: every kind of the manifest set is created, then unchanged.
k apply -f "$HERE/kubesim/manifests.yaml" >"$TMP/out" 2>&1 || { cat "$TMP/out"; fail "apply"; }
[ "$(grep -c created "$TMP/out")" -eq 7 ] || { cat "$TMP/out"; fail "apply did not create 7 objects"; }
k apply -f "$HERE/kubesim/manifests.yaml" >"$TMP/out" 2>&1 || fail "re-apply"
[ "$(grep -c unchanged "$TMP/out")" -eq 7 ] || { cat "$TMP/out"; fail "re-apply was not a no-op"; }

# The project's own manifests (kubectl apply -k), when present.
TOP=$(cd "$HERE/../.." && pwd)
if [ -f "$TOP/manifests/Kustomization" ] || [ -f "$TOP/manifests/kustomization.yaml" ]; then
	k apply -k "$TOP/manifests" >"$TMP/out" 2>&1 || { cat "$TMP/out"; fail "apply -k manifests"; }
	grep -q created "$TMP/out" || { cat "$TMP/out"; fail "apply -k created nothing"; }
	k apply -k "$TOP/manifests" >"$TMP/out" 2>&1 || fail "re-apply -k manifests"
	grep -qv unchanged "$TMP/out" && { cat "$TMP/out"; fail "re-apply -k was not a no-op"; }
fi

# apply a change: strategic merge patch from kubectl's three-way diff.
sed 's/replicas: 2/replicas: 3/; s/value: "2"/value: "22"/' "$HERE/kubesim/manifests.yaml" >"$TMP/m2.yaml"
k apply -f "$TMP/m2.yaml" >"$TMP/out" 2>&1 || { cat "$TMP/out"; fail "apply change"; }
grep -q "deployment.apps/worker configured" "$TMP/out" || fail "deployment not configured"
[ "$(k get deploy -n demo worker -o jsonpath='{.spec.replicas}')" = 3 ] || fail "replicas not 3 after apply"
[ "$(k get deploy -n demo worker -o jsonpath='{.spec.template.spec.containers[0].env[1].value}')" = 22 ] ||
	fail "env B not updated by apply"
[ "$(k get deploy -n demo worker -o jsonpath='{.metadata.generation}')" = 2 ] || fail "generation not bumped"

# Server-side validation (kubectl asks fieldValidation=Strict).
cat >"$TMP/bad.yaml" <<'YAML'
apiVersion: v1
kind: ConfigMap
metadata: {name: bad, namespace: demo}
data: {a: b}
spec: {oops: 1}
YAML
if k apply -f "$TMP/bad.yaml" >"$TMP/out" 2>&1; then fail "unknown field accepted"; fi
grep -q 'unknown field "spec"' "$TMP/out" || { cat "$TMP/out"; fail "strict validation message"; }

# get / describe in every output form.
k get deploy -n demo worker -o json | grep -q '"uid"' || fail "get -o json"
k get deploy -n demo worker -o yaml | grep -q 'resourceVersion:' || fail "get -o yaml"
k get deploy -n demo | grep -q '^worker ' || fail "get deploy table"
k get svc -n demo worker | grep -q '502/TCP' || fail "service table"
[ -n "$(k get svc -n demo worker -o jsonpath='{.spec.clusterIP}')" ] || fail "no clusterIP"
k describe deploy -n demo worker | grep -q 'Replicas: *3 desired' || fail "describe deployment"
k get sa,cm,role,rolebinding -n demo >/dev/null || fail "get several kinds"
k get sa -n demo default >/dev/null || fail "namespace lacks its default ServiceAccount"

# patch: strategic (env merges by name), merge, json.
k patch -n demo deploy worker -p '{"spec":{"template":{"spec":{"containers":[{"name":"worker","env":[{"name":"C","value":"3"}]}]}}}}' >/dev/null ||
	fail "strategic patch"
[ "$(k get deploy -n demo worker -o jsonpath='{.spec.template.spec.containers[0].env[*].name}')" = "A B C" ] ||
	fail "strategic patch did not merge env by name"
k patch -n demo cm policy --type=merge -p '{"data":{"maxReplicas":"12"}}' >/dev/null || fail "merge patch"
k patch -n demo cm policy --type=json -p '[{"op":"add","path":"/data/x","value":"y"}]' >/dev/null || fail "json patch"
[ "$(k get cm -n demo policy -o jsonpath='{.data.maxReplicas}/{.data.x}')" = "12/y" ] || fail "patch results"
if k patch -n demo cm policy --type=json -p '[{"op":"test","path":"/data/x","value":"no"}]' >/dev/null 2>&1; then
	fail "failed json patch test op accepted"
fi

# edit: kubectl computes a patch from the edited copy.
EDITOR="sed -i s/maxReplicas:.*/maxReplicas:\ \"20\"/" k edit -n demo cm policy >/dev/null 2>&1 || fail "kubectl edit"
[ "$(k get cm -n demo policy -o jsonpath='{.data.maxReplicas}')" = 20 ] || fail "edit not applied"

# scale through /scale.
k scale -n demo deploy/worker --replicas=5 >/dev/null || fail "scale"
[ "$(k get deploy -n demo worker -o jsonpath='{.spec.replicas}')" = 5 ] || fail "scale not applied"
api GET /apis/apps/v1/namespaces/demo/deployments/worker/scale
[ "$CODE" = 200 ] && [ "$(jget spec.replicas)" = 5 ] && [ "$(jget status.selector)" = app=worker ] ||
	fail "GET scale ($CODE)"
# PUT scale with the Scale's resourceVersion (retried: the Deployment
# controller writes status concurrently), then with a stale one.
ok=0
for attempt in 1 2 3 4 5; do
	api GET /apis/apps/v1/namespaces/demo/deployments/worker/scale
	SRV=$(jget metadata.resourceVersion)
	api PUT /apis/apps/v1/namespaces/demo/deployments/worker/scale "{\"kind\":\"Scale\",\"apiVersion\":\"autoscaling/v1\",\"metadata\":{\"name\":\"worker\",\"namespace\":\"demo\",\"resourceVersion\":\"$SRV\"},\"spec\":{\"replicas\":6}}"
	if [ "$CODE" = 200 ]; then ok=1; break; fi
	[ "$CODE" = 409 ] || fail "PUT scale gave $CODE"
done
[ $ok = 1 ] && [ "$(jget spec.replicas)" = 6 ] || fail "PUT scale did not succeed"
api PUT /apis/apps/v1/namespaces/demo/deployments/worker/scale '{"metadata":{"name":"worker","resourceVersion":"1"},"spec":{"replicas":7}}'
[ "$CODE" = 409 ] || fail "PUT scale with a stale resourceVersion gave $CODE"
# /status writes change only status; main writes keep it (a Service: no
# controller writes its status).
api PATCH /api/v1/namespaces/demo/services/worker/status '{"status":{"loadBalancer":{"ingress":[{"ip":"127.5.0.1"}]}},"spec":{"type":"NodePort"}}' application/merge-patch+json
[ "$CODE" = 200 ] && [ "$(jget status.loadBalancer.ingress.0.ip)" = 127.5.0.1 ] && [ "$(jget spec.type)" = ClusterIP ] ||
	fail "PATCH service status ($CODE)"
api PATCH /api/v1/namespaces/demo/services/worker '{"status":{"loadBalancer":{}}}' application/merge-patch+json
[ "$(jget status.loadBalancer.ingress.0.ip)" = 127.5.0.1 ] || fail "a main-resource patch changed status"
k scale -n demo deploy/worker --replicas=5 >/dev/null || fail "scale back"
api PATCH /apis/apps/v1/namespaces/demo/deployments/worker/scale '{"spec":{"replicas":-1}}' application/merge-patch+json
[ "$CODE" = 422 ] || fail "negative replicas via scale gave $CODE, want 422"

# label / annotate and selectors.
k label -n demo cm policy tier=gold >/dev/null || fail "label"
k annotate -n demo deploy worker note=hello >/dev/null || fail "annotate"
[ "$(k get deploy -n demo worker -o jsonpath='{.metadata.annotations.note}')" = hello ] || fail "annotation"
[ "$(k get cm -n demo -l 'tier in (gold,silver),!missing' -o name)" = configmap/policy ] || fail "set-based selector"
[ -z "$(k get cm -n demo -l 'tier notin (gold)' -o name)" ] || fail "notin selector"
[ "$(k get cm -n demo -l tier!=bronze,mcp-autoscaler.io/policy=true -o name)" = configmap/policy ] || fail "!= selector"
[ "$(k get cm -n demo --field-selector metadata.name=policy -o name)" = configmap/policy ] || fail "field selector"
api GET '/api/v1/namespaces/demo/configmaps?labelSelector=tier+in+(gold'
[ "$CODE" = 400 ] || fail "bad selector gave $CODE, want 400"

# Paging with limit/continue.
for i in 1 2 3; do k create -n demo -f - >/dev/null <<YAML || fail "create page-$i"
apiVersion: v1
kind: ConfigMap
metadata: {name: page-$i, labels: {page: "yes"}}
YAML
done
api GET '/api/v1/namespaces/demo/configmaps?labelSelector=page%3Dyes&limit=2'
[ "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(len(d["items"]), d["metadata"]["remainingItemCount"])' "$TMP/body")" = "2 1" ] ||
	fail "first page"
CONT=$(jget metadata.continue)
api GET "/api/v1/namespaces/demo/configmaps?labelSelector=page%3Dyes&limit=2&continue=$CONT"
[ "$(jget items.0.metadata.name)" = page-3 ] || fail "second page"
[ -z "$(jget metadata.continue)" ] || fail "last page has a continue token"

# kubectl's generators send protobuf bodies (typed clients).
k create ns gen >/dev/null || fail "kubectl create ns (protobuf)"
k create cm gcm -n gen --from-literal=a=b >/dev/null || fail "kubectl create configmap (protobuf)"
k create secret generic gs -n gen --from-literal=pw=x >/dev/null || fail "kubectl create secret (protobuf)"
k create deployment gd -n gen --image=example.org/x:1 --replicas=0 >/dev/null || fail "kubectl create deployment (protobuf)"
k expose deployment gd -n gen --port=80 >/dev/null || fail "kubectl expose (protobuf)"
k run gp -n gen --image=busybox --command -- sleep 1 >/dev/null || fail "kubectl run (protobuf)"
[ "$(k get cm -n gen gcm -o jsonpath='{.data.a}')" = b ] || fail "protobuf configmap data"
[ "$(k get secret -n gen gs -o jsonpath='{.type}/{.data.pw}')" = "Opaque/eA==" ] || fail "protobuf secret"
[ "$(k get deploy -n gen gd -o jsonpath='{.spec.replicas}/{.spec.template.spec.containers[0].image}')" = "0/example.org/x:1" ] ||
	fail "protobuf deployment (replicas 0 must survive)"
[ -n "$(k get svc -n gen gd -o jsonpath='{.spec.clusterIP}')" ] || fail "exposed service has no clusterIP"
[ "$(k get pod -n gen gp -o jsonpath='{.spec.containers[0].command[0]}')" = sleep ] || fail "kubectl run pod"
if k create role r -n gen --verb=get --resource=pods >"$TMP/out" 2>&1; then fail "protobuf Role accepted"; fi
grep -q UnsupportedMediaType "$TMP/out" || { cat "$TMP/out"; fail "unsupported protobuf kind message"; }

[ "$(k auth can-i patch deployments -n demo)" = yes ] || fail "kubectl auth can-i"

# Server-side dry run stores nothing.
k create configmap dry -n demo --from-literal=a=b --dry-run=client -o yaml >"$TMP/dry.yaml"
k apply --dry-run=server -f "$TMP/dry.yaml" >/dev/null || fail "dry-run=server apply"
if k get cm -n demo dry >/dev/null 2>&1; then fail "dry run stored the object"; fi

# watch: kubectl get --watch sees the changes (bounded by timeout).
timeout 8 kubectl --kubeconfig "$KC" get cm -n demo -w -o name >"$TMP/watch" 2>&1 &
BG="$BG $!"
timeout 8 kubectl --kubeconfig "$KC" get deploy -n demo -w >"$TMP/watch2" 2>&1 &
BG="$BG $!"
sleep 2
k label -n demo cm page-1 watched=yes >/dev/null || fail "label during watch"
k delete -n demo cm page-2 >/dev/null || fail "delete during watch"
k scale -n demo deploy/worker --replicas=4 >/dev/null || fail "scale during watch"
i=0
while [ $i -lt 60 ] && [ "$(grep -c 'configmap/page-' "$TMP/watch")" -lt 5 ]; do sleep 0.1; i=$((i + 1)); done
[ "$(grep -c 'configmap/page-1' "$TMP/watch")" -ge 2 ] || { cat "$TMP/watch"; fail "watch missed page-1's change"; }
[ "$(grep -c 'configmap/page-2' "$TMP/watch")" -ge 2 ] || { cat "$TMP/watch"; fail "watch missed page-2's deletion"; }
grep -q '^worker ' "$TMP/watch2" || { cat "$TMP/watch2"; fail "table watch of deployments printed nothing"; }

# Watch from a resourceVersion with bookmarks, over HTTP.
api GET /api/v1/namespaces/demo/configmaps
RV=$(jget metadata.resourceVersion)
curl -sS -N --max-time 12 --cacert "$DATA/ca.crt" -H "Authorization: Bearer $TOKEN" \
	"$S/api/v1/namespaces/demo/configmaps?watch=1&resourceVersion=$RV&allowWatchBookmarks=true" >"$TMP/w3" 2>/dev/null &
BG="$BG $!"
sleep 1
k label -n demo cm page-3 after=rv >/dev/null
# The event comes at once, a bookmark within a bookmark interval or two: poll for up to 10 s
# rather than racing a loaded machine.
i=0
until grep -q '"type":"MODIFIED".*page-3' "$TMP/w3" && grep -q '"type":"BOOKMARK"' "$TMP/w3"; do
	i=$((i + 1))
	[ $i -le 50 ] || break
	sleep 0.2
done
grep -q '"type":"MODIFIED".*page-3' "$TMP/w3" || { cat "$TMP/w3"; fail "watch from rv missed MODIFIED"; }
grep -q '"type":"BOOKMARK"' "$TMP/w3" || { cat "$TMP/w3"; fail "no BOOKMARK on an idle watch"; }
grep -q 'page-1' "$TMP/w3" && fail "watch from rv replayed older objects"

# Events, both APIs.
api POST /apis/events.k8s.io/v1/namespaces/demo/events '{"metadata":{"name":"ev1"},"regarding":{"kind":"Deployment","name":"worker","namespace":"demo"},"reason":"SuccessfulRescale","note":"New size: 5; reason: test","type":"Normal","eventTime":"2026-01-01T00:00:00.000000Z","reportingController":"mcp-autoscaler","reportingInstance":"t","action":"Scale"}'
[ "$CODE" = 201 ] || fail "create events.k8s.io Event: $CODE"
api POST /api/v1/namespaces/demo/events '{"metadata":{"name":"ev2"},"involvedObject":{"kind":"ConfigMap","name":"policy","namespace":"demo"},"reason":"PoolResized","message":"pool 8->16","type":"Normal","count":1}'
[ "$CODE" = 201 ] || fail "create core Event: $CODE"
cat >"$TMP/ev.yaml" <<'YAML'
apiVersion: events.k8s.io/v1
kind: Event
metadata: {name: ev3, namespace: demo}
eventTime: "2026-01-01T00:00:00.000000Z"
reportingController: test
reportingInstance: t
action: Apply
reason: AppliedByKubectl
note: applied with strict validation
type: Normal
regarding: {kind: ConfigMap, name: policy, namespace: demo}
YAML
k apply -f "$TMP/ev.yaml" >/dev/null || fail "kubectl apply of an events.k8s.io Event"
k get events -n demo >"$TMP/ev" || fail "get events"
grep -q AppliedByKubectl "$TMP/ev" || { cat "$TMP/ev"; fail "applied event not listed"; }
grep -q SuccessfulRescale "$TMP/ev" && grep -q PoolResized "$TMP/ev" || { cat "$TMP/ev"; fail "events not listed"; }
api GET /apis/events.k8s.io/v1/namespaces/demo/events/ev2
[ "$(jget note)" = "pool 8->16" ] || fail "core Event not converted to events.k8s.io"

# Leases (leader election).
api POST /apis/coordination.k8s.io/v1/namespaces/demo/leases '{"metadata":{"name":"leader"},"spec":{"holderIdentity":"a","leaseDurationSeconds":15}}'
[ "$CODE" = 201 ] || fail "create lease: $CODE"
LRV=$(jget metadata.resourceVersion)

# 401 for a bad or missing token.
CODE=$(curl -s -o "$TMP/body" -w '%{http_code}' --cacert "$DATA/ca.crt" -H "Authorization: Bearer nope" "$S/api/v1/pods")
[ "$CODE" = 401 ] && [ "$(jget reason)" = Unauthorized ] || fail "bad token gave $CODE"
CODE=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$DATA/ca.crt" "$S/api/v1/pods")
[ "$CODE" = 401 ] || fail "missing token gave $CODE"
sed "s/token: .*/token: wrong/" "$KC" >"$TMP/badkc"
if timeout 20 kubectl --kubeconfig "$TMP/badkc" get pods >"$TMP/out" 2>&1; then fail "kubectl with a bad token succeeded"; fi
grep -qi unauthorized "$TMP/out" || { cat "$TMP/out"; fail "kubectl bad token message"; }

# 409: stale update (optimistic concurrency) and create of an existing object.
api PUT /apis/coordination.k8s.io/v1/namespaces/demo/leases/leader "{\"metadata\":{\"name\":\"leader\",\"resourceVersion\":\"$LRV\"},\"spec\":{\"holderIdentity\":\"b\"}}"
[ "$CODE" = 200 ] || fail "update lease with current rv: $CODE"
api PUT /apis/coordination.k8s.io/v1/namespaces/demo/leases/leader "{\"metadata\":{\"name\":\"leader\",\"resourceVersion\":\"$LRV\"},\"spec\":{\"holderIdentity\":\"c\"}}"
[ "$CODE" = 409 ] && [ "$(jget reason)" = Conflict ] || fail "stale update gave $CODE, want 409 Conflict"
api POST /apis/coordination.k8s.io/v1/namespaces/demo/leases '{"metadata":{"name":"leader"}}'
[ "$CODE" = 409 ] && [ "$(jget reason)" = AlreadyExists ] || fail "duplicate create gave $CODE"

# 404 / 405 / 415 / 422.
api GET /api/v1/namespaces/demo/configmaps/none
[ "$CODE" = 404 ] && [ "$(jget reason)" = NotFound ] || fail "missing object gave $CODE"
api GET /apis/apps/v1/namespaces/demo/widgets
[ "$CODE" = 404 ] || fail "unknown resource gave $CODE"
api POST /api/v1/namespaces/demo/configmaps/policy '{}'
[ "$CODE" = 405 ] || fail "POST on an object gave $CODE"
api PATCH /api/v1/namespaces/demo/configmaps/policy '{}' text/plain
[ "$CODE" = 415 ] || fail "unknown patch type gave $CODE"
api POST /apis/apps/v1/namespaces/demo/deployments '{"metadata":{"name":"nosel"},"spec":{"template":{}}}'
[ "$CODE" = 422 ] && [ "$(jget reason)" = Invalid ] || fail "invalid deployment gave $CODE"
api POST /api/v1/namespaces/nowhere/configmaps '{"metadata":{"name":"x"}}'
[ "$CODE" = 404 ] || fail "create in a missing namespace gave $CODE"

# 410 Gone: more writes than the history keeps (--history 64).
i=0
while [ $i -lt 70 ]; do
	api PATCH /apis/coordination.k8s.io/v1/namespaces/demo/leases/leader "{\"spec\":{\"leaseTransitions\":$i}}" application/merge-patch+json
	i=$((i + 1))
done
api GET "/api/v1/namespaces/demo/configmaps?watch=1&resourceVersion=$RV"
[ "$CODE" = 410 ] && [ "$(jget reason)" = Expired ] || fail "old resourceVersion gave $CODE, want 410 Expired"

# Fault injection.
FC=$(curl -s -o "$TMP/body" -w '%{http_code}' -X POST "$A/faults" -d '{"verb":"get","resource":"configmaps","code":503,"retryAfter":2,"count":1}')
[ "$FC" = 200 ] || fail "POST /faults: $FC"
H=$(curl -s -D - -o /dev/null --cacert "$DATA/ca.crt" -H "Authorization: Bearer $TOKEN" "$S/api/v1/namespaces/demo/configmaps/policy")
echo "$H" | grep -q '^HTTP/1.1 503' || fail "injected 503 missing"
echo "$H" | grep -qi '^Retry-After: 2' || fail "Retry-After missing"
api GET /api/v1/namespaces/demo/configmaps/policy
[ "$CODE" = 200 ] || fail "count-limited fault fired twice"
curl -s -X POST "$A/faults" -d '{"verb":"list","code":429,"retryAfter":1,"rate":1}' >/dev/null
api GET /api/v1/namespaces/demo/configmaps
[ "$CODE" = 429 ] || fail "injected 429 missing ($CODE)"
curl -s -X DELETE "$A/faults" >/dev/null
api GET /api/v1/namespaces/demo/configmaps
[ "$CODE" = 200 ] || fail "faults not cleared"
# A rule with a user fires for that user's requests only.
curl -s -X POST "$A/faults" -d '{"verb":"get","code":500,"user":"system:serviceaccount:demo:other"}' >/dev/null
api GET /api/v1/namespaces/demo/configmaps/policy
[ "$CODE" = 200 ] || fail "a fault rule for another user fired for kubesim-admin ($CODE)"
curl -s -X POST "$A/faults" -d '{"verb":"get","code":500,"user":"kubesim-admin"}' >/dev/null
api GET /api/v1/namespaces/demo/configmaps/policy
[ "$CODE" = 500 ] || fail "a fault rule for kubesim-admin did not fire ($CODE)"
curl -s -X DELETE "$A/faults" >/dev/null
FC=$(curl -s -o "$TMP/body" -w '%{http_code}' -X POST "$A/faults" -d '{"code":418}')
[ "$FC" = 400 ] || fail "a bad fault rule gave $FC"
curl -sS -N --max-time 15 --cacert "$DATA/ca.crt" -H "Authorization: Bearer $TOKEN" \
	"$S/api/v1/namespaces/demo/configmaps?watch=1" >/dev/null 2>&1 &
WPID=$!
BG="$BG $WPID"
sleep 1
curl -s -X POST "$A/faults" -d '{"dropWatches":true}' >/dev/null
i=0
while [ $i -lt 50 ] && kill -0 $WPID 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
kill -0 $WPID 2>/dev/null && fail "dropWatches did not end the watch stream"
curl -s -X POST "$A/faults" -d '{"outage":2}' >/dev/null
api GET /api
[ "$CODE" = 503 ] || fail "outage: /api gave $CODE"
sleep 2.5
api GET /api
[ "$CODE" = 200 ] || fail "outage did not end ($CODE)"
curl -s -X POST "$A/faults" -d '{"verb":"get","resource":"deployments","latencyMs":800}' >/dev/null
T0=$(date +%s%N)
api GET /apis/apps/v1/namespaces/demo/deployments/worker
T1=$(date +%s%N)
[ $(((T1 - T0) / 1000000)) -ge 700 ] || fail "latency not injected"
curl -s -X DELETE "$A/faults" >/dev/null

# Service-account tokens minted on the admin endpoint authenticate.
SAT=$(curl -s -X POST "$A/tokens" -d '{"namespace":"demo","serviceAccount":"worker"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
CODE=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$DATA/ca.crt" -H "Authorization: Bearer $SAT" "$S/api/v1/namespaces/demo/configmaps")
[ "$CODE" = 200 ] || fail "service-account token gave $CODE"

# A watch whose client hung up ends on the server too (no thread left behind).
T0=$(ls /proc/$PID/task | wc -l)
for i in 1 2 3; do timeout 1 kubectl --kubeconfig "$KC" get cm -n kube-public -w >/dev/null 2>&1; done
sleep 2.5
T1=$(ls /proc/$PID/task | wc -l)
[ "$T1" -le "$T0" ] || fail "idle watch streams of gone clients kept their threads ($T0 -> $T1)"

# Restart: SIGTERM ends kubesim cleanly (even with a watch open) and the
# snapshot brings the cluster back.
timeout 30 kubectl --kubeconfig "$KC" get cm -n demo -w >/dev/null 2>&1 &
BG="$BG $!"
sleep 1
api GET /apis/apps/v1/namespaces/demo/deployments/worker
UID1=$(jget metadata.uid)
kill -TERM "$PID"
i=0
while [ $i -lt 100 ] && kill -0 "$PID" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
kill -0 "$PID" 2>/dev/null && fail "kubesim did not exit within 10s of SIGTERM"
wait "$PID"
[ $? -eq 0 ] || fail "kubesim exited non-zero after SIGTERM"
[ -s "$DATA/state.json" ] || fail "no snapshot written"
start || fail "kubesim did not restart"
[ "$(k get deploy -n demo worker -o jsonpath='{.spec.replicas}/{.metadata.uid}')" = "4/$UID1" ] ||
	fail "deployment not restored by the snapshot"
[ "$(k get cm -n demo policy -o jsonpath='{.metadata.labels.tier}')" = gold ] || fail "labels not restored"
CODE=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$DATA/ca.crt" -H "Authorization: Bearer $SAT" "$S/api/v1/namespaces/demo/configmaps")
[ "$CODE" = 200 ] || fail "service-account token lost over restart"
api POST /api/v1/namespaces/demo/configmaps '{"metadata":{"name":"after-restart"}}'
[ "$CODE" = 201 ] || fail "create after restart"
[ "$(jget metadata.resourceVersion)" -gt "$LRV" ] || fail "resourceVersion went backwards after restart"

# delete: object, then the namespace takes everything in it.
k delete -n demo deploy worker >/dev/null || fail "delete deployment"
if k get deploy -n demo worker >/dev/null 2>&1; then fail "deployment still there"; fi
k delete ns demo >/dev/null || fail "delete namespace"
api GET /api/v1/namespaces/demo/configmaps/policy
[ "$CODE" = 404 ] || fail "namespace deletion left its objects ($CODE)"

echo "PASS: kubesim + kubectl"

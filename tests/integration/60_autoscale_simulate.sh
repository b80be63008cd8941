#!/bin/sh
# mcp-autoscaler simulate end to end: the example model and trace through the
# real binary; outputs must make sense (replicas rise during the burst, fall
# after, stay within bounds and the connection budget), bad inputs give a clear
# error and exit 2, --plot writes a PNG when gnuplot is installed.
set -u
BIN=${MCP_BIN:?MCP_BIN must point at build/bin}
HERE=$(cd "$(dirname "$0")/../.." && pwd)
EX="$HERE/docs/examples"
command -v python3 >/dev/null 2>&1 || { echo "SKIP: python3 is needed to check the JSON output"; exit 0; }
TMP=$(mktemp -d /tmp/mcp-it60.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
T="timeout 120"

# --help, --version; the daemon without any Kubernetes configuration fails with a clear error
$T "$BIN/mcp-autoscaler" --help >"$TMP/help" || fail "--help exit $?"
grep -q simulate "$TMP/help" || fail "--help does not mention simulate"
$T "$BIN/mcp-autoscaler" --version | grep -q '^mcp-autoscaler [0-9]' || fail "--version"
env -u KUBECONFIG HOME="$TMP" KUBERNETES_SERVICE_HOST= $T "$BIN/mcp-autoscaler" 2>"$TMP/err"; rc=$?
[ $rc -ne 0 ] || fail "daemon without configuration: exit 0"
grep -q "event=config_failed" "$TMP/err" || fail "daemon without configuration: message"
$T "$BIN/mcp-autoscaler" simulate 2>"$TMP/err"; rc=$?
[ $rc -eq 2 ] || fail "simulate without --policy: exit $rc, want 2"
grep -q -- "--policy" "$TMP/err" || fail "simulate without --policy: message"
$T "$BIN/mcp-autoscaler" simulate --help >"$TMP/shelp" || fail "simulate --help"
grep -q -- "--connectionBudget" "$TMP/shelp" || fail "simulate --help lacks the policy reference"

# the model: replicas and pool fed back
$T "$BIN/mcp-autoscaler" simulate --policy "$EX/policy.yaml" --model "$EX/model.json" \
	>"$TMP/model.jsonl" 2>"$TMP/err" || fail "model run: exit $? $(cat "$TMP/err")"
python3 - "$TMP/model.jsonl" <<'PY' || exit 1
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def fail(m):
    print("FAIL: model: " + m, file=sys.stderr); sys.exit(1)
if len(rows) != 241: fail("%d lines, want 241 (20m at 5s)" % len(rows))
for r in rows:
    d, p = r["desiredReplicas"], r["desiredPoolSize"]
    if not (1 <= d <= 8): fail("t=%s desiredReplicas %d outside [1, 8]" % (r["t"], d))
    if not (2 <= p <= 16): fail("t=%s desiredPoolSize %d outside [2, 16]" % (r["t"], p))
    if d * p > 96: fail("t=%s %d x %d above connectionBudget 96" % (r["t"], d, p))
    if [c["type"] for c in r["conditions"]] != ["AbleToScale", "ScalingActive", "ScalingLimited"]:
        fail("conditions %s" % r["conditions"])
    if not r["reason"]: fail("empty reason at t=%s" % r["t"])
before = max(r["desiredReplicas"] for r in rows if r["t"] < 120)
burst = max(r["desiredReplicas"] for r in rows if 480 <= r["t"] < 600)
end = rows[-1]["desiredReplicas"]
pool_first = max(r["desiredPoolSize"] for r in rows if r["t"] < 240)
if not burst > before: fail("replicas do not rise in the burst (%d -> %d)" % (before, burst))
if not end < burst: fail("replicas do not fall after the burst (%d -> %d)" % (burst, end))
if not pool_first > 2: fail("the pool never grew before pods were added")
if not any(r["burst"] for r in rows): fail("burst mode never engaged")
if not any(c["reason"] == "ConnectionBudget" for r in rows for c in r["conditions"]):
    fail("connectionBudget never bound")
print("model: before %d, burst %d, end %d replicas; pool grew to %d first" % (before, burst, end, pool_first))
PY

# the trace: replicas from the recording
$T "$BIN/mcp-autoscaler" simulate --policy "$EX/policy.yaml" --trace "$EX/trace.jsonl" \
	>"$TMP/trace.jsonl" 2>"$TMP/err" || fail "trace run: exit $? $(cat "$TMP/err")"
python3 - "$TMP/trace.jsonl" "$EX/trace.jsonl" <<'PY' || exit 1
import json, sys
out = [json.loads(l) for l in open(sys.argv[1])]
inp = [json.loads(l) for l in open(sys.argv[2])]
def fail(m):
    print("FAIL: trace: " + m, file=sys.stderr); sys.exit(1)
if len(out) != len(inp): fail("%d output lines for %d input lines" % (len(out), len(inp)))
for o, i in zip(out, inp):
    if o["t"] != i["t"] or o["replicas"] != i["replicas"] or o["poolSize"] != i["poolSize"]:
        fail("t=%s: output does not echo the input" % i["t"])
    if not (1 <= o["desiredReplicas"] <= 8): fail("t=%s outside bounds" % o["t"])
burst = [o["desiredReplicas"] for o in out if 100 <= o["t"] < 160]
after = [o["desiredReplicas"] for o in out if o["t"] >= 260]
if min(burst) <= 2: fail("no scale-up during the burst: %s" % burst)
if max(after) > 3: fail("no scale-down after the burst: %s" % after)
if not any("p99_latency" in o["reason"] for o in out if 100 <= o["t"] < 160):
    fail("the burst reason does not name p99_latency")
print("trace: burst desired %d..%d, after %d" % (min(burst), max(burst), max(after)))
PY

# fallback: every scrape fails for 2 minutes; after 3 failed rounds go to
# fallbackReplicas (2), come back after 3 good rounds
cat >"$TMP/fail.json" <<'JSON'
{"duration": "10m", "step": "5s", "serviceTime": "10ms", "startupDelay": "10s",
 "initialReplicas": 4, "initialPoolSize": 12, "seed": 3,
 "load": [{"at": 0, "rate": 3000}], "failScrapes": {"from": "5m", "to": "7m"}}
JSON
$T "$BIN/mcp-autoscaler" simulate --policy "$EX/policy.yaml" --model "$TMP/fail.json" \
	>"$TMP/fail.jsonl" 2>"$TMP/err" || fail "fallback run: exit $? $(cat "$TMP/err")"
python3 - "$TMP/fail.jsonl" <<'PY' || exit 1
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def fail(m):
    print("FAIL: fallback: " + m, file=sys.stderr); sys.exit(1)
before = [r["desiredReplicas"] for r in rows if 240 <= r["t"] < 300]
early = [r for r in rows if 300 <= r["t"] < 310]
late = [r["desiredReplicas"] for r in rows if 400 <= r["t"] < 420]
after = [r["desiredReplicas"] for r in rows if r["t"] >= 480]
if min(before) <= 2: fail("the load should need more than 2 replicas before: %s" % before)
if any(r["fallback"] or r["desiredReplicas"] != r["replicas"] for r in early):
    fail("the first failed rounds must hold")
if not all(r["fallback"] for r in rows if 320 <= r["t"] < 420): fail("fallback not engaged")
if set(late) != {2}: fail("not at fallbackReplicas 2 late in the outage: %s" % late)
if max(after) <= 2: fail("no recovery after the outage: %s" % after)
if any(r["fallback"] for r in rows if r["t"] >= 450): fail("fallback never left")
print("fallback: %d replicas, outage -> 2, after %d" % (min(before), max(after)))
PY

# --plot
if command -v gnuplot >/dev/null 2>&1; then
	$T "$BIN/mcp-autoscaler" simulate --policy "$EX/policy.yaml" --model "$EX/model.json" \
		--plot "$TMP/plot.png" >/dev/null 2>"$TMP/err" || fail "--plot: exit $? $(cat "$TMP/err")"
	head -c 8 "$TMP/plot.png" | od -An -c | grep -q 'P   N   G' || fail "--plot did not write a PNG"
else
	echo "note: gnuplot not installed, --plot not checked"
fi

# bad inputs: a clear error naming the problem, exit 2
bad() { # expected-substring args...
	want=$1; shift
	$T "$BIN/mcp-autoscaler" simulate "$@" >/dev/null 2>"$TMP/err"; rc=$?
	[ $rc -eq 2 ] || fail "simulate $*: exit $rc, want 2 ($(cat "$TMP/err"))"
	grep -q -- "$want" "$TMP/err" || fail "simulate $*: error lacks \"$want\": $(cat "$TMP/err")"
}
sed 's/maxReplicas: "8"/maxReplicas: "eight"/' "$EX/policy.yaml" >"$TMP/bad.yaml"
bad 'maxReplicas: "eight" is not an integer' --policy "$TMP/bad.yaml" --model "$EX/model.json"
sed 's/  paused: "false"/  pasued: "true"/' "$EX/policy.yaml" >"$TMP/typo.yaml"
bad 'pasued: unknown key' --policy "$TMP/typo.yaml" --model "$EX/model.json"
sed 's/selectPolicy: Max/selectPolicy: Most/' "$EX/policy.yaml" >"$TMP/beh.yaml"
bad 'behavior: scaleUp.selectPolicy' --policy "$TMP/beh.yaml" --model "$EX/model.json"
printf 'apiVersion: v1\nkind: Secret\ndata: {}\n' >"$TMP/secret.yaml"
bad 'not ConfigMap' --policy "$TMP/secret.yaml" --model "$EX/model.json"
bad 'No such file' --policy "$TMP/missing.yaml" --model "$EX/model.json"
head -2 "$EX/trace.jsonl" >"$TMP/t.jsonl"; echo '{"t": 20, "replicas": 2}' >>"$TMP/t.jsonl"
bad 't.jsonl:3: missing "poolSize"' --policy "$EX/policy.yaml" --trace "$TMP/t.jsonl"
echo '{"duration": "1m", "serviceTime": "10ms", "load": []}' >"$TMP/m.json"
bad '"load" must be a non-empty array' --policy "$EX/policy.yaml" --model "$TMP/m.json"
bad 'exactly one of --trace' --policy "$EX/policy.yaml"
bad 'unknown flag --polcy' --polcy x
echo "ok: simulate model, trace, plot and errors"

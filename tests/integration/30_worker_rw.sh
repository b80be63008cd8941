#!/bin/sh
# loadgen/mbpoll-free correctness: registers written through the gateway read
# back the same; every function class answers; malformed frames close only
# that client; /metrics, /healthz, /readyz.
. "$(dirname "$0")/worker_lib.inc"

start_devsim d --max-connections 32
start_worker w "$DEV_d" --pool-size 4
wait_ready "$HTTP_w"

# 1. Write then read back, 8 connections each on its own block, 600 pairs.
out=$(loadgen --target "$GW_w" --rate 300 --duration 2s --connections 8 --verify --count 20 \
	--address 100 --expect-no-errors) || fail "verify run had errors: $out"
[ "$(sumval "$out" ok)" -ge 500 ] || fail "too few verified requests: $out"
[ "$(sumval "$out" mismatch)" = 0 ] || fail "read-back mismatch: $out"

# 2. Mixed reads and writes, pipelined, no errors.
out=$(loadgen --target "$GW_w" --rate 1000 --duration 2s --connections 16 --write-ratio 0.3 \
	--expect-no-errors) || fail "mixed run had errors: $out"

# 3. Raw frames through the gateway (python3 is Debian's base interpreter).
PY=/usr/bin/python3
[ -x "$PY" ] || fail "/usr/bin/python3 is needed for the raw frame checks"
GW_HOST=${GW_w%:*} GW_PORT=${GW_w##*:} "$PY" - <<'PYEOF' || fail "raw frame checks failed"
import os, socket, struct, sys
addr = (os.environ["GW_HOST"], int(os.environ["GW_PORT"]))

def xfer(pdu, tid=7, unit=1, sock=None):
    s = sock or socket.create_connection(addr, timeout=5)
    s.sendall(struct.pack(">HHHB", tid, 0, len(pdu) + 1, unit) + pdu)
    hdr = b""
    while len(hdr) < 7:
        hdr += s.recv(7 - len(hdr))
    t, p, ln, u = struct.unpack(">HHHB", hdr)
    body = b""
    while len(body) < ln - 1:
        body += s.recv(ln - 1 - len(body))
    if sock is None:
        s.close()
    assert t == tid and p == 0 and u == unit, (t, p, u)
    return body

def check(name, cond):
    if not cond:
        print("raw check failed:", name); sys.exit(1)

# FC 6 write, FC 3 read back, FC 4 input registers (devsim: value = address)
check("fc6", xfer(bytes([6, 0, 50, 0xBE, 0xEF])) == bytes([6, 0, 50, 0xBE, 0xEF]))
check("fc3", xfer(bytes([3, 0, 50, 0, 1])) == bytes([3, 2, 0xBE, 0xEF]))
check("fc4", xfer(bytes([4, 0, 7, 0, 2])) == bytes([4, 4, 0, 7, 0, 8]))
# FC 5 coil on, FC 1 read it, FC 15 write coils, FC 2 discrete inputs
check("fc5", xfer(bytes([5, 0, 3, 0xFF, 0])) == bytes([5, 0, 3, 0xFF, 0]))
check("fc1", xfer(bytes([1, 0, 3, 0, 1])) == bytes([1, 1, 1]))
check("fc15", xfer(bytes([15, 0, 8, 0, 3, 1, 5])) == bytes([15, 0, 8, 0, 3]))
check("fc1b", xfer(bytes([1, 0, 8, 0, 3])) == bytes([1, 1, 5]))
check("fc2", xfer(bytes([2, 0, 0, 0, 4])) == bytes([2, 1, 0b1010]))
# FC 23 read/write, FC 22 mask write
r = xfer(bytes([23, 0, 60, 0, 1, 0, 60, 0, 1, 2, 0x12, 0x34]))
check("fc23", r == bytes([23, 2, 0x12, 0x34]))
check("fc22", xfer(bytes([22, 0, 60, 0xFF, 0x00, 0x00, 0x01])) == bytes([22, 0, 60, 0xFF, 0, 0, 1]))
check("fc22 read", xfer(bytes([3, 0, 60, 0, 1])) == bytes([3, 2, 0x12, 0x01]))
# transaction ids come back unchanged, pipelined on one connection
s = socket.create_connection(addr, timeout=5)
for tid in (0, 1, 0xFFFF, 0x8000):
    check("tid %d" % tid, xfer(bytes([3, 0, 1, 0, 1]), tid=tid, sock=s)[0] == 3)
# FC 8 (serial diagnostics) and FC 65 (user defined): exception 0x01, connection kept
check("fc8", xfer(bytes([8, 0, 0, 0x12, 0x34]), sock=s) == bytes([0x88, 1]))
check("fc65", xfer(bytes([65, 1, 2]), sock=s) == bytes([0xC1, 1]))
check("qty 0", xfer(bytes([3, 0, 0, 0, 0]), sock=s) == bytes([0x83, 3]))
check("still open", xfer(bytes([3, 0, 1, 0, 1]), sock=s)[0] == 3)
s.close()
# malformed frames close that client only
for bad in (struct.pack(">HHHB", 1, 5, 6, 1) + bytes([3, 0, 0, 0, 1]),     # protocol id 5
            struct.pack(">HHHB", 1, 0, 300, 1) + bytes(10),                 # length > 254
            struct.pack(">HHHB", 1, 0, 4, 1) + bytes([3, 0, 0])):          # FC 3 PDU too short
    s = socket.create_connection(addr, timeout=5)
    s.sendall(bad)
    try:
        data = s.recv(16)
    except ConnectionResetError:
        data = b""
    check("closed after malformed %r" % bad[:8], data == b"")
    s.close()
check("alive", xfer(bytes([3, 0, 1, 0, 1]))[0] == 3)
PYEOF

grep -q "event=malformed_frame" "$T/worker_w.log" || fail "malformed frames were not logged"
kill -0 "$WORKER_PID_w" || fail "worker died"

# 4. HTTP endpoints and metric names (docs/design.md "Worker metrics").
curl -sf "http://$HTTP_w/healthz" | grep -q ok || fail "/healthz"
curl -sf "http://$HTTP_w/readyz" | grep -q ok || fail "/readyz"
m=$(curl -sf "http://$HTTP_w/metrics") || fail "/metrics"
for name in 'mcp_pool_size ' 'mcp_pool_target_size 4' 'mcp_pool_connections{state="idle"}' \
	'mcp_pool_connections{state="in_use"}' 'mcp_pool_connections{state="connecting"}' \
	'mcp_pool_connections{state="broken"}' 'mcp_pool_waiters ' \
	'mcp_request_duration_seconds_bucket{le="0.0005"}' 'mcp_request_duration_seconds_bucket{le="5"}' \
	'mcp_request_duration_seconds_bucket{le="+Inf"}' 'mcp_request_duration_seconds_count' \
	'mcp_requests_total{result="ok"}' 'mcp_requests_total{result="exception"}' \
	'mcp_requests_total{result="timeout"}' 'mcp_requests_total{result="busy"}' \
	'mcp_requests_total{result="unavailable"}' 'mcp_client_connections ' 'mcp_device_up 1'; do
	echo "$m" | grep -qF "$name" || fail "metric '$name' missing"
done
ok=$(metric "$HTTP_w" 'mcp_requests_total{result="ok"}')
[ "$ok" -ge 2500 ] || fail "mcp_requests_total ok=$ok, expected >= 2500"
curl -s -o /dev/null -w '%{http_code}' "http://$HTTP_w/nope" | grep -q 404 || fail "404"

# 5. Flags: --help exits 0, a bad flag exits 2 naming it.
"$MCP_BIN/mcp-worker" --help | grep -q -- "--pool-size-file" || fail "--help"
set +e
"$MCP_BIN/mcp-worker" --pool-size nine --device 127.0.0.1:1 2>"$T/err.txt"
rc=$?
set -e
[ $rc = 2 ] && grep -q "pool-size" "$T/err.txt" || fail "bad flag: rc=$rc $(cat "$T/err.txt")"
set +e
env -u MCP_WORKER_DEVICE "$MCP_BIN/mcp-worker" --listen "$HOST:0" 2>"$T/err.txt"
rc=$?
set -e
[ $rc = 2 ] && grep -q -- "--device is required" "$T/err.txt" || fail "missing --device: rc=$rc $(cat "$T/err.txt")"
echo "ok: worker read/write, function classes, malformed frames, metrics"

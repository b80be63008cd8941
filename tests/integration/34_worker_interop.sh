#!/bin/sh
# Interop with Modbus software written elsewhere: mbpoll (libmodbus CLI) and
# pymodbus (Debian's python3-pymodbus, an independent implementation) read and
# write through the gateway, and the gateway works in front of a pymodbus
# server as the device.
. "$(dirname "$0")/worker_lib.inc"

PY=/usr/bin/python3
have_mbpoll=0
have_pymodbus=0
command -v mbpoll >/dev/null 2>&1 && have_mbpoll=1
[ -x "$PY" ] && "$PY" -c 'import pymodbus.client, pymodbus.server' 2>/dev/null && have_pymodbus=1
if [ $have_mbpoll = 0 ] && [ $have_pymodbus = 0 ]; then
	echo "SKIP: neither mbpoll nor python3-pymodbus is installed"
	exit 0
fi

start_devsim d --max-connections 16
start_worker w "$DEV_d" --pool-size 2
wait_ready "$HTTP_w"
GH=${GW_w%:*}
GP=${GW_w##*:}

if [ $have_mbpoll = 1 ]; then
	mb() { timeout 20 mbpoll -q -m tcp -a 1 -1 -0 -p "$GP" "$@" "$GH"; }
	timeout 20 mbpoll -q -m tcp -a 1 -1 -0 -p "$GP" -r 300 -t 4 "$GH" 11 22 33 >"$T/mb1.txt" ||
		fail "mbpoll write through the gateway: $(cat "$T/mb1.txt")"
	mb -r 300 -c 3 -t 4 >"$T/mb2.txt" || fail "mbpoll read through the gateway"
	for v in "300\]: 	11" "301\]: 	22" "302\]: 	33"; do
		grep -q "$v" "$T/mb2.txt" || fail "mbpoll read back: $(cat "$T/mb2.txt")"
	done
	mb -r 5 -c 2 -t 3 >"$T/mb3.txt" || fail "mbpoll input registers"
	grep -q "6\]: 	6" "$T/mb3.txt" || fail "mbpoll input registers: $(cat "$T/mb3.txt")"
	timeout 20 mbpoll -q -m tcp -a 1 -1 -0 -p "$GP" -r 40 -t 0 "$GH" 1 0 1 >/dev/null ||
		fail "mbpoll coils write"
	mb -r 40 -c 3 -t 0 >"$T/mb4.txt" || fail "mbpoll coils read"
	grep -q "42\]: 	1" "$T/mb4.txt" || fail "mbpoll coils: $(cat "$T/mb4.txt")"
	echo "ok: mbpoll through the gateway"
else
	echo "SKIP: mbpoll not installed (mbpoll part)"
fi

if [ $have_pymodbus = 1 ]; then
	GW_HOST=$GH GW_PORT=$GP timeout 60 "$PY" - <<'PYEOF' || fail "pymodbus client through the gateway"
import os, sys
from pymodbus.client import ModbusTcpClient
c = ModbusTcpClient(os.environ["GW_HOST"], port=int(os.environ["GW_PORT"]), timeout=5)
assert c.connect(), "connect"
r = c.write_registers(500, [7, 8, 9, 65535], slave=1)
assert not r.isError(), r
r = c.read_holding_registers(500, 4, slave=1)
assert not r.isError() and r.registers == [7, 8, 9, 65535], r
r = c.write_coils(10, [True, False, True], slave=1)
assert not r.isError(), r
r = c.read_coils(10, 3, slave=1)
assert not r.isError() and r.bits[:3] == [True, False, True], r
r = c.read_input_registers(20, 2, slave=1)
assert not r.isError() and r.registers == [20, 21], r
r = c.readwrite_registers(read_address=500, read_count=1, write_address=501, write_registers=[42], slave=1)
assert not r.isError() and r.registers == [7], r
r = c.read_holding_registers(501, 1, slave=1)
assert r.registers == [42], r
c.close()
print("ok: pymodbus client through the gateway")
PYEOF

	# A pymodbus server as the device behind the gateway.
	PORT=$("$PY" -c "import socket; s=socket.socket(); s.bind(('$HOST',0)); print(s.getsockname()[1])")
	cat >"$T/pyserver.py" <<'PYEOF'
import sys, logging
from pymodbus.server import StartTcpServer
from pymodbus.datastore import ModbusSequentialDataBlock, ModbusSlaveContext, ModbusServerContext
logging.basicConfig(level=logging.WARNING)
block = lambda: ModbusSequentialDataBlock(0, [0] * 2000)
store = ModbusSlaveContext(di=block(), co=block(), hr=block(), ir=block())
ctx = ModbusServerContext(slaves=store, single=True)
print("pyserver starting", flush=True)
StartTcpServer(context=ctx, address=(sys.argv[1], int(sys.argv[2])), allow_reuse_address=True)
PYEOF
	"$PY" "$T/pyserver.py" "$HOST" "$PORT" >"$T/pyserver.log" 2>&1 &
	PIDS="$PIDS $!"
	i=0
	until "$PY" -c "import socket; socket.create_connection(('$HOST', $PORT), 1).close()" 2>/dev/null; do
		i=$((i + 1))
		[ $i -gt 100 ] && fail "pymodbus server did not start"
		sleep 0.1
	done
	start_worker p "$HOST:$PORT" --pool-size 2 --request-timeout 3s
	wait_ready "$HTTP_p"
	out=$(loadgen --target "$GW_p" --rate 100 --duration 2s --connections 4 --verify --count 5 \
		--address 100 --timeout 5s --expect-no-errors) ||
		fail "gateway in front of pymodbus: $out"
	[ "$(sumval "$out" ok)" -ge 150 ] || fail "too few requests via pymodbus device: $out"
	echo "ok: gateway in front of a pymodbus server: $out"
else
	echo "SKIP: python3-pymodbus not importable by /usr/bin/python3 (pymodbus part)"
fi

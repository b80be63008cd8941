#!/usr/bin/env python3
"""Fake mcp-worker /metrics for the controller's integration tests.

Listens on PORT at each address given (loopback only) and answers GET /metrics
with the worker metrics of DESIGN.md. Values come from a JSON file re-read on
every request, so a test changes the load by rewriting it:
  {"default": {"pool_size": 8, "in_use": 2, "waiters": 0},
   "127.6.1.2": {"in_use": 8, "waiters": 5}, "127.6.1.3": {"fail": 500}}
"fail": N answers with HTTP status N. Every request is appended to LOG as
"ADDR\n" when --log is given.
"""
import argparse
import http.server
import json
import socketserver
import sys
import threading


def values_for(path, addr):
    try:
        with open(path) as f:
            v = json.load(f)
    except (OSError, ValueError):
        v = {}
    out = {"pool_size": 8, "in_use": 0, "waiters": 0}
    out.update(v.get("default", {}))
    out.update(v.get(addr, {}))
    return out


def body(v):
    lines = [
        "# HELP mcp_pool_size Connections the pool runs.",
        "# TYPE mcp_pool_size gauge",
        "mcp_pool_size %g" % v["pool_size"],
        "# TYPE mcp_pool_target_size gauge",
        "mcp_pool_target_size %g" % v["pool_size"],
        "# TYPE mcp_pool_connections gauge",
        'mcp_pool_connections{state="idle"} %g' % max(0, v["pool_size"] - v["in_use"]),
        'mcp_pool_connections{state="in_use"} %g' % v["in_use"],
        'mcp_pool_connections{state="connecting"} 0',
        'mcp_pool_connections{state="broken"} 0',
        "# TYPE mcp_pool_waiters gauge",
        "mcp_pool_waiters %g" % v["waiters"],
        "",
    ]
    return "\n".join(lines).encode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--addrs", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--values", required=True)
    ap.add_argument("--log")
    a = ap.parse_args()
    lock = threading.Lock()

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            addr = self.server.server_address[0]
            if a.log:
                with lock, open(a.log, "a") as f:
                    f.write(addr + "\n")
            v = values_for(a.values, addr)
            if "fail" in v:
                self.send_response(int(v["fail"]))
                self.end_headers()
                return
            b = body(v)
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(b)))
            self.end_headers()
            self.wfile.write(b)

        def log_message(self, *args):
            pass

    class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True
        allow_reuse_address = True

    servers = []
    for addr in a.addrs.split(","):
        if not addr.startswith("127."):
            sys.exit("refusing non-loopback address " + addr)
        s = S((addr, a.port), H)
        servers.append(s)
        threading.Thread(target=s.serve_forever, daemon=True).start()
    print("ready", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()

"""Server benchmark: spawn-to-first-answer latency, per-call latency, resident memory, and the
size of the tools/list answer, for the release binary driven over stdio.

Usage: .venv-mcp/bin/python scripts/bench_server.py [target/release/traffic-engineer]
Prints figures; asserts nothing (timings are measured, never tested).
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

BIN = sys.argv[1] if len(sys.argv) > 1 else "target/release/traffic-engineer"
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "0"}}}


def spawn(root):
    return subprocess.Popen([BIN, "serve", "--root", root], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env={**os.environ, "TRAFFIC_ENGINEER_LOG": "warn"})


def send(p, msg):
    p.stdin.write((json.dumps(msg) + "\n").encode())
    p.stdin.flush()


def recv(p, want_id):
    while True:
        line = p.stdout.readline()
        if not line:
            raise RuntimeError("server closed stdout")
        m = json.loads(line)
        if m.get("id") == want_id:
            return m, len(line)


def startup(n=20):
    times = []
    with tempfile.TemporaryDirectory() as root:
        for _ in range(n):
            t0 = time.perf_counter()
            p = spawn(root)
            send(p, INIT)
            recv(p, 1)
            times.append((time.perf_counter() - t0) * 1e3)
            p.stdin.close()
            p.wait()
    return times


def session(calls=50):
    with tempfile.TemporaryDirectory() as root:
        p = spawn(root)
        send(p, INIT)
        recv(p, 1)
        send(p, {"jsonrpc": "2.0", "method": "notifications/initialized"})
        send(p, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
        _, tools_size = recv(p, 2)
        per_tool = {}
        i = 10
        for tool in ["generate_gateway", "add_rate_limit", "add_circuit_breaker", "generate_tls",
                     "generate_scaledobject", "validate"]:
            ts = []
            for k in range(calls):
                args = {"requests_per_user": 100 + k} if tool == "add_rate_limit" else {}
                i += 1
                t0 = time.perf_counter()
                send(p, {"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": {"name": tool, "arguments": args}})
                m, _ = recv(p, i)
                ts.append((time.perf_counter() - t0) * 1e3)
                assert m["result"].get("isError") in (False, None) or tool == "validate", m
            per_tool[tool] = statistics.median(ts)
        status = open(f"/proc/{p.pid}/status").read()
        hwm = [l for l in status.splitlines() if l.startswith(("VmHWM", "VmRSS"))]
        p.stdin.close()
        p.wait()
        return tools_size, per_tool, hwm


if __name__ == "__main__":
    s = startup()
    print(f"startup (spawn -> initialize answer), 20 runs: median {statistics.median(s):.1f} ms, "
          f"min {min(s):.1f}, max {max(s):.1f}")
    size, per_tool, hwm = session()
    print(f"tools/list answer: {size} bytes")
    for t, ms in per_tool.items():
        print(f"{t:<24} median round trip {ms:.2f} ms (50 calls, client-observed)")
    print("memory:", ", ".join(" ".join(h.split()) for h in hwm))

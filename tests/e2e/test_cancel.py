"""Cancellation of a long call (MCP basic/utilities/cancellation): after `notifications/cancelled`
for `verify`, the server sends nothing more for that request (no response, no progress) and the
gateway receives no request more than 100 ms after the cancel was sent.

The gateway is a counting HTTP server on loopback (its own process) that answers 200 after 10 ms, so a rate-limit
burst of 2,000 requests per user lasts many seconds; the cancel arrives in the middle of it."""
import asyncio
import json
import subprocess
import sys
import time

from rawmcp import Server, server_env

SPEC = """# spec

```yaml traffic-spec
service:
  name: task-api
  namespace: task-api
  port: 8000
gateway:
  name: task-api-gateway
  class: eg
  hostnames: [task-api.example.com]
  http:
    port: 80
routes:
  - name: task-api
    rules:
      - name: default
        path: /
        backend: task-api
rate_limits:
  header: x-user-id
  per_user: 2000
  anonymous: 10
  unit: Minute
criteria:
  - id: SC-001
    check: gateway_access
  - id: SC-002
    check: rate_limits
```
"""


# The counting gateway runs in its own process (asyncio, one thread) so that the test's own
# threads never delay the moment a request is recorded; CLOCK_MONOTONIC is shared by processes.
GATEWAY = r"""
import asyncio, sys, time
log = open(sys.argv[1], "a", buffering=1)

async def handle(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            log.write(f"{time.monotonic()}\n")
            await asyncio.sleep(0.01)
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()

async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()

asyncio.run(main())
"""


class CountingGateway:
    """A loopback HTTP server (GET only, no body) that records the arrival time of every request."""

    def __init__(self, folder):
        self.log = folder / "arrivals.log"
        self.log.write_text("")
        self.proc = subprocess.Popen([sys.executable, "-c", GATEWAY, str(self.log)], stdout=subprocess.PIPE, text=True)
        self.port = int(self.proc.stdout.readline())

    def arrivals(self):
        return [float(x) for x in self.log.read_text().split()]

    def count(self):
        return len(self.arrivals())

    def after(self, t):
        return [a for a in self.arrivals() if a > t]

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def messages(lines):
    out = []
    for line in lines:
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


def test_cancelled_verify_stops_the_traffic_and_sends_nothing(tmp_path):
    (tmp_path / "traffic-spec.md").write_text(SPEC)
    crds = tmp_path / "crds"
    crds.mkdir()
    gw = CountingGateway(tmp_path)

    async def go():
        s = await Server(tmp_path, server_env(crds)).start()
        await s.initialize()
        call_id = 4242
        fut = s.request_future(
            "tools/call",
            {"name": "verify", "arguments": {"gateway": f"127.0.0.1:{gw.port}"}, "_meta": {"progressToken": "verify-1"}},
            id_=call_id,
        )
        await s.proc.stdin.drain()
        # wait until the rate-limit burst is under way
        for _ in range(600):
            if gw.count() >= 100 or fut.done():
                break
            await asyncio.sleep(0.05)
        assert not fut.done(), f"verify finished before the cancel: {fut.result()}"
        assert gw.count() >= 100, "the burst never started"
        seen_progress = [m for m in messages(s.lines) if m.get("method") == "notifications/progress"]
        assert seen_progress, "no progress before the cancel (SC-001 finished before the burst)"
        mark = len(s.lines)
        await s.send_raw(
            (json.dumps({"jsonrpc": "2.0", "method": "notifications/cancelled",
                         "params": {"requestId": call_id, "reason": "test"}}) + "\n").encode())
        cancelled_at = time.monotonic()
        before = gw.count()
        # long enough for several more bursts' worth of requests if the work went on
        await asyncio.sleep(2.0)
        late = gw.after(cancelled_at + 0.1)
        assert late == [], (
            f"{len(late)} request(s) reached the gateway more than 100 ms after the cancel "
            f"(latest {max(late) - cancelled_at:.3f} s after); {before} before it")
        after = messages(s.lines[mark:])
        progress = [m for m in after if m.get("method") == "notifications/progress"
                    and (m.get("params") or {}).get("progressToken") == "verify-1"]
        assert progress == [], f"progress after the cancel: {progress}"
        responses = [m for m in after if m.get("id") == call_id]
        assert responses == [], f"a response for the cancelled request: {responses}"
        assert not fut.done()
        # the server still answers, and a new call runs normally
        await s.ping()
        r = await s.call("validate", {"manifests": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n"})
        assert "result" in r, r
        s.kill()
        await s.wait()

    try:
        asyncio.run(go())
    finally:
        gw.stop()

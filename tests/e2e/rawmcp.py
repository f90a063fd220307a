"""A raw JSON-RPC client for the hardening tests: it keeps every byte the server sends, can send
bytes that are not JSON-RPC at all, and can kill the server at any moment. (The SDK tests use the
official client; this one exists for what a well-behaved client cannot do.)"""
import asyncio
import json
import os
import pathlib
import signal

REPO = pathlib.Path(__file__).resolve().parents[2]
BIN = os.environ.get("TRAFFIC_ENGINEER_BIN", str(REPO / "target" / "debug" / "traffic-engineer"))
INIT_PARAMS = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "hardening", "version": "0"}}


def server_env(crds_dir, log="info", extra=None):
    """Environment of a server: an empty CRD folder keeps the engine load instant."""
    # TRAFFIC_ENGINEER_NO_CACHE: never the user's load cache
    env = {"PATH": os.environ.get("PATH", ""), "TRAFFIC_ENGINEER_LOG": log, "TRAFFIC_ENGINEER_CRDS": str(crds_dir),
           "TRAFFIC_ENGINEER_NO_CACHE": "1"}
    env.update(extra or {})
    return env


class Server:
    """One server process on stdio. Every stdout line is kept in `lines` (raw bytes)."""

    def __init__(self, root, env, stderr_path=None, umask=None):
        self.root = pathlib.Path(root)
        self.env = env
        self.stderr_path = stderr_path
        self.umask = umask
        self.lines = []
        self.pending = {}
        self.next_id = 1000
        self.proc = None
        self.reader = None

    async def start(self):
        stderr = open(self.stderr_path, "ab") if self.stderr_path else asyncio.subprocess.DEVNULL
        pre = (lambda: os.umask(self.umask)) if self.umask is not None else None
        self.proc = await asyncio.create_subprocess_exec(
            BIN, "serve", "--root", str(self.root),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=stderr,
            env=self.env, limit=64 * 1024 * 1024, preexec_fn=pre)
        if self.stderr_path:
            stderr.close()
        self.reader = asyncio.create_task(self._read())
        return self

    async def _read(self):
        while True:
            try:
                line = await self.proc.stdout.readline()
            except (ValueError, asyncio.LimitOverrunError):
                continue
            if not line:
                break
            self.lines.append(line)
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if isinstance(msg, dict) and "id" in msg and ("result" in msg or "error" in msg):
                fut = self.pending.pop(json.dumps(msg["id"]), None)
                if fut and not fut.done():
                    fut.set_result(msg)
        for fut in self.pending.values():
            if not fut.done():
                fut.set_exception(EOFError("server closed stdout"))
        self.pending.clear()

    async def send_raw(self, data: bytes):
        self.proc.stdin.write(data)
        await self.proc.stdin.drain()

    def request_future(self, method, params=None, id_=None):
        if id_ is None:
            self.next_id += 1
            id_ = self.next_id
        msg = {"jsonrpc": "2.0", "id": id_, "method": method}
        if params is not None:
            msg["params"] = params
        fut = asyncio.get_running_loop().create_future()
        self.pending[json.dumps(id_)] = fut
        self.proc.stdin.write((json.dumps(msg) + "\n").encode())
        return fut

    async def request(self, method, params=None, timeout=20):
        fut = self.request_future(method, params)
        await self.proc.stdin.drain()
        return await asyncio.wait_for(fut, timeout)

    async def initialize(self):
        r = await self.request("initialize", INIT_PARAMS)
        assert "result" in r, r
        await self.send_raw(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
        return r

    def call_future(self, tool, args):
        return self.request_future("tools/call", {"name": tool, "arguments": args})

    async def call(self, tool, args, timeout=30):
        return await self.request("tools/call", {"name": tool, "arguments": args}, timeout)

    async def ping(self, timeout=10):
        r = await self.request("ping", {}, timeout)
        assert "result" in r, r
        return r

    def kill(self):
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)

    def term(self):
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)

    async def close_stdin(self):
        self.proc.stdin.close()

    async def wait(self, timeout=20):
        rc = await asyncio.wait_for(self.proc.wait(), timeout)
        if self.reader and not self.reader.cancelled():
            try:
                await asyncio.wait_for(self.reader, timeout)
            except asyncio.CancelledError:
                pass
        return rc


def result_text(resp):
    r = resp.get("result") or {}
    return "\n".join(c.get("text", "") for c in r.get("content", []) if c.get("type") == "text")


def stack_files(root):
    d = pathlib.Path(root) / "traffic"
    if not d.exists():
        return {}
    return {p.name: p.read_bytes() for p in d.iterdir() if p.is_file() and not p.is_symlink() and p.name != ".lock"}


def tree_state(top):
    """Every path under `top` with its type, mode and content (the 'nothing else changed' proof)."""
    out = {}
    top = pathlib.Path(top)
    for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
        for n in dirnames + filenames:
            p = pathlib.Path(dirpath) / n
            st = os.lstat(p)
            if p.is_symlink():
                out[str(p.relative_to(top))] = ("link", os.readlink(p))
            elif p.is_file():
                out[str(p.relative_to(top))] = ("file", st.st_mode & 0o7777, p.read_bytes())
            else:
                out[str(p.relative_to(top))] = ("other", st.st_mode & 0o7777)
    return out


def kustomization_resources(root):
    """The `resources:` list of traffic/kustomization.yaml (the server's emitter writes `- name` lines)."""
    k = pathlib.Path(root) / "traffic" / "kustomization.yaml"
    if not k.exists():
        return None
    out, inside = [], False
    for line in k.read_text().splitlines():
        if line.startswith("resources:"):
            inside = True
            continue
        if inside:
            if line.startswith("- "):
                out.append(line[2:].strip().strip("'\""))
            elif line.strip() and not line.startswith(" "):
                break
    return out

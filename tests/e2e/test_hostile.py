"""Hostile input through the real MCP client, the root as a wall, file modes, and secrets.

Every bad argument gets a tool error naming the field; nothing is written outside the stack
folder; no existing file changes; the server answers the next request. Malformed JSON-RPC and
10 MB messages get errors and the server keeps answering. Symlinks cannot redirect a read or a
write; key files are 0600; no private key byte reaches the client or the log."""
import asyncio
import base64
import json
import os
import pathlib
import stat

import pytest

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import MCPError as McpError

from rawmcp import BIN, Server, result_text, server_env, stack_files, tree_state

SEQUENCE = ["generate_gateway", "add_rate_limit", "add_circuit_breaker", "generate_tls", "generate_scaledobject"]
MB = 1024 * 1024


def sdk_params(root, crds, log="info"):
    return StdioServerParameters(command=BIN, args=["serve", "--root", str(root)], env=server_env(crds, log))


def text_of(result):
    return "\n".join(c.text for c in result.content if getattr(c, "type", "") == "text")


def is_http_token(v):
    """RFC 7230 token: legal as a header name (so "---" or "A" are accepted there, quoted)."""
    return bool(v) and len(v) <= 256 and all(c.isascii() and (c.isalnum() or c in "!#$%&'*+-.^_`|~") for c in v)


HOSTILE_NAMES = [
    "a\nb", 'a"b', "a'b", "---", "a: b", "tåsk", "名前", "x" * MB,
    "../x", "/etc/passwd", "a/b", "traffic/../../x", "..", ".", "A", "-a", "a b", "a\x00b",
]

# (tool, builder of args from a value, field path the error must name)
NAME_FIELDS = [
    ("generate_gateway", lambda v: {"namespace": v}, "namespace"),
    ("generate_gateway", lambda v: {"gateway": v}, "gateway"),
    ("generate_gateway", lambda v: {"gateway_class": v}, "gateway_class"),
    ("generate_gateway", lambda v: {"tls_secret": v}, "tls_secret"),
    ("generate_gateway", lambda v: {"hostnames": [v]}, "hostnames"),
    ("generate_gateway", lambda v: {"routes": [{"name": v}]}, "routes[0].name"),
    ("generate_gateway", lambda v: {"routes": [{"name": "r", "rules": [{"name": v}]}]}, "routes[0].rules[0].name"),
    ("generate_gateway", lambda v: {"routes": [{"name": "r", "rules": [{"backends": [{"service": v}]}]}]},
     "routes[0].rules[0].backends[0].service"),
    ("generate_gateway", lambda v: {"routes": [{"name": "r", "rules": [{"headers": [{"name": v, "value": "1"}]}]}]},
     "routes[0].rules[0].headers[0].name"),
    ("add_rate_limit", lambda v: {"namespace": v}, "namespace"),
    ("add_rate_limit", lambda v: {"target_name": v}, "target_name"),
    ("add_rate_limit", lambda v: {"policy_name": v}, "policy_name"),
    ("add_rate_limit", lambda v: {"user_header": v}, "user_header"),
    ("add_circuit_breaker", lambda v: {"target_name": v}, "target_name"),
    ("add_circuit_breaker", lambda v: {"policy_name": v}, "policy_name"),
    ("generate_tls", lambda v: {"secret_name": v}, "secret_name"),
    ("generate_tls", lambda v: {"mode": "local", "secret_name": v}, "secret_name"),
    ("generate_tls", lambda v: {"issuer_name": v}, "issuer_name"),
    ("generate_tls", lambda v: {"hostnames": [v]}, "hostnames"),
    ("generate_scaledobject", lambda v: {"name": v}, "name"),
    ("generate_scaledobject", lambda v: {"deployment": v}, "deployment"),
    ("generate_scaledobject", lambda v: {"route": v}, "route"),
]

BAD_NUMBERS = [
    ("generate_gateway", {"http_port": 70000}, "http_port"),
    ("generate_gateway", {"http_port": -1}, "http_port"),
    ("generate_gateway", {"https_port": 1.5}, "https_port"),
    ("generate_gateway", {"http_port": "80"}, "http_port"),
    ("generate_gateway", {"https": "yes"}, "https"),
    ("generate_gateway", {"hostnames": "task-api.example.com"}, "hostnames"),
    ("generate_gateway", {"routes": {"name": "r"}}, "routes"),
    ("generate_gateway", {"routes": [{"name": "r", "rules": [{"backends": [{"service": "s", "weight": 2 ** 40}]}]}]},
     "routes[0].rules[0].backends[0].weight"),
    ("generate_gateway", {"routes": [{"name": "r", "rules": [{"backends": [{"service": "s", "port": 1e300}]}]}]},
     "routes[0].rules[0].backends[0].port"),
    ("add_rate_limit", {"requests_per_user": -1}, "requests_per_user"),
    ("add_rate_limit", {"requests_per_user": 2 ** 32}, "requests_per_user"),
    ("add_rate_limit", {"anonymous_requests": "ten"}, "anonymous_requests"),
    ("add_rate_limit", {"unit": "minute"}, "unit"),
    ("add_rate_limit", {"limit_anonymous": None}, "limit_anonymous"),
    ("add_circuit_breaker", {"max_connections": 1e20}, "max_connections"),
    ("add_circuit_breaker", {"max_parallel_retries": -3}, "max_parallel_retries"),
    ("add_circuit_breaker", {"max_pending_requests": [1]}, "max_pending_requests"),
    ("generate_tls", {"days": -1}, "days"),
    ("generate_tls", {"days": "90"}, "days"),
    ("generate_tls", {"mode": "openssl"}, "mode"),
    ("generate_tls", {"rotate": 1}, "rotate"),
    ("generate_scaledobject", {"min_replicas": 2 ** 32}, "min_replicas"),
    ("generate_scaledobject", {"min_replicas": 3, "max_replicas": 1}, "min_replicas"),
    ("generate_scaledobject", {"max_replicas": "ten"}, "max_replicas"),
    ("generate_scaledobject", {"polling_interval": -5}, "polling_interval"),
    ("generate_scaledobject", {"threshold": {"value": 1}}, "threshold"),
    ("generate_scaledobject", {"metric": "memory"}, "metric"),
    ("generate_scaledobject", {"prometheus_address": "ftp://x"}, "prometheus_address"),
    ("generate_scaledobject", {"prometheus_address": "http://a\nb"}, "prometheus_address"),
    ("validate", {"manifests": 5}, "manifests"),
]

UNKNOWN_AND_MISSING = [
    ("generate_gateway", {"surprise": 1}, "surprise"),
    ("add_rate_limit", {"surprise": 1}, "surprise"),
    ("add_circuit_breaker", {"surprise": 1}, "surprise"),
    ("generate_tls", {"key": "-----BEGIN"}, "key"),
    ("generate_scaledobject", {"surprise": 1}, "surprise"),
    ("validate", {"path": "/etc/passwd"}, "path"),
    ("add_rate_limit", {"target": {"name": "x"}}, "target"),
    ("generate_gateway", {"routes": [{"name": "r", "surprise": 1}]}, "surprise"),
    ("generate_gateway", {"routes": [{"name": "r", "rules": [{"surprise": 1}]}]}, "surprise"),
    ("generate_gateway", {"routes": [{"name": "r", "rules": [{"backends": [{"service": "s", "surprise": 1}]}]}]}, "surprise"),
    # missing required fields
    ("generate_gateway", {"routes": [{"name": "r", "rules": [{"backends": [{"port": 80}]}]}]}, "service"),
    ("generate_gateway", {"routes": [{"name": "r", "rules": [{"headers": [{"name": "x-a"}]}]}]}, "value"),
    ("generate_gateway", {"routes": [{"name": "r", "rules": [{"headers": [{"value": "1"}]}]}]}, "name"),
]


async def hostile_session(root, crds, top):
    async with stdio_client(sdk_params(root, crds)) as (read, write):
        async with ClientSession(read, write) as s:
            await s.initialize()
            for tool in SEQUENCE:
                r = await s.call_tool(tool, {})
                assert r.is_error is False, text_of(r)
            r = await s.call_tool("generate_tls", {"mode": "local", "secret_name": "local-tls"})
            assert r.is_error is False, text_of(r)
            before = tree_state(top)
            cases = [(t, mk(v), f) for t, mk, f in NAME_FIELDS for v in HOSTILE_NAMES
                     if not (("header" in f or f == "user_header") and is_http_token(v))]
            cases += BAD_NUMBERS + UNKNOWN_AND_MISSING
            failures = []
            for tool, args, field in cases:
                r = await s.call_tool(tool, args)
                txt = text_of(r)
                shown = repr(args)[:120]
                if r.is_error is not True:
                    failures.append(f"{tool} {shown}: accepted: {txt[:300]}")
                elif field not in txt:
                    failures.append(f"{tool} {shown}: error does not name {field}: {txt[:300]}")
                elif len(txt) > 4000:
                    failures.append(f"{tool} {shown}: error of {len(txt)} bytes (echoes the input?)")
                elif "Traceback" in txt or "panicked" in txt:
                    failures.append(f"{tool} {shown}: {txt[:300]}")
            # the server still answers, and nothing anywhere changed
            tools = await s.list_tools()
            assert len(tools.tools) >= 6
            after = tree_state(top)
            changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
            assert not failures, "\n".join(failures)
            assert changed == [], changed

            # hostile resource URIs: not found, never a file outside the stack or a key
            for uri in ["traffic-engineer://stack/../../etc/passwd", "traffic-engineer://stack/%2e%2e%2fx",
                        "traffic-engineer://stack/task-api-tls.key", "traffic-engineer://stack/local-tls.key",
                        "traffic-engineer://stack/local-tls.crt", "traffic-engineer://stack/.lock",
                        "traffic-engineer://stack//etc/passwd", "traffic-engineer://stack/a/b.yaml",
                        "file:///etc/passwd", "traffic-engineer://stack/" + "x" * MB]:
                try:
                    rr = await s.read_resource(uri)
                    raise AssertionError(f"{uri[:80]} was served: {str(rr)[:200]}")
                except McpError as e:
                    assert len(str(e)) < 4000
            await s.send_ping()

            # a 10 MB message: answered, the server keeps going
            r = await s.call_tool("validate", {"manifests": "# " + "x" * (10 * MB) + "\n"})
            assert r.structured_content is not None, text_of(r)[:300]
            r = await s.call_tool("generate_gateway", {"gateway": "g" * (10 * MB)})
            assert r.is_error is True and "gateway" in text_of(r) and len(text_of(r)) < 4000
            r = await s.call_tool("validate", {"manifests": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + "n" * MB + "\n"})
            assert r.structured_content is not None
            await s.send_ping()
            assert tree_state(top) == before


def test_hostile_arguments_through_the_sdk(tmp_path):
    top = tmp_path / "top"
    root = top / "root"
    root.mkdir(parents=True)
    (top / "outside.txt").write_text("keep me\n")
    crds = tmp_path / "crds"
    crds.mkdir()
    asyncio.run(hostile_session(root, crds, top))


def test_legal_hostile_values_stay_inside_their_scalar(tmp_path):
    """Values that are legal but look like YAML (header values) are written quoted: one object."""
    crds = tmp_path / "crds"
    crds.mkdir()
    evil = "a --- apiVersion: v1 kind: Secret metadata: {name: pwn} # ' \" : - {{ x }} &a *a !!str \\ ]"

    async def run():
        srv = await Server(tmp_path, server_env(crds)).start()
        await srv.initialize()
        r = await srv.call("generate_gateway", {"routes": [{"name": "task-api", "rules": [
            {"headers": [{"name": "x-evil", "value": evil}]}]}]})
        assert r["result"]["isError"] is False, result_text(r)
        v = await srv.call("validate", {})
        sc = v["result"]["structuredContent"]
        assert not [f for f in sc["findings"] if f["rule"].startswith("yaml/")], sc
        # one document per file: the value did not escape into a second object
        assert sc["summary"]["documents"] == len([f for f in stack_files(tmp_path) if f != "kustomization.yaml"])
        await srv.close_stdin()
        assert await srv.wait() == 0
    asyncio.run(run())
    route = (tmp_path / "traffic" / "httproute-task-api.yaml").read_text()
    assert route.count("kind: Secret") == 1 and '"a --- apiVersion' in route, route


MALFORMED = [
    b"not json at all\n",
    b"{\n",
    b"\xff\xfe\xfd garbage \x00\n",
    b'{"jsonrpc":"2.0","id":5}\n',
    b'{"jsonrpc":"1.0","id":6,"method":"ping"}\n',
    b"[]\n",
    b'[{"jsonrpc":"2.0","id":7,"method":"ping"}, 5]\n',
    b'{"jsonrpc":"2.0","id":{"a":[1]},"method":"ping"}\n',
    b'{"jsonrpc":"2.0","id":8,"method":"tools/call","params":5}\n',
    b'{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"nope","arguments":{}}}\n',
    b'{"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":"generate_gateway","arguments":[1]}}\n',
    b'{"jsonrpc":"2.0","id":11,"method":"tools/call","params":{"name":"generate_gateway","arguments":"x"}}\n',
    b'{"jsonrpc":"2.0","id":12,"method":"resources/read","params":{"uri":5}}\n',
    b'{"jsonrpc":"2.0","id":13,"method":"no/such/method","params":{}}\n',
    b'{"jsonrpc":"2.0","id":14,"method":"tools/call","params":{"name":"generate_gateway","arguments":{"gateway":"\\ud800"}}}\n',
    b"[" * 100_000 + b"]" * 100_000 + b"\n",
    b'{"a":' * 50_000 + b"1" + b"}" * 50_000 + b"\n",
    b"x" * (10 * MB) + b"\n",
    b'{"jsonrpc":"2.0","id":15,"method":"no/such","params":{"s":"' + b"y" * (10 * MB) + b'"}}\n',
    b"\n\n   \n",
    b'{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":999999}}\n',
]


def test_malformed_json_rpc_keeps_the_server_answering(tmp_path):
    crds = tmp_path / "crds"
    crds.mkdir()

    async def run():
        srv = await Server(tmp_path, server_env(crds)).start()
        await srv.initialize()
        r = await srv.call("generate_gateway", {})
        assert r["result"]["isError"] is False
        before = stack_files(tmp_path)
        for i, data in enumerate(MALFORMED):
            await srv.send_raw(data)
            try:
                await srv.ping(timeout=20)
            except Exception as e:  # noqa: BLE001
                raise AssertionError(f"no answer after malformed message #{i} ({data[:60]!r}): {e!r}")
        # requests with an id got an error response, not silence
        answered = {json.loads(line).get("id") for line in srv.lines if line.strip().startswith(b"{")}
        missing = [want for want in [9, 10, 11, 12, 13] if want not in answered]
        assert missing == [], f"requests with an id that got no response: {missing}"
        r = await srv.call("add_rate_limit", {})
        assert r["result"]["isError"] is False
        assert set(stack_files(tmp_path)) >= set(before)
        await srv.close_stdin()
        assert await srv.wait() == 0
    asyncio.run(run())


# Fields of PolicyTarget (namespace, target_kind, target_name, policy_name) are #[serde(flatten)]ed
# into the add_rate_limit / add_circuit_breaker parameters; serde_path_to_error loses the path
# through flatten, so parse_args (src/generate/params.rs) reports the field as "arguments".
FLATTENED = [
    ("add_rate_limit", {"target_kind": "Service"}, "target_kind"),
    ("add_rate_limit", {"namespace": 5}, "namespace"),
    ("add_rate_limit", {"target_name": ["x"]}, "target_name"),
    ("add_circuit_breaker", {"policy_name": 7}, "policy_name"),
    ("add_circuit_breaker", {"target_kind": "route"}, "target_kind"),
]


def test_a_long_nested_unknown_field_is_not_echoed_whole(tmp_path):
    crds = tmp_path / "crds"
    crds.mkdir()

    async def run():
        srv = await Server(tmp_path, server_env(crds)).start()
        await srv.initialize()
        r = await srv.call("generate_gateway", {"routes": [{"name": "r", "rules": [{"backends": [
            {"service": "s", "k" * MB: 1}]}]}]})
        assert r["result"]["isError"] is True
        await srv.close_stdin()
        await srv.wait()
        assert len(result_text(r)) < 4000, len(result_text(r))
    asyncio.run(run())


def test_wrong_types_in_flattened_target_fields_name_the_field(tmp_path):
    crds = tmp_path / "crds"
    crds.mkdir()

    async def run():
        srv = await Server(tmp_path, server_env(crds)).start()
        await srv.initialize()
        bad = []
        for tool, args, field in FLATTENED:
            r = await srv.call(tool, args)
            assert r["result"]["isError"] is True
            if field not in result_text(r):
                bad.append(result_text(r))
        await srv.close_stdin()
        await srv.wait()
        assert bad == [], bad
    asyncio.run(run())


@pytest.mark.xfail(strict=True, reason="rmcp drops a request whose params do not decode (params: 5, or a lone "
                   "UTF-16 surrogate in a string) without an error response; JSON-RPC 2.0 wants -32600/-32602 "
                   "with the request's id. The server keeps answering (tested above).")
def test_undecodable_requests_get_an_error_response(tmp_path):
    crds = tmp_path / "crds"
    crds.mkdir()

    async def run():
        srv = await Server(tmp_path, server_env(crds)).start()
        await srv.initialize()
        await srv.send_raw(MALFORMED[8])
        await srv.send_raw(MALFORMED[14])
        await srv.ping()
        await asyncio.sleep(0.2)
        await srv.close_stdin()
        await srv.wait()
        answered = {json.loads(line).get("id") for line in srv.lines if line.strip().startswith(b"{")}
        assert {8, 14} <= answered, answered
    asyncio.run(run())


def test_symlinks_cannot_redirect_reads_or_writes(tmp_path):
    crds = tmp_path / "crds"
    crds.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: victim}\n")
    (outside / "secret.txt").write_text("TOP SECRET outside the root\n")

    # 1. the stack folder itself is a symlink (to a folder outside the root, or to /etc)
    for target in [outside, pathlib.Path("/etc")]:
        root = tmp_path / f"root-{target.name}"
        root.mkdir()
        (root / "traffic").symlink_to(target)
        before_out = tree_state(outside)

        async def linked():
            srv = await Server(root, server_env(crds)).start()
            await srv.initialize()
            for tool in SEQUENCE:
                r = await srv.call(tool, {})
                assert r["result"]["isError"] is True and "symlink" in result_text(r), result_text(r)
            lst = await srv.request("resources/list", {})
            assert lst.get("error") or lst["result"]["resources"] == [], lst
            rr = await srv.request("resources/read", {"uri": "traffic-engineer://stack/victim.yaml"})
            assert "error" in rr, rr
            rr = await srv.request("resources/read", {"uri": "traffic-engineer://stack/passwd"})
            assert "error" in rr, rr
            v = await srv.call("validate", {})
            assert "victim" not in json.dumps(v), v
            await srv.close_stdin()
            assert await srv.wait() == 0
        asyncio.run(linked())
        assert tree_state(outside) == before_out

    # 2. links inside a real stack folder: to files outside, to the parent, to /etc
    root = tmp_path / "root"
    root.mkdir()
    d = root / "traffic"

    async def inside():
        srv = await Server(root, server_env(crds)).start()
        await srv.initialize()
        r = await srv.call("generate_gateway", {})
        assert r["result"]["isError"] is False
        (d / "configmap-victim.yaml").symlink_to(outside / "victim.yaml")
        (d / "up").symlink_to("..")
        (d / "etc").symlink_to("/etc")
        (d / "secret.yaml").symlink_to(outside / "secret.txt")
        # a link where the server is about to write, and one over the kustomization
        (d / "backendtrafficpolicy-task-api-traffic.yaml").symlink_to(outside / "victim.yaml")
        before_out = tree_state(outside)
        r = await srv.call("add_rate_limit", {})
        assert r["result"]["isError"] is True and "symlink" in result_text(r), result_text(r)
        (d / "backendtrafficpolicy-task-api-traffic.yaml").unlink()
        r = await srv.call("add_rate_limit", {})
        assert r["result"]["isError"] is False, result_text(r)
        os.replace(d / "kustomization.yaml", d / "kustomization.real")
        (d / "kustomization.yaml").symlink_to(outside / "victim.yaml")
        r = await srv.call("add_circuit_breaker", {})
        assert r["result"]["isError"] is True, result_text(r)
        (d / "kustomization.yaml").unlink()
        os.replace(d / "kustomization.real", d / "kustomization.yaml")
        # the key file a local certificate would write is a link to a file outside
        (d / "task-api-tls.key").symlink_to(outside / "secret.txt")
        r = await srv.call("generate_tls", {"mode": "local"})
        assert r["result"]["isError"] is True, result_text(r)
        (d / "task-api-tls.key").unlink()
        # the lock file is a link
        os.replace(d / ".lock", d / ".lock.real")
        (d / ".lock").symlink_to(outside / "lockfile")
        r = await srv.call("add_circuit_breaker", {})
        assert r["result"]["isError"] is True, result_text(r)
        (d / ".lock").unlink()
        os.replace(d / ".lock.real", d / ".lock")
        assert not (outside / "lockfile").exists()
        # reads: never through a link
        lst = await srv.request("resources/list", {})
        names = {x["name"] for x in lst["result"]["resources"]}
        assert not names & {"configmap-victim.yaml", "secret.yaml", "up", "etc"}, names
        for uri in ["configmap-victim.yaml", "secret.yaml", "up/root/traffic/kustomization.yaml", "etc/passwd",
                    "up", "etc"]:
            rr = await srv.request("resources/read", {"uri": "traffic-engineer://stack/" + uri})
            assert "error" in rr, (uri, rr)
        v = await srv.call("validate", {})
        dump = json.dumps(v)
        assert "victim" not in dump and "TOP SECRET" not in dump
        # a FIFO where a manifest is expected must not hang the server (with the lock held)
        os.mkfifo(d / "httproute-task-api.yaml.fifo")
        os.replace(d / "httproute-task-api.yaml", d / "httproute.bak")
        os.replace(d / "httproute-task-api.yaml.fifo", d / "httproute-task-api.yaml")
        rr = await srv.request("resources/read", {"uri": "traffic-engineer://stack/httproute-task-api.yaml"}, timeout=10)
        assert "error" in rr, rr
        r = await srv.call("generate_gateway", {}, timeout=10)
        assert "result" in r
        await srv.call("validate", {}, timeout=10)
        os.unlink(d / "httproute-task-api.yaml") if stat.S_ISFIFO(os.lstat(d / "httproute-task-api.yaml").st_mode) else None
        r = await srv.call("add_circuit_breaker", {}, timeout=10)
        assert r["result"]["isError"] is False, result_text(r)
        assert tree_state(outside) == before_out
        await srv.close_stdin()
        assert await srv.wait() == 0
    asyncio.run(inside())
    assert (outside / "victim.yaml").read_text().startswith("apiVersion: v1\nkind: ConfigMap")


def test_file_modes_even_with_a_permissive_umask(tmp_path):
    crds = tmp_path / "crds"
    crds.mkdir()

    async def run():
        srv = await Server(tmp_path, server_env(crds), umask=0).start()
        await srv.initialize()
        for tool in SEQUENCE:
            r = await srv.call(tool, {})
            assert r["result"]["isError"] is False, result_text(r)
        r = await srv.call("generate_tls", {"mode": "local", "secret_name": "local-tls"})
        assert r["result"]["isError"] is False, result_text(r)
        await srv.close_stdin()
        assert await srv.wait() == 0
    asyncio.run(run())
    d = tmp_path / "traffic"
    modes = {p.name: stat.S_IMODE(os.lstat(p).st_mode) for p in d.iterdir()}
    assert stat.S_IMODE(d.stat().st_mode) & 0o022 == 0, oct(d.stat().st_mode)
    assert modes["local-tls.key"] == 0o600, modes
    assert modes["local-tls.crt"] == 0o600, modes
    assert modes[".lock"] == 0o600, modes
    for name, mode in modes.items():
        assert mode & 0o022 == 0, (name, oct(mode))  # nothing group- or world-writable
        if name.endswith(".yaml"):
            assert mode == 0o644, (name, oct(mode))


def test_no_private_key_byte_reaches_the_client_or_the_log(tmp_path):
    """A whole session with debug logs (rmcp logs whole messages at debug), local TLS included,
    rotation, every resource read, validate: search stdout, stderr and every result."""
    crds = tmp_path / "crds"
    crds.mkdir()
    root = tmp_path / "root"
    root.mkdir()
    errlog = tmp_path / "stderr.log"
    keys = []

    async def run():
        srv = await Server(root, server_env(crds, log="debug"), stderr_path=errlog).start()
        await srv.initialize()
        results = []
        for tool in SEQUENCE:
            if tool != "generate_tls":
                results.append(await srv.call(tool, {}))
        for args in [{"mode": "local"}, {"mode": "local"}, {"mode": "local", "rotate": True},
                     {"mode": "local", "secret_name": "other-tls", "hostnames": ["a.example.com", "b.example.com"]}]:
            r = await srv.call("generate_tls", args)
            assert r["result"]["isError"] is False, result_text(r)
            results.append(r)
            for k in (root / "traffic").glob("*.key"):
                keys.append(k.read_text())
        lst = await srv.request("resources/list", {})
        for res in lst["result"]["resources"]:
            results.append(await srv.request("resources/read", {"uri": res["uri"]}))
        for name in ["task-api-tls.key", "other-tls.key", "task-api-tls.crt"]:
            rr = await srv.request("resources/read", {"uri": "traffic-engineer://stack/" + name})
            assert "error" in rr, rr
            results.append(rr)
        results.append(await srv.call("validate", {}))
        # the model pastes the kustomization (which names the key file) into validate
        kust = (root / "traffic" / "kustomization.yaml").read_text()
        results.append(await srv.call("validate", {"manifests": kust}))
        # a call that fails on the key file (a folder where the key goes) must not show the key
        (root / "traffic" / "third-tls.key").mkdir()
        r = await srv.call("generate_tls", {"mode": "local", "rotate": True, "secret_name": "third-tls"})
        results.append(r)
        await srv.close_stdin()
        assert await srv.wait() == 0
        return results, b"".join(srv.lines)

    results, stdout = asyncio.run(run())
    stderr = errlog.read_bytes()
    assert b"tools/call" in stderr or b"call_tool" in stderr or len(stderr) > 1000, "debug log looks empty"
    haystacks = {"stdout": stdout, "stderr": stderr, "results": json.dumps(results).encode()}
    assert len(set(keys)) >= 3, "rotation should have produced a new key"
    needles = []
    for pem in set(keys):
        body = [line for line in pem.splitlines() if line and not line.startswith("-----")]
        needles += [line.encode() for line in body if len(line) >= 16]
        needles.append("".join(body).encode())
        needles.append(base64.b64decode("".join(body)).hex().encode())
    print(f"secrets: {len(results)} results, {len(stdout)} bytes stdout, {len(stderr)} bytes stderr, "
          f"{len(set(keys))} keys, {len(needles)} needles")
    assert len(results) >= 15 and len(stdout) > 10_000
    for where, hay in haystacks.items():
        assert b"PRIVATE KEY" not in hay, where
        for n in needles:
            assert n not in hay, (where, n[:20])

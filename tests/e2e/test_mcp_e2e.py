"""End-to-end: the real binary over stdio, driven by the official Python MCP SDK (mcp 2.3.0).

Covers both protocol eras (2025-11-25 initialize, 2026-07-28 server/discover), tools/list, the
Task API tool sequence, the files on disk, bad input, and a server killed between calls.
"""
import asyncio
import json
import os
import pathlib
import stat
import sys

import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.client import Client
from mcp.client.stdio import stdio_client

REPO = pathlib.Path(__file__).resolve().parents[2]
BIN = os.environ.get("TRAFFIC_ENGINEER_BIN", str(REPO / "target" / "debug" / "traffic-engineer"))
CRDS = os.environ.get("TRAFFIC_ENGINEER_TEST_CRDS", str(REPO.parent / "shared" / "crds"))
# Kubernetes' OpenAPI documents (the built-in kinds' schemas), read in place
OPENAPI = os.environ.get("TRAFFIC_ENGINEER_TEST_OPENAPI", str(REPO.parent / "shared" / "openapi" / "kubernetes-v1.35"))
SEQUENCE = ["generate_gateway", "add_rate_limit", "add_circuit_breaker", "generate_tls", "generate_scaledobject"]
EXPECTED_FILES = {
    "gateway-task-api-gateway.yaml",
    "httproute-task-api.yaml",
    "backendtrafficpolicy-task-api-traffic.yaml",
    "issuer-task-api-selfsigned.yaml",
    "certificate-task-api-tls.yaml",
    "scaledobject-task-api.yaml",
    "kustomization.yaml",
}


def params(root, extra_env=None):
    env = {"TRAFFIC_ENGINEER_LOG": "debug", "PATH": os.environ.get("PATH", ""), "TRAFFIC_ENGINEER_CRDS": CRDS,
           "TRAFFIC_ENGINEER_OPENAPI": OPENAPI,
           # never the user's load cache (tests/load_cache.rs tests it in a temporary folder)
           "TRAFFIC_ENGINEER_NO_CACHE": "1"}
    env.update(extra_env or {})
    return StdioServerParameters(command=BIN, args=["serve", "--root", str(root)], env=env)


def text_of(result):
    return "\n".join(c.text for c in result.content if getattr(c, "type", "") == "text")


def yaml_files(root):
    return {p.name for p in (root / "traffic").iterdir() if not p.name.startswith(".")}


async def legacy_session(root):
    async with stdio_client(params(root)) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            assert init.protocol_version == "2025-11-25"
            assert "generate_gateway" in init.instructions
            tools = await session.list_tools()
            names = [t.name for t in tools.tools]
            for t in SEQUENCE + ["validate"]:
                assert t in names
            size = len(json.dumps(tools.model_dump(mode="json", by_alias=True, exclude_none=True), separators=(",", ":")))
            print(f"tools/list size: {size} bytes", file=sys.stderr)
            assert size <= 16_000, f"tools/list is {size} bytes"
            by_name = {t.name: t for t in tools.tools}
            assert by_name["validate"].annotations.read_only_hint is True
            assert by_name["generate_gateway"].annotations.destructive_hint is True
            assert by_name["add_rate_limit"].annotations.open_world_hint is False
            # descriptions of parameters reach the schema
            props = by_name["add_rate_limit"].input_schema["properties"]
            assert "bucket per distinct value" in props["user_header"]["description"]
            assert "Default x-user-id" in props["user_header"]["description"]  # absent: kept, else x-user-id

            for tool in SEQUENCE:
                r = await session.call_tool(tool, {})
                assert r.is_error is False, text_of(r)
                sc = r.structured_content
                assert sc["files"], sc
                links = [c for c in r.content if c.type == "resource_link"]
                assert links, tool
                for link in links:
                    rr = await session.read_resource(link.uri)
                    assert rr.contents[0].text.strip()
            # a second call of the same tool changes nothing
            r = await session.call_tool("add_circuit_breaker", {})
            assert all(f["action"] == "unchanged" for f in r.structured_content["files"]), r.structured_content
            # bad input: tool error naming the field; nothing written
            before = {p.name: p.read_bytes() for p in (root / "traffic").iterdir()}
            for args, field in [
                ({"min_replicas": 3, "max_replicas": 1}, "min_replicas"),
                ({"max_replicas": "ten"}, "max_replicas"),
                ({"name": "../../etc/passwd"}, "name"),
                ({"surprise": 1}, "surprise"),
            ]:
                r = await session.call_tool("generate_scaledobject", args)
                assert r.is_error is True, args
                assert field in text_of(r), text_of(r)
            after = {p.name: p.read_bytes() for p in (root / "traffic").iterdir()}
            assert before == after
            resources = await session.list_resources()
            uris = {str(r.uri) for r in resources.resources}
            assert {f"traffic-engineer://stack/{f}" for f in EXPECTED_FILES} <= uris
            v = await session.call_tool("validate", {})
            assert v.is_error is False, text_of(v)
            assert v.structured_content["summary"]["errors"] == 0, text_of(v)
            rules = {f["rule"] for f in v.structured_content["findings"]}
            assert "crds/skipped" not in rules, rules
            # a hand edit that breaks the stack: validate reports it with file and line
            btp = root / "traffic" / "backendtrafficpolicy-task-api-traffic.yaml"
            btp.write_text(btp.read_text().replace("unit: Minute", "unit: minute", 1))
            v = await session.call_tool("validate", {})
            assert v.is_error is True
            bad = [f for f in v.structured_content["findings"] if f["severity"] == "error"]
            assert bad and bad[0]["rule"] == "schema/enum" and bad[0]["line"] > 0, bad
            assert "backendtrafficpolicy-task-api-traffic.yaml" in text_of(v)


async def modern_session(root):
    async with Client(params(root), mode="auto") as client:
        s = client.session
        assert s._negotiated_version == "2026-07-28"
        assert s._discover_result is not None
        tools = await client.list_tools()
        assert len(tools.tools) >= 6
        r = await client.call_tool("generate_gateway", {
            "routes": [{"name": "task-api", "rules": [
                {"name": "v1", "path_prefix": "/api/v1", "backends": [{"service": "task-api-v1", "port": 8000}]},
                {"name": "v2", "path_prefix": "/api/v2", "backends": [{"service": "task-api-v2", "port": 8000}]},
                {"name": "canary", "path_prefix": "/", "backends": [
                    {"service": "task-api-v1", "port": 8000, "weight": 90},
                    {"service": "task-api-v2", "port": 8000, "weight": 10}]}]}],
        })
        assert r.is_error is False
        assert "weight: 90" in r.structured_content["yaml"]
        r = await client.call_tool("generate_tls", {"mode": "local"})
        assert r.is_error is False, text_of(r)
        dump = json.dumps(r.model_dump(mode="json"))
        assert "PRIVATE KEY" not in dump
        key = root / "traffic" / "task-api-tls.key"
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        assert "PRIVATE KEY" in key.read_text()
        resources = await client.list_resources()
        assert not any(str(x.uri).endswith((".key", ".crt")) for x in resources.resources)


def test_legacy_era_seed_sequence(tmp_path):
    asyncio.run(legacy_session(tmp_path))
    assert EXPECTED_FILES <= yaml_files(tmp_path)
    kust = (tmp_path / "traffic" / "kustomization.yaml").read_text()
    order = [line[2:] for line in kust.splitlines() if line.startswith("- ")]
    assert "namespace-task-api.yaml" not in order, "the namespace is assumed to exist unless asked"
    assert order.index("issuer-task-api-selfsigned.yaml") < order.index("certificate-task-api-tls.yaml")
    assert order.index("gateway-task-api-gateway.yaml") < order.index("httproute-task-api.yaml")
    assert order.index("httproute-task-api.yaml") < order.index("backendtrafficpolicy-task-api-traffic.yaml")
    assert order[-1] == "scaledobject-task-api.yaml"
    btp = (tmp_path / "traffic" / "backendtrafficpolicy-task-api-traffic.yaml").read_text()
    assert "circuitBreaker" in btp and "Distinct" in btp and "invert: true" in btp
    assert "type: Global" not in btp


def test_modern_era_local_tls(tmp_path):
    asyncio.run(modern_session(tmp_path))
    kust = (tmp_path / "traffic" / "kustomization.yaml").read_text()
    assert "secretGenerator" in kust and "tls.key=task-api-tls.key" in kust


async def one_call(root, tool, args):
    async with stdio_client(params(root)) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            return await session.call_tool(tool, args)


def test_restart_between_calls_loses_nothing(tmp_path):
    """Each call in a fresh server process: the stack on disk is the only state."""
    for tool in SEQUENCE:
        r = asyncio.run(one_call(tmp_path, tool, {}))
        assert r.is_error is False, text_of(r)
    assert EXPECTED_FILES <= yaml_files(tmp_path)
    btp = (tmp_path / "traffic" / "backendtrafficpolicy-task-api-traffic.yaml").read_text()
    assert "rateLimit" in btp and "circuitBreaker" in btp


async def killed_session(root):
    """Kill -9 the server between two calls; a new server sees everything."""
    proc = await asyncio.create_subprocess_exec(
        BIN, "serve", "--root", str(root),
        env=dict(os.environ, TRAFFIC_ENGINEER_NO_CACHE="1"),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)

    async def rpc(msg):
        proc.stdin.write((json.dumps(msg) + "\n").encode())
        await proc.stdin.drain()
        while True:
            line = await asyncio.wait_for(proc.stdout.readline(), 10)
            m = json.loads(line)
            if m.get("id") == msg["id"]:
                return m

    init = await rpc({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}})
    assert init["result"]["protocolVersion"] == "2025-11-25"
    proc.stdin.write(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
    # malformed JSON-RPC gets an error and the server keeps answering
    proc.stdin.write(b'{"jsonrpc":"2.0","id":99,"method":\n')
    await proc.stdin.drain()
    r = await rpc({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "generate_gateway", "arguments": {}}})
    assert r["result"]["isError"] is False
    r = await rpc({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "add_rate_limit", "arguments": {}}})
    assert r["result"]["isError"] is False
    proc.kill()
    await proc.wait()


def test_kill_between_calls(tmp_path):
    asyncio.run(killed_session(tmp_path))
    r = asyncio.run(one_call(tmp_path, "add_circuit_breaker", {}))
    assert r.is_error is False
    btp = (tmp_path / "traffic" / "backendtrafficpolicy-task-api-traffic.yaml").read_text()
    assert "rateLimit" in btp and "circuitBreaker" in btp
    assert [p.name for p in (tmp_path / "traffic").iterdir() if ".tmp." in p.name] == []


async def spec_first_session(root):
    """The spec-first path: traffic-spec.md in the root -> generate_from_spec -> validate."""
    (root / "traffic-spec.md").write_text((REPO / "examples" / "task-api" / "traffic-spec.md").read_text())
    async with Client(params(root), mode="auto") as client:
        r = await client.call_tool("generate_from_spec", {})
        assert r.is_error is False, text_of(r)
        paths = {f["path"] for f in r.structured_content["files"]}
        assert "traffic/backendtrafficpolicy-task-api-traffic.yaml" in paths
        v = await client.call_tool("validate", {})
        assert v.is_error is False, text_of(v)
        rows = v.structured_content["compliance"]
        assert [r["id"] for r in rows] == [f"SC-00{i}" for i in range(1, 8)]
        assert all(r["status"] == "PASS" for r in rows), rows
        assert v.structured_content["summary"]["errors"] == 0
        sc002 = next(r for r in rows if r["id"] == "SC-002")
        assert sc002["evidence"] == ("BackendTrafficPolicy task-api/task-api-traffic: x-user-id Distinct 100/Minute; "
                                     "requests without x-user-id 10/Minute")
        assert "SC-004 PASS" in text_of(v)
        # a hand edit that breaks SC-006: FAIL with the reason, and isError
        btp = root / "traffic" / "backendtrafficpolicy-task-api-traffic.yaml"
        btp.write_text(btp.read_text().replace("maxConnections: 50", "maxConnections: 500"))
        v = await client.call_tool("validate", {})
        assert v.is_error is True
        sc006 = next(r for r in v.structured_content["compliance"] if r["id"] == "SC-006")
        assert sc006["status"] == "FAIL" and "max_connections: the intent says 50, the stack has 500" in sc006["evidence"], sc006
        # a broken spec: line-numbered errors, nothing written
        before = {p.name: p.read_bytes() for p in (root / "traffic").iterdir()}
        r = await client.call_tool("generate_from_spec", {"spec": "```yaml traffic-spec\nservice: {name: x}\n```\n"})
        assert r.is_error is True and "<inline spec>:2" in text_of(r), text_of(r)
        assert before == {p.name: p.read_bytes() for p in (root / "traffic").iterdir()}
        # prompts and completion
        prompts = await client.list_prompts()
        assert {p.name for p in prompts.prompts} == {"write_spec", "review_stack", "production_readiness"}
        gp = await client.get_prompt("write_spec", {"service": "orders"})
        assert "orders.example.com" in gp.messages[0].content.text


def test_spec_first_path(tmp_path):
    asyncio.run(spec_first_session(tmp_path))

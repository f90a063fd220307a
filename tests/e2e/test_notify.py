"""Change notifications, logging, titles, output schemas and plain-word errors, through the
official Python SDK (mcp 2.3.0) in both protocol eras, and a raw client for what the SDK hides."""
import asyncio
import json
import pathlib
import sys

import pytest
from mcp import ClientSession, types
from mcp.client.client import Client
from mcp.client.stdio import stdio_client

from rawmcp import Server, server_env
from test_mcp_e2e import REPO, params

GATEWAY_URI = "traffic-engineer://stack/gateway-task-api-gateway.yaml"
ROUTE_URI = "traffic-engineer://stack/httproute-task-api.yaml"


async def wait_for(pred, timeout=10.0):
    for _ in range(int(timeout / 0.05)):
        if pred():
            return True
        await asyncio.sleep(0.05)
    return pred()


def test_legacy_era_list_changed_updated_and_logs(tmp_path):
    seen = []
    logs = []

    async def on_message(m):
        if isinstance(m, types.ServerNotification) or hasattr(m, "method"):
            seen.append(m)

    async def on_log(p):
        logs.append(p)

    def methods():
        return [getattr(m, "method", None) for m in seen]

    async def go():
        async with stdio_client(params(tmp_path)) as (read, write):
            async with ClientSession(read, write, message_handler=on_message, logging_callback=on_log) as s:
                init = await s.initialize()
                caps = init.capabilities
                assert caps.resources.list_changed is True and caps.resources.subscribe is True
                assert caps.logging is not None
                await s.set_logging_level("info")
                await s.subscribe_resource(GATEWAY_URI)
                r = await s.call_tool("generate_gateway", {})
                assert not r.is_error, r
                assert await wait_for(lambda: "notifications/resources/list_changed" in methods()), methods()
                assert await wait_for(lambda: "notifications/resources/updated" in methods()), methods()
                updated = [m.params.uri for m in seen if getattr(m, "method", None) == "notifications/resources/updated"]
                # only the subscribed URI, though the call also wrote the HTTPRoute
                assert updated == [GATEWAY_URI], updated
                listed = {str(x.uri) for x in (await s.list_resources()).resources}
                assert GATEWAY_URI in listed and ROUTE_URI in listed
                # the same call again writes nothing: nothing to announce
                before = len(seen)
                r = await s.call_tool("generate_gateway", {})
                assert not r.is_error, r
                await s.send_ping()
                await asyncio.sleep(0.3)
                assert [getattr(m, "method", None) for m in seen[before:]] == [], seen[before:]
                # a change to the route only: list_changed, but no update for the gateway
                before = len(seen)
                r = await s.call_tool("generate_gateway", {"routes": [{"name": "task-api", "rules": [{"name": "default", "path": "/", "backend": "task-api-v1", "timeout": "9s"}]}]})
                if not r.is_error:
                    assert await wait_for(lambda: "notifications/resources/list_changed" in methods()[before:])
                # validate tells what the CRDs behind it are (info level was set)
                await s.call_tool("validate", {})
                assert await wait_for(lambda: any("CRDs" in str(l.data) for l in logs)), logs
                assert all(l.logger == "traffic-engineer" for l in logs)

    asyncio.run(go())


def test_legacy_logging_default_is_warning_and_off_below(tmp_path):
    logs = []

    async def on_log(p):
        logs.append(p)

    async def go():
        async with stdio_client(params(tmp_path)) as (read, write):
            async with ClientSession(read, write, logging_callback=on_log) as s:
                await s.initialize()
                await s.set_logging_level("error")
                await s.call_tool("validate", {})
                await s.send_ping()
                await asyncio.sleep(0.3)
                # the CRDs loaded fine (info): nothing at error level
                assert logs == [], logs

    asyncio.run(go())


def test_modern_era_listen_sees_the_change(tmp_path):
    async def go():
        async with Client(params(tmp_path), mode="auto") as client:
            assert client.protocol_version == "2026-07-28"
            async with client.listen(resources_list_changed=True, resource_subscriptions=[GATEWAY_URI]) as sub:
                r = await client.call_tool("generate_gateway", {})
                assert not r.is_error, r
                events = []

                async def first_two():
                    async for ev in sub:
                        events.append(ev)
                        if len(events) >= 2:
                            break

                try:
                    await asyncio.wait_for(first_two(), 10)
                except asyncio.TimeoutError:
                    pass
                kinds = [type(e).__name__ for e in events]
                assert kinds == ["ResourcesListChanged", "ResourceUpdated"], events
                # only the subscribed URI, though the call also wrote the HTTPRoute
                assert events[1].uri == GATEWAY_URI, events

    asyncio.run(go())


def test_tools_have_titles_and_output_schemas(tmp_path):
    async def go():
        async with stdio_client(params(tmp_path)) as (read, write):
            async with ClientSession(read, write) as s:
                await s.initialize()
                tools = (await s.list_tools()).tools
                for t in tools:
                    assert t.title, f"{t.name} has no top-level title"
                    assert t.output_schema and t.output_schema.get("type") == "object", f"{t.name} has no outputSchema"
                by = {t.name: t for t in tools}
                assert by["generate_tls"].annotations.destructive_hint is True
                r = await s.call_tool("generate_gateway", {})
                assert r.structured_content and "files" in r.structured_content
                for name in ("files", "summary", "next_step"):
                    assert name in by["generate_gateway"].output_schema["properties"]

    asyncio.run(go())


def test_plain_word_errors(tmp_path):
    crds = tmp_path / "crds"
    crds.mkdir()

    async def go():
        s = await Server(tmp_path, server_env(crds)).start()
        await s.initialize()
        r = await s.request("no/such-method", {})
        assert r["error"]["code"] == -32601 and r["error"]["message"] == "method not found: no/such-method", r
        r = await s.request("prompts/get", {"name": "write_spec", "arguments": {}})
        msg = r["error"]["message"]
        assert "missing argument service" in msg and "Failed to parse" not in msg, msg
        r = await s.request("prompts/get", {"name": "write_spec", "arguments": {"service": "a", "colour": "b"}})
        msg = r["error"]["message"]
        assert 'unknown argument "colour"' in msg and "service, namespace, hostname" in msg, msg
        r = await s.request("prompts/get", {"name": "review_stack", "arguments": {"focus": 3}})
        assert "focus must be text" in r["error"]["message"], r
        r = await s.request("prompts/get", {"name": "nope"})
        assert "write_spec" in r["error"]["message"], r
        r = await s.request("prompts/get", {"name": "write_spec", "arguments": {"service": "shop"}})
        assert "result" in r, r
        s.kill()
        await s.wait()

    asyncio.run(go())


def test_result_bytes_text_versus_structured(tmp_path):
    """The figure behind the README's choice (summary text + links, no JSON text block): the Task
    API sequence's text content against its structuredContent. Also: every success carries
    structuredContent with the fields its outputSchema requires."""
    spec = REPO / "examples" / "task-api" / "traffic-spec.md"
    (tmp_path / "traffic-spec.md").write_text(spec.read_text())

    async def go():
        async with stdio_client(params(tmp_path)) as (read, write):
            async with ClientSession(read, write) as s:
                await s.initialize()
                schemas = {t.name: t.output_schema for t in (await s.list_tools()).tools}
                text_bytes = json_bytes = 0
                for tool in ["generate_gateway", "add_rate_limit", "add_circuit_breaker", "generate_tls", "generate_scaledobject", "validate"]:
                    r = await s.call_tool(tool, {})
                    assert r.structured_content is not None, tool
                    for field in schemas[tool].get("required", []):
                        assert field in r.structured_content, (tool, field)
                    text_bytes += sum(len(c.text) for c in r.content if getattr(c, "type", "") == "text")
                    json_bytes += len(json.dumps(r.structured_content, separators=(",", ":")))
                print(f"text {text_bytes} B, structuredContent {json_bytes} B", file=sys.stderr)
                assert json_bytes > text_bytes

    asyncio.run(go())

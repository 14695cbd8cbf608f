"""The MCP client against a real MCP server (the `mcp` SDK's MCPServer) on loopback."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from typing import Any

import pytest

from realtime2.realtime.mcp.client import (
    McpClient,
    McpFailure,
    McpLimits,
    McpServer,
    server_headers,
)
from realtime2.realtime.mcp.hosts import DEFAULT_ALLOWED_HOSTS, McpHostPolicy, McpHostRefused
from tests.support.mcp_server import live_mcp

LOOPBACK = McpHostPolicy.parse(DEFAULT_ALLOWED_HOSTS)


async def test_lists_and_calls_tools_over_streamable_http() -> None:
    async with live_mcp() as mcp:
        client = McpClient(LOOPBACK)
        server = McpServer("math", mcp.url)
        tools = {t.name: t for t in await client.list_tools(server)}
        assert {"add", "boom", "slow", "big"} <= set(tools)
        assert tools["add"].description == "Add two integers."
        assert tools["add"].input_schema["required"] == ["a", "b"]
        assert await client.call_tool(server, "add", '{"a": 2, "b": 3}') == "5"


async def test_lists_and_calls_tools_over_sse() -> None:
    async with live_mcp(sse=True) as mcp:
        client = McpClient(LOOPBACK)
        server = McpServer("math", mcp.sse_url)
        assert "add" in {t.name for t in await client.list_tools(server)}
        assert await client.call_tool(server, "add", '{"a": 40, "b": 2}') == "42"


async def test_a_failing_tool_is_a_tool_execution_error() -> None:
    async with live_mcp() as mcp:
        with pytest.raises(McpFailure) as failed:
            await McpClient(LOOPBACK).call_tool(McpServer("m", mcp.url), "boom", "{}")
    assert failed.value.as_error()["type"] == "tool_execution_error"


async def test_an_unknown_tool_and_bad_arguments_fail_as_item_errors() -> None:
    async with live_mcp() as mcp:
        client = McpClient(LOOPBACK)
        server = McpServer("m", mcp.url)
        with pytest.raises(McpFailure) as unknown:
            await client.call_tool(server, "nope", "{}")
        fetched = len(mcp.requests)
        with pytest.raises(McpFailure) as bad:
            await client.call_tool(server, "add", "not json")
        assert len(mcp.requests) == fetched  # refused before connecting
    assert unknown.value.kind in ("protocol_error", "tool_execution_error")
    assert bad.value.as_error() == {
        "type": "tool_execution_error",
        "message": "arguments are not valid JSON",
    }


async def test_a_host_outside_the_allow_list_is_refused_and_nothing_is_fetched() -> None:
    async with live_mcp() as mcp:
        client = McpClient(McpHostPolicy.parse("mcp.example.com"))
        with pytest.raises(McpFailure) as refused:
            await client.list_tools(McpServer("m", mcp.url))
        assert mcp.requests == []
    error = refused.value.as_error()
    assert error["type"] == "http_error" and error["code"] == 403
    assert "127.0.0.1 is not allowed" in error["message"]


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://[fe80::1]/mcp",
        "http://[::ffff:169.254.169.254]/",
        "file:///etc/passwd",
        "http://user:secret@127.0.0.1/mcp",
    ],
)
def test_metadata_link_local_and_odd_urls_are_never_allowed(url: str) -> None:
    everything = McpHostPolicy.parse("169.254.169.254,fd00:ec2::254,fe80::1,127.0.0.1")
    with pytest.raises(McpHostRefused) as refused:
        everything.check_url(url)
    assert "secret" not in str(refused.value)


async def test_a_listed_name_resolving_to_link_local_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loop = asyncio.get_running_loop()

    async def resolve(host: str, port: int, **kwargs: Any) -> list[Any]:
        address = "169.254.169.254" if host == "metadata.test" else "93.184.216.34"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(loop, "getaddrinfo", resolve)
    policy = McpHostPolicy.parse("metadata.test,public.test")
    with pytest.raises(McpHostRefused) as refused:
        await policy.check("http://metadata.test/mcp")
    assert "resolves to a link-local or metadata address" in str(refused.value)
    await policy.check("https://public.test/mcp")  # allowed: listed, public address
    with pytest.raises(McpHostRefused):
        await policy.check("http://unresolvable.invalid/")  # not listed
    assert McpHostPolicy.parse("*.example.com").host_listed("mcp.example.com")
    assert not McpHostPolicy.parse("*.example.com").host_listed("example.com.evil.net")
    assert not McpHostPolicy.parse("").host_listed("localhost")


async def test_a_slow_server_fails_at_the_timeout() -> None:
    async with live_mcp() as mcp:
        client = McpClient(LOOPBACK, McpLimits(timeout_s=0.5))
        started = time.monotonic()
        with pytest.raises(McpFailure) as slow:
            await client.call_tool(McpServer("m", mcp.url), "slow", '{"seconds": 30}')
        assert time.monotonic() - started < 3
    assert slow.value.as_error()["code"] == 504


async def test_an_output_over_the_size_limit_is_refused() -> None:
    async with live_mcp() as mcp:
        client = McpClient(LOOPBACK, McpLimits(max_output_bytes=1000))
        server = McpServer("m", mcp.url)
        assert await client.call_tool(server, "big", '{"n": 10}') == "x" * 10
        with pytest.raises(McpFailure) as big:
            await client.call_tool(server, "big", '{"n": 5000}')
        with pytest.raises(McpFailure) as huge:  # stopped by the transport, unread
            await client.call_tool(server, "big", '{"n": 100000}')
    assert "over 1000 bytes" in big.value.message
    assert huge.value.kind == "protocol_error"


async def test_a_huge_json_response_is_cut_off_unread() -> None:
    """A server answering with plain JSON (read whole by the SDK) is cut off too, at once."""
    async with live_mcp(json_response=True) as mcp:
        client = McpClient(LOOPBACK, McpLimits(max_output_bytes=1024, timeout_s=5))
        server = McpServer("m", mcp.url)
        assert await client.call_tool(server, "add", '{"a": 1, "b": 1}') == "2"
        started = time.monotonic()
        with pytest.raises(McpFailure) as huge:
            await client.call_tool(server, "big", '{"n": 2000000}')
        assert time.monotonic() - started < 3
    assert huge.value.kind in ("protocol_error", "http_error")


async def test_headers_reach_the_server_and_never_the_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    tool = {"headers": {"X-Team": "t-1"}, "authorization": "tok-secret-123"}
    server = McpServer("m", "", server_headers(tool))
    assert "tok-secret-123" not in repr(server)
    async with live_mcp() as mcp:
        server = McpServer("m", mcp.url, server_headers(tool))
        await McpClient(LOOPBACK).list_tools(server)
        with pytest.raises(McpFailure):
            await McpClient(LOOPBACK).call_tool(server, "boom", "{}")
    seen = [h for _, h in mcp.requests]
    assert all(h.get("authorization") == "Bearer tok-secret-123" for h in seen)
    assert all(h.get("x-team") == "t-1" for h in seen)
    assert "tok-secret-123" not in caplog.text


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from realtime2.realtime.mcp.settings import McpSettings

    assert McpSettings().client().policy.host_listed("127.0.0.1")
    assert not McpSettings().client().policy.host_listed("mcp.example.com")
    monkeypatch.setenv("REALTIME2_MCP_ALLOWED_HOSTS", "mcp.example.com")
    monkeypatch.setenv("REALTIME2_MCP_TIMEOUT_S", "2.5")
    client = McpSettings().client()
    assert client.policy.host_listed("mcp.example.com")
    assert not client.policy.host_listed("127.0.0.1")
    assert client.limits.timeout_s == 2.5

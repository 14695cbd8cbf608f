"""MCP tools in a running session: a real MCP server (the `mcp` SDK) on loopback, fake
models. The LLM calls the tool in its first pass and speaks about the result in the
next, within the same response."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from realtime2.realtime.mcp.client import McpClient, McpLimits
from realtime2.realtime.mcp.hosts import DEFAULT_ALLOWED_HOSTS, McpHostPolicy
from realtime2.realtime.runner import SessionRunner
from tests.support.fakes import fake_engines
from tests.support.mcp_server import LiveMcp, ToolThenAnswer, live_mcp
from tests.support.runner import Client


def mcp_session(mcp: LiveMcp, **fields: Any) -> dict[str, Any]:
    tool = {
        "type": "mcp",
        "server_label": "math",
        "server_url": mcp.url,
        "require_approval": "never",
        **fields,
    }
    return {"type": "session.update", "session": {"type": "realtime", "tools": [tool]}}


def loopback(**limits: Any) -> McpClient:
    return McpClient(McpHostPolicy.parse(DEFAULT_ALLOWED_HOSTS), McpLimits(**limits))


async def test_a_spoken_response_calls_the_tool_and_speaks_its_result() -> None:
    llm = ToolThenAnswer()
    async with live_mcp() as mcp:
        runner = SessionRunner(fake_engines(llm=llm), mcp=loopback())
        runner.start()
        client = Client(runner)
        await client.send(mcp_session(mcp, allowed_tools=["add", "boom"]))
        listed = await client.wait_for("conversation.item.done")
        assert [t["name"] for t in listed["item"]["tools"]] == ["add", "boom"]
        await client.send({"type": "response.create"})
        done = await client.wait_for("response.done")
        await runner.close()
    assert [t.name for t in llm.requests[0].tools] == ["add", "boom"]
    types = client.types()
    order = [
        "mcp_list_tools.in_progress",
        "mcp_list_tools.completed",
        "response.created",
        "response.mcp_call_arguments.delta",
        "response.mcp_call_arguments.done",
        "response.mcp_call.in_progress",
        "response.mcp_call.completed",
        "response.output_audio_transcript.delta",
        "response.output_audio.delta",
        "response.done",
    ]
    firsts = [types.index(t) for t in order]  # each present, first seen in this order
    assert firsts == sorted(firsts)
    output = done["response"]["output"]
    assert output[0]["type"] == "mcp_call" and output[0]["output"] == "5"
    assert output[1]["content"][0]["transcript"] == "The result is 5."
    assert done["response"]["status"] == "completed"


async def test_a_host_outside_the_allow_list_fails_the_listing_and_nothing_is_fetched() -> None:
    async with live_mcp() as mcp:
        client_policy = McpClient(McpHostPolicy.parse("mcp.example.com"))
        runner = SessionRunner(fake_engines(), mcp=client_policy)
        runner.start()
        client = Client(runner)
        await client.send(mcp_session(mcp))
        await client.wait_for("mcp_list_tools.failed")
        error = await client.wait_for("error")
        await runner.close()
        assert mcp.requests == []
    assert "127.0.0.1 is not allowed on this server" in error["error"]["message"]


async def test_a_tool_error_and_a_slow_server_fail_the_call_not_the_response() -> None:
    for tool, arguments, kind in [
        ("boom", "{}", "tool_execution_error"),
        ("slow", '{"seconds": 30}', "http_error"),
    ]:
        llm = ToolThenAnswer(tool=tool, arguments=arguments)
        async with live_mcp() as mcp:
            runner = SessionRunner(fake_engines(llm=llm), mcp=loopback(timeout_s=0.5))
            runner.start()
            client = Client(runner)
            await client.send(mcp_session(mcp))
            await client.wait_for("mcp_list_tools.completed")
            started = time.monotonic()
            await client.send({"type": "response.create"})
            done = await client.wait_for("response.done")
            await runner.close()
        assert time.monotonic() - started < 3
        assert "response.mcp_call.failed" in client.types()
        call = done["response"]["output"][0]
        assert call["error"]["type"] == kind, call
        assert llm.requests[1].messages[-1].content.startswith("Error: ")
        assert done["response"]["status"] == "completed"


async def test_cancelling_during_a_slow_call_and_closing_stop_at_once() -> None:
    llm = ToolThenAnswer(tool="slow", arguments='{"seconds": 30}')
    async with live_mcp() as mcp:
        runner = SessionRunner(fake_engines(llm=llm), mcp=loopback(timeout_s=60))
        runner.start()
        client = Client(runner)
        await client.send(mcp_session(mcp))
        await client.wait_for("mcp_list_tools.completed")
        await client.send({"type": "response.create"})
        await client.wait_for("response.mcp_call.in_progress")
        started = time.monotonic()
        await client.send({"type": "response.cancel"})
        done = await client.wait_for("response.done")
        assert done["response"]["status"] == "cancelled"
        assert done["response"]["output"][0]["error"]["type"] == "tool_execution_error"
        user = {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "again"}],
        }
        await client.send({"type": "conversation.item.create", "item": user})
        await client.send({"type": "response.create"})
        await client.wait_for("response.mcp_call.in_progress", 2)
        await asyncio.wait_for(runner.close(), 2)
        assert time.monotonic() - started < 3
        assert not [t for t in runner._tasks if not t.done()]
    assert json.dumps(client.events)  # JSON-ready, validated by the Client as they came

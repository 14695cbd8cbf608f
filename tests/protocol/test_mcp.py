"""MCP tools in the sans-I/O session: listing, calls, approvals, limits (no network).

The runner's side (a real MCP server on loopback) is tests/realtime/test_mcp_runner.py.
"""

from __future__ import annotations

from typing import Any

from realtime2.engine.interfaces import ChatMessage, TokenUsage, ToolCall
from realtime2.protocol import commands as cmd
from tests.support.harness import Harness

ADD = {
    "name": "add",
    "description": "Add two integers.",
    "input_schema": {"type": "object", "properties": {"a": {"type": "integer"}}},
    "annotations": {"readOnlyHint": True},
}
WRITE = {"name": "write", "description": "Write.", "input_schema": {"type": "object"}}


def mcp_tool(**fields: Any) -> dict[str, Any]:
    return {
        "type": "mcp",
        "server_label": "math",
        "server_url": "http://127.0.0.1:9/mcp",
        "require_approval": "never",
        **fields,
    }


def listed(h: Harness, *tools: dict[str, Any], **fields: Any) -> cmd.ListMcpTools:
    h.send(
        {"type": "session.update", "session": {"type": "realtime", "tools": [mcp_tool(**fields)]}}
    )
    (listing,) = h.take(cmd.ListMcpTools)
    h.session.on_mcp_tools_listed(listing.item_id, [dict(t) for t in tools])
    h.drain()
    assert isinstance(listing, cmd.ListMcpTools)
    return listing


def test_session_update_lists_the_servers_tools_into_an_item() -> None:
    h = Harness()
    new = h.send(
        {
            "type": "session.update",
            "session": {
                "type": "realtime",
                "tools": [mcp_tool(headers={"X-Team": "t1"}, authorization="tok-1")],
            },
        }
    )
    assert h.types(new) == [
        "session.updated",
        "conversation.item.added",
        "mcp_list_tools.in_progress",
    ]
    shown = new[0]["session"]["tools"][0]
    assert "authorization" not in shown and shown["headers"] == {"X-Team": "[redacted]"}
    (listing,) = h.take(cmd.ListMcpTools)
    assert listing.server.headers == {"X-Team": "t1", "Authorization": "Bearer tok-1"}
    assert "tok-1" not in repr(listing)
    h.session.on_mcp_tools_listed(listing.item_id, [ADD, WRITE])
    done = h.drain()
    assert h.types(done) == ["mcp_list_tools.completed", "conversation.item.done"]
    assert [t["name"] for t in done[1]["item"]["tools"]] == ["add", "write"]
    # the same server again is not listed again; another URL is
    h.send({"type": "session.update", "session": {"type": "realtime", "instructions": "hi"}})
    assert h.take(cmd.ListMcpTools) == []
    h.send(
        {
            "type": "session.update",
            "session": {"type": "realtime", "tools": [mcp_tool(server_url="http://localhost/m")]},
        }
    )
    assert len(h.take(cmd.ListMcpTools)) == 1


def test_a_failed_listing_says_why_and_offers_nothing() -> None:
    h = Harness()
    h.send({"type": "session.update", "session": {"type": "realtime", "tools": [mcp_tool()]}})
    (listing,) = h.take(cmd.ListMcpTools)
    h.session.on_mcp_tools_failed(listing.item_id, "MCP host 10.0.0.1 is not allowed")
    new = h.drain()
    assert h.types(new) == ["mcp_list_tools.failed", "error", "conversation.item.done"]
    assert "10.0.0.1 is not allowed" in new[1]["error"]["message"]
    h.send({"type": "response.create"})
    (start,) = h.take(cmd.StartResponse)
    assert start.request.tools == []


def test_allowed_tools_filters_what_the_llm_is_offered() -> None:
    h = Harness()
    listed(h, ADD, WRITE, allowed_tools=["add"])
    h.send({"type": "response.create"})
    (start,) = h.take(cmd.StartResponse)
    assert [t.name for t in start.request.tools] == ["add"]
    assert start.request.tools[0].parameters == ADD["input_schema"]
    h2 = Harness()
    listed(h2, ADD, WRITE, allowed_tools={"read_only": False})
    h2.send({"type": "response.create"})
    (start,) = h2.take(cmd.StartResponse)
    assert [t.name for t in start.request.tools] == ["write"]


def test_a_response_waits_for_the_listing() -> None:
    h = Harness()
    h.send({"type": "session.update", "session": {"type": "realtime", "tools": [mcp_tool()]}})
    (listing,) = h.take(cmd.ListMcpTools)
    h.send({"type": "response.create"})
    assert h.take(cmd.StartResponse) == []
    h.session.on_mcp_tools_listed(listing.item_id, [ADD])
    h.drain()
    (start,) = h.take(cmd.StartResponse)
    assert [t.name for t in start.request.tools] == ["add"]


def test_an_mcp_call_runs_and_the_same_response_answers_with_its_result() -> None:
    h = Harness()
    listed(h, ADD)
    h.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
    (start,) = h.take(cmd.StartResponse)
    rid = start.response_id
    h.session.on_response_tool_call(rid, "call_1", "add", '{"a": 2,')
    h.session.on_response_tool_call(rid, "call_1", "", ' "b": 3}')
    h.session.on_response_done(rid, "tool_calls", TokenUsage(10, 5))
    h.drain()
    (call,) = h.take(cmd.CallMcpTool)
    assert (call.name, call.arguments, call.server.label) == ("add", '{"a": 2, "b": 3}', "math")
    assert h.of("response.done") == []  # the response goes on
    h.session.on_mcp_call_done(rid, call.item_id, "5")
    h.drain()
    (again,) = h.take(cmd.StartResponse)
    assert again.response_id == rid
    assert again.request.tool_choice == "auto"
    assert again.request.messages[-2:] == [
        ChatMessage("assistant", "", (ToolCall(call.item_id, "add", '{"a": 2, "b": 3}'),)),
        ChatMessage("tool", "5", tool_call_id=call.item_id),
    ]
    h.session.on_response_text(rid, "It is 5.")
    h.session.on_response_done(rid, "stop", TokenUsage(20, 4))
    h.drain()
    assert [t for t in h.types() if t.startswith(("response.mcp", "response.output_item"))] == [
        "response.output_item.added",
        "response.mcp_call_arguments.delta",
        "response.mcp_call_arguments.delta",
        "response.mcp_call_arguments.done",
        "response.mcp_call.in_progress",
        "response.mcp_call.completed",
        "response.output_item.done",
        "response.output_item.added",
        "response.output_item.done",
    ]
    (done,) = h.of("response.done")
    output = done["response"]["output"]
    assert output[0]["type"] == "mcp_call" and output[0]["output"] == "5"
    assert output[1]["content"][0]["text"] == "It is 5."
    assert done["response"]["usage"]["input_tokens"] == 30


def test_a_failed_call_is_an_item_error_the_llm_reads() -> None:
    h = Harness()
    listed(h, ADD)
    h.send({"type": "response.create"})
    (start,) = h.take(cmd.StartResponse)
    h.session.on_response_tool_call(start.response_id, "c", "add", "{}")
    h.session.on_response_done(start.response_id, "tool_calls", TokenUsage())
    h.drain()
    (call,) = h.take(cmd.CallMcpTool)
    error = {"type": "http_error", "code": 504, "message": "the MCP server timed out"}
    h.session.on_mcp_call_done(start.response_id, call.item_id, None, error)
    h.drain()
    assert len(h.of("response.mcp_call.failed")) == 1
    (again,) = h.take(cmd.StartResponse)
    assert again.request.messages[-1].content == "Error: the MCP server timed out"


def test_calls_past_the_limit_fail_unrun_and_the_last_pass_gets_no_tools() -> None:
    h = Harness()
    listed(h, ADD)
    h.session.settings.mcp.max_calls = 1
    h.send({"type": "response.create"})
    (start,) = h.take(cmd.StartResponse)
    rid = start.response_id
    h.session.on_response_tool_call(rid, "c1", "add", "{}")
    h.session.on_response_tool_call(rid, "c2", "add", "{}")
    h.session.on_response_done(rid, "tool_calls", TokenUsage())
    h.drain()
    (call,) = h.take(cmd.CallMcpTool)  # the second is refused unrun
    failed = h.of("response.mcp_call.failed")
    assert len(failed) == 1
    h.session.on_mcp_call_done(rid, call.item_id, "0")
    h.drain()
    (again,) = h.take(cmd.StartResponse)
    assert again.request.tool_choice == "none"


def test_approval_request_then_approved_call_in_the_next_response() -> None:
    h = Harness()
    listed(h, ADD, require_approval={"never": {"tool_names": ["other"]}})
    h.send({"type": "response.create"})
    (start,) = h.take(cmd.StartResponse)
    h.session.on_response_tool_call(start.response_id, "c", "add", '{"a": 1}')
    h.session.on_response_done(start.response_id, "tool_calls", TokenUsage())
    h.drain()
    assert h.take(cmd.CallMcpTool) == []
    (done,) = h.of("response.done")
    request = done["response"]["output"][0]
    assert request["type"] == "mcp_approval_request" and request["arguments"] == '{"a": 1}'
    # an unknown request id is refused by name
    bad = h.send(
        {
            "type": "conversation.item.create",
            "item": {"type": "mcp_approval_response", "approval_request_id": "x", "approve": True},
        }
    )
    assert bad[0]["error"]["param"] == "item.approval_request_id"
    h.send(
        {
            "type": "conversation.item.create",
            "item": {
                "type": "mcp_approval_response",
                "approval_request_id": request["id"],
                "approve": True,
            },
        }
    )
    h.send({"type": "response.create"})
    assert h.take(cmd.StartResponse) == []  # the approved call runs first
    (call,) = h.take(cmd.CallMcpTool)
    assert call.arguments == '{"a": 1}'
    item = h.of("response.output_item.added")[-1]["item"]
    assert item["approval_request_id"] == request["id"]
    h.session.on_mcp_call_done(call.response_id, call.item_id, "1")
    h.drain()
    (again,) = h.take(cmd.StartResponse)
    assert again.request.messages[-1] == ChatMessage("tool", "1", tool_call_id=call.item_id)


def test_a_denied_approval_is_what_the_llm_reads() -> None:
    h = Harness()
    listed(h, ADD)  # require_approval "never" in mcp_tool: ask explicitly
    h.send(
        {
            "type": "session.update",
            "session": {"type": "realtime", "tools": [mcp_tool(require_approval="always")]},
        }
    )
    h.send({"type": "response.create"})
    (start,) = h.take(cmd.StartResponse)
    h.session.on_response_tool_call(start.response_id, "c", "add", "{}")
    h.session.on_response_done(start.response_id, "tool_calls", TokenUsage())
    h.drain()
    request = h.of("response.done")[0]["response"]["output"][0]
    h.send(
        {
            "type": "conversation.item.create",
            "item": {
                "type": "mcp_approval_response",
                "approval_request_id": request["id"],
                "approve": False,
                "reason": "not now",
            },
        }
    )
    h.send({"type": "response.create"})
    assert h.take(cmd.CallMcpTool) == []
    (again,) = h.take(cmd.StartResponse)
    assert again.request.messages[-1].content == "The user did not approve this call: not now"


def test_mcp_tool_choice_forces_the_tool_once() -> None:
    h = Harness()
    listed(h, ADD, WRITE)
    h.send(
        {
            "type": "response.create",
            "response": {"tool_choice": {"type": "mcp", "server_label": "math", "name": "add"}},
        }
    )
    (start,) = h.take(cmd.StartResponse)
    assert start.request.tool_choice == "add"
    h.session.on_response_tool_call(start.response_id, "c", "add", "{}")
    h.session.on_response_done(start.response_id, "tool_calls", TokenUsage())
    h.drain()
    (call,) = h.take(cmd.CallMcpTool)
    h.session.on_mcp_call_done(start.response_id, call.item_id, "0")
    h.drain()
    (again,) = h.take(cmd.StartResponse)
    assert again.request.tool_choice == "none"  # forced once: now the answer
    bad = h.send(
        {
            "type": "response.create",
            "response": {
                "conversation": "none",
                "tool_choice": {"type": "mcp", "server_label": "nope"},
            },
        }
    )
    assert bad[0]["error"]["param"] == "response.tool_choice.server_label"
    h.send(
        {
            "type": "response.create",
            "response": {
                "conversation": "none",
                "tool_choice": {"type": "mcp", "server_label": "math"},
            },
        }
    )
    (start,) = h.take(cmd.StartResponse)
    assert start.request.tool_choice == "required"
    assert [t.name for t in start.request.tools] == ["add", "write"]


def test_cancelling_a_response_closes_its_running_call() -> None:
    h = Harness()
    listed(h, ADD)
    h.send({"type": "response.create"})
    (start,) = h.take(cmd.StartResponse)
    h.session.on_response_tool_call(start.response_id, "c", "add", "{}")
    h.session.on_response_done(start.response_id, "tool_calls", TokenUsage())
    h.drain()
    (call,) = h.take(cmd.CallMcpTool)
    h.send({"type": "response.cancel"})
    assert h.take(cmd.CancelResponse)
    added = [e for e in h.of("response.output_item.added")]
    done = [e for e in h.of("response.output_item.done")]
    assert len(added) == len(done)
    h.session.on_mcp_call_done(start.response_id, call.item_id, "late")  # dropped
    assert h.drain() == []


def test_refusals_name_the_field() -> None:
    h = Harness()
    for tool, param in [
        ({**mcp_tool(), "connector_id": "connector_gmail"}, "session.tools.0.connector_id"),
        ({**mcp_tool(), "tunnel_id": "t"}, "session.tools.0.tunnel_id"),
        ({k: v for k, v in mcp_tool().items() if k != "server_url"}, "session.tools.0.server_url"),
    ]:
        new = h.send({"type": "session.update", "session": {"type": "realtime", "tools": [tool]}})
        assert new[0]["error"]["param"] == param, new
    dup = h.send(
        {
            "type": "session.update",
            "session": {"type": "realtime", "tools": [mcp_tool(), mcp_tool()]},
        }
    )
    assert dup[0]["error"]["param"] == "session.tools.1.server_label"
    inline = h.send(
        {
            "type": "response.create",
            "response": {"tools": [mcp_tool(server_label="other")]},
        }
    )
    assert inline[0]["error"]["param"] == "response.tools.0.server_label"


def test_server_description_and_response_tools_reach_the_llm() -> None:
    h = Harness()
    listed(h, ADD, WRITE, server_description="Arithmetic")
    h.send({"type": "response.create"})
    (start,) = h.take(cmd.StartResponse)
    assert start.request.tools[0].description == "Arithmetic: Add two integers."
    h.session.on_response_done(start.response_id, "stop", TokenUsage())
    # a response may narrow the session's servers: its own tools list names one
    h.send(
        {
            "type": "response.create",
            "response": {
                "tools": [mcp_tool(allowed_tools=["write"], server_description="Arithmetic")]
            },
        }
    )
    (start,) = h.take(cmd.StartResponse)
    assert [t.name for t in start.request.tools] == ["write"]
    h.session.on_response_done(start.response_id, "stop", TokenUsage())
    h.send({"type": "response.create", "response": {"tools": []}})
    (start,) = h.take(cmd.StartResponse)
    assert start.request.tools == []

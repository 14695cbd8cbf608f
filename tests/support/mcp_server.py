"""A real MCP server (the `mcp` SDK's MCPServer) on loopback, for the MCP tests, and a
fake LLM that uses one of its tools.

Tools: `add` (a + b), `boom` (raises), `slow` (sleeps `seconds`), `big` (`n` bytes of text).
`requests` records the path and headers of every HTTP request the server received, so a
test can say that nothing was fetched, or which headers arrived.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from mcp.server.mcpserver import MCPServer

from realtime2.engine.interfaces import (
    LLMCapabilities,
    LLMDone,
    LLMEvent,
    LLMRequest,
    Priority,
    TextDelta,
    TokenUsage,
    ToolCallDelta,
)
from tests.support.server import running


def build_server() -> MCPServer:
    server = MCPServer("realtime2-test")

    @server.tool()
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    @server.tool()
    def boom() -> str:
        """Always fails."""
        raise ValueError("the boom tool failed")

    @server.tool()
    async def slow(seconds: float) -> str:
        """Answer after `seconds`."""
        await asyncio.sleep(seconds)
        return "finally"

    @server.tool()
    def big(n: int) -> str:
        """`n` bytes of text."""
        return "x" * n

    return server


@dataclass
class LiveMcp:
    port: int
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    @property
    def sse_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/sse"


@asynccontextmanager
async def live_mcp(*, sse: bool = False, json_response: bool = False) -> AsyncIterator[LiveMcp]:
    """`sse`: the old SSE transport; `json_response`: streamable HTTP answering in JSON."""
    server = build_server()
    inner = server.sse_app() if sse else server.streamable_http_app(json_response=json_response)
    live = LiveMcp(port=0)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
            live.requests.append((scope["path"], headers))
        await inner(scope, receive, send)

    async with running(app, log_level="warning") as uv:
        live.port = uv.config.port
        yield live


@dataclass
class ToolThenAnswer:
    """Calls `tool` with `arguments` unless the last message is a tool's answer, which it
    then repeats in a sentence."""

    tool: str = "add"
    arguments: str = '{"a": 2, "b": 3}'
    name: str = "fake-tool-llm"
    capabilities: LLMCapabilities = field(
        default_factory=lambda: LLMCapabilities(streaming=True, tools=True, context_tokens=2048)
    )
    requests: list[LLMRequest] = field(default_factory=list)

    async def stream(
        self, request: LLMRequest, *, priority: Priority = Priority.INTERACTIVE
    ) -> AsyncIterator[LLMEvent]:
        self.requests.append(request)
        last = request.messages[-1]
        if last.role == "tool":
            yield TextDelta(f"The result is {last.content}.")
            yield LLMDone("stop", TokenUsage(20, 6))
            return
        yield ToolCallDelta("call_1", self.tool, self.arguments)
        yield LLMDone("tool_calls", TokenUsage(10, 8))

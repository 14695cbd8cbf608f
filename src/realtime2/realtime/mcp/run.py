"""The MCP commands of a session (`ListMcpTools`, `CallMcpTool`), run for its runner.

Each runs as a task of the session (`spawn`), so closing the session cancels it and the
session's meter covers it; the client's deadline (`McpLimits.timeout_s`) bounds each, so
a server that hangs holds neither the response nor the session. Cancelling a response
cancels its calls. Results go back to the session, which drops those of responses that
ended meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from realtime2.protocol.commands import CallMcpTool, ListMcpTools, McpServerRef
from realtime2.protocol.session import RealtimeSession
from realtime2.realtime.mcp.client import McpClient, McpFailure, McpServer

log = logging.getLogger(__name__)

Spawn = Callable[[Coroutine[Any, Any, None]], "asyncio.Task[None]"]


class McpRunner:
    def __init__(
        self, session: RealtimeSession, client: McpClient, spawn: Spawn, flush: Callable[[], None]
    ) -> None:
        self.session = session
        self.client = client
        self._spawn = spawn
        self._flush = flush
        self._calls: dict[str, set[asyncio.Task[None]]] = {}
        session.settings.mcp.max_calls = client.limits.max_calls_per_response

    def execute(self, command: ListMcpTools | CallMcpTool) -> None:
        if isinstance(command, ListMcpTools):
            self._spawn(self._list(command))
            return
        task = self._spawn(self._call(command))
        tasks = self._calls.setdefault(command.response_id, set())
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def cancel(self, response_id: str) -> None:
        for task in self._calls.pop(response_id, set()):
            task.cancel()

    async def _list(self, c: ListMcpTools) -> None:
        try:
            tools = await self.client.list_tools(_server(c.server))
        except McpFailure as exc:
            log.info("mcp listing failed session=%s label=%s", self.session.id, c.server.label)
            self.session.on_mcp_tools_failed(c.item_id, exc.message)
        else:
            self.session.on_mcp_tools_listed(c.item_id, [t.as_item() for t in tools])
        self._flush()

    async def _call(self, c: CallMcpTool) -> None:
        try:
            output = await self.client.call_tool(_server(c.server), c.name, c.arguments)
        except McpFailure as exc:
            log.info(
                "mcp call failed session=%s label=%s kind=%s",
                self.session.id,
                c.server.label,
                exc.kind,
            )
            self.session.on_mcp_call_done(c.response_id, c.item_id, None, exc.as_error())
        else:
            self.session.on_mcp_call_done(c.response_id, c.item_id, output)
        self._flush()


def _server(ref: McpServerRef) -> McpServer:
    return McpServer(ref.label, ref.url, dict(ref.headers))

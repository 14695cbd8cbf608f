"""The MCP client a realtime session uses: list a server's tools, call one.

Built on the official `mcp` SDK: streamable HTTP, or SSE for older servers (a `server_url`
whose path ends in `/sse`). Every operation opens its own connection, checks the URL against
the operator's host policy first (`realtime.mcp.hosts`: a refused URL is never fetched), and
runs under one deadline (`McpLimits.timeout_s`), so a server that hangs cannot hold a
session, or its meter, past it. Outputs past `max_output_bytes` and listings past
`max_tools` are refused rather than fed to the LLM.

Failures are `McpFailure`s shaped as the Realtime `mcp_call` / `mcp_list_tools` errors
(`protocol_error`, `tool_execution_error`, `http_error`). Headers (`authorization` among
them) go to the MCP server only: they are never logged nor part of a repr or an error.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import httpx2
from mcp.client.session import ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from realtime2.realtime.mcp.hosts import McpHostPolicy, McpHostRefused

log = logging.getLogger(__name__)

T = TypeVar("T")
FailureKind = Literal["protocol_error", "tool_execution_error", "http_error"]


@dataclass(frozen=True)
class McpLimits:
    timeout_s: float = 10.0
    max_output_bytes: int = 64 * 1024
    max_tools: int = 128
    max_calls_per_response: int = 8


@dataclass(frozen=True)
class McpServer:
    """One `type: "mcp"` tool's server. `headers` stay out of the repr."""

    label: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or "?"


@dataclass(frozen=True)
class McpToolInfo:
    name: str
    description: str | None
    input_schema: dict[str, Any]
    annotations: dict[str, Any] | None

    def as_item(self) -> dict[str, Any]:
        """One entry of an `mcp_list_tools` item's `tools`."""
        return {
            "name": self.name,
            "description": self.description,
            "input_schema": self.input_schema,
            "annotations": self.annotations,
        }


class McpFailure(Exception):
    """A failed MCP operation, as the Realtime item's `error` object."""

    def __init__(self, kind: FailureKind, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.kind: FailureKind = kind
        self.message = message
        self.code = code

    def as_error(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.kind, "message": self.message}
        if self.kind != "tool_execution_error":
            error["code"] = self.code if self.code is not None else 0
        return error


def server_headers(tool: Mapping[str, Any]) -> dict[str, str]:
    """The headers a `type: "mcp"` tool asks for, `authorization` as a bearer token."""
    headers = {str(k): str(v) for k, v in (tool.get("headers") or {}).items()}
    token = tool.get("authorization")
    if token:
        headers["Authorization"] = (
            token if token.lower().startswith("bearer ") else f"Bearer {token}"
        )
    return headers


class McpClient:
    """List and call MCP tools under one host policy and one set of limits."""

    def __init__(self, policy: McpHostPolicy, limits: McpLimits | None = None) -> None:
        self.policy = policy
        self.limits = limits or McpLimits()

    async def list_tools(self, server: McpServer) -> list[McpToolInfo]:
        async def op(session: ClientSession) -> list[McpToolInfo]:
            result = await session.list_tools()
            if len(result.tools) > self.limits.max_tools:
                raise McpFailure(
                    "protocol_error", f"the server lists more than {self.limits.max_tools} tools"
                )
            tools = [
                McpToolInfo(
                    name=t.name,
                    description=t.description,
                    input_schema=dict(t.input_schema),
                    annotations=t.annotations.model_dump(exclude_none=True)
                    if t.annotations
                    else None,
                )
                for t in result.tools
            ]
            size = len(json.dumps([t.as_item() for t in tools]).encode())
            if size > self.limits.max_output_bytes:
                raise McpFailure(
                    "protocol_error",
                    f"the tool list is {size} bytes, over {self.limits.max_output_bytes}",
                )
            return tools

        return await self._run(server, "list", op)

    async def call_tool(self, server: McpServer, name: str, arguments: str) -> str:
        """The tool's text output; raises `McpFailure` (the tool's own error among them)."""
        try:
            args = json.loads(arguments or "{}")
        except ValueError:
            raise McpFailure("tool_execution_error", "arguments are not valid JSON") from None
        if not isinstance(args, dict):
            raise McpFailure("tool_execution_error", "arguments must be a JSON object")

        async def op(session: ClientSession) -> str:
            result = await session.call_tool(name, args)
            parts = [getattr(c, "text", None) or f"[{c.type}]" for c in result.content]
            if not parts and result.structured_content is not None:
                parts = [json.dumps(result.structured_content)]
            text = "\n".join(parts)
            if len(text.encode()) > self.limits.max_output_bytes:
                raise McpFailure(
                    "tool_execution_error",
                    f"the tool's output is over {self.limits.max_output_bytes} bytes",
                )
            if result.is_error:
                raise McpFailure("tool_execution_error", text or "the tool failed")
            return text

        return await self._run(server, "call", op)

    async def _run(
        self, server: McpServer, what: str, op: Callable[[ClientSession], Awaitable[T]]
    ) -> T:
        try:
            await self.policy.check(server.url)
        except McpHostRefused as exc:
            log.info("mcp %s refused label=%s", what, server.label)
            raise McpFailure("http_error", str(exc), 403) from None
        try:
            async with asyncio.timeout(self.limits.timeout_s):
                async with self._session(server) as session:
                    return await op(session)
        except McpFailure:
            raise
        except TimeoutError:
            log.info("mcp %s timed out label=%s host=%s", what, server.label, server.host)
            raise McpFailure(
                "http_error",
                f"the MCP server did not answer within {self.limits.timeout_s:g} s",
                504,
            ) from None
        except Exception as exc:  # every failure becomes the item's error
            raise _failure(_leaf(exc)) from None

    def _http_client(
        self,
        headers: dict[str, str] | None = None,
        timeout: httpx2.Timeout | None = None,
        auth: httpx2.Auth | None = None,
    ) -> httpx2.AsyncClient:
        """An HTTP client whose responses are cut off past the transport limit, JSON bodies
        included (the SDK reads those whole)."""
        limit = _transport_limit(self.limits)
        return httpx2.AsyncClient(
            headers=headers,
            timeout=timeout or httpx2.Timeout(self.limits.timeout_s),
            auth=auth,
            transport=_CappedTransport(httpx2.AsyncHTTPTransport(), limit),
        )

    @asynccontextmanager
    async def _session(self, server: McpServer) -> AsyncIterator[ClientSession]:
        timeout = httpx2.Timeout(self.limits.timeout_s)
        headers = dict(server.headers)
        if urlsplit(server.url).path.rstrip("/").endswith("/sse"):
            streams = sse_client(
                server.url,
                headers=headers,
                timeout=self.limits.timeout_s,
                sse_read_timeout=self.limits.timeout_s,
                httpx_client_factory=self._http_client,
            )
            async with streams as (read, write), ClientSession(read, write) as session:
                await session.initialize()
                yield session
            return
        async with (
            self._http_client(headers=headers, timeout=timeout) as http,
            streamable_http_client(
                server.url, http_client=http, max_sse_event_size=_transport_limit(self.limits)
            ) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            yield session


class _CappedStream(httpx2.AsyncByteStream):
    def __init__(self, inner: httpx2.AsyncByteStream, limit: int) -> None:
        self._inner = inner
        self._limit = limit

    async def __aiter__(self) -> AsyncIterator[bytes]:
        total = 0
        async for chunk in self._inner:
            total += len(chunk)
            if total > self._limit:
                raise McpFailure(
                    "protocol_error", f"the MCP server's response is over {self._limit} bytes"
                )
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


class _CappedTransport(httpx2.AsyncBaseTransport):
    def __init__(self, inner: httpx2.AsyncBaseTransport, limit: int) -> None:
        self._inner = inner
        self._limit = limit

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await self._inner.handle_async_request(request)
        assert isinstance(response.stream, httpx2.AsyncByteStream)
        response.stream = _CappedStream(response.stream, self._limit)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


def _transport_limit(limits: McpLimits) -> int:
    """Bytes one SSE event or HTTP response may carry: the output twice (text and
    structured) and the JSON around it."""
    return 2 * limits.max_output_bytes + 64 * 1024


def _leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _failure(exc: BaseException) -> McpFailure:
    if isinstance(exc, McpFailure):
        return exc
    if isinstance(exc, MCPError):
        return McpFailure("protocol_error", exc.message, exc.code)
    if isinstance(exc, httpx2.HTTPStatusError):
        return McpFailure(
            "http_error",
            f"the MCP server answered HTTP {exc.response.status_code}",
            exc.response.status_code,
        )
    if isinstance(exc, TimeoutError | httpx2.TimeoutException):
        return McpFailure("http_error", "the MCP server timed out", 504)
    if isinstance(exc, httpx2.HTTPError | OSError):
        return McpFailure("http_error", "the MCP server could not be reached", 502)
    return McpFailure("protocol_error", f"MCP failure ({type(exc).__name__})", -32603)

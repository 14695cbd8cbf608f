"""The session's MCP servers (tools of `type: "mcp"`): their listings and their rules.

A `session.update` naming an MCP server adds an `mcp_list_tools` item to the conversation
and asks the runner to list the server's tools (`ListMcpTools`); responses wait for
listings in progress, as they wait for transcripts. Once listed, the tools that
`allowed_tools` lets through are offered to the LLM beside the function tools
(`specs`), and a call of one of them becomes an `mcp_call` item (or, when
`require_approval` says so, an `mcp_approval_request` item) in `protocol.responses`.

Sans-I/O like the rest of `protocol`: the runner does the fetching (`realtime.mcp`, which
also checks `server_url` against the operator's allowed hosts). Headers and the
`authorization` token stay here and in the commands; `redact` keeps them out of the
session object the client sees echoed.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from realtime2.engine.interfaces import ToolSpec
from realtime2.protocol.commands import ListMcpTools, McpServerRef
from realtime2.protocol.conversation import Conversation, Item
from realtime2.protocol.outbox import Outbox
from realtime2.protocol.server_events import ProtocolError, event, new_id

DEFAULT_MAX_CALLS = 8
DENIED = "The user did not approve this tool call."


@dataclass
class _Server:
    tool: dict[str, Any]  # the session's `type: "mcp"` tool, as merged
    item_id: str  # its mcp_list_tools item
    tools: list[dict[str, Any]] | None = None  # listed and allowed; None while listing
    failed: bool = False

    @property
    def ref(self) -> McpServerRef:
        return McpServerRef(self.tool["server_label"], self.tool["server_url"], headers(self.tool))


@dataclass
class Route:
    """Where a tool name offered to the LLM goes."""

    server: McpServerRef
    approval: bool


@dataclass
class McpState:
    servers: dict[str, _Server] = field(default_factory=dict)
    max_calls: int = DEFAULT_MAX_CALLS  # per response; the runner sets the operator's

    @property
    def pending(self) -> set[str]:
        """The `mcp_list_tools` items still listing: responses wait for them."""
        return {s.item_id for s in self.servers.values() if s.tools is None and not s.failed}

    # --- session.update ------------------------------------------------------------------

    def configure(self, tools: list[dict[str, Any]], conv: Conversation, out: Outbox) -> None:
        """The session's tools changed: list servers that are new or point elsewhere."""
        wanted = {t["server_label"]: t for t in tools if t.get("type") == "mcp"}
        for label in list(self.servers):
            server = self.servers[label]
            if _identity(wanted.get(label)) != _identity(server.tool):
                del self.servers[label]
            else:
                server.tool = wanted[label]  # filters and approvals may change freely
        for label, tool in wanted.items():
            if label in self.servers:
                continue
            item: Item = {
                "id": new_id("item"),
                "type": "mcp_list_tools",
                "server_label": label,
                "tools": [],
            }
            previous = conv.add(item)
            self.servers[label] = _Server(tool, item["id"])
            out.emit(
                event(
                    "conversation.item.added", previous_item_id=previous, item=copy.deepcopy(item)
                )
            )
            out.emit(event("mcp_list_tools.in_progress", item_id=item["id"]))
            out.command(ListMcpTools(item["id"], self.servers[label].ref))

    def _by_item(self, item_id: str) -> _Server | None:
        return next((s for s in self.servers.values() if s.item_id == item_id), None)

    def listed(
        self, item_id: str, tools: list[dict[str, Any]], conv: Conversation, out: Outbox
    ) -> None:
        server = self._by_item(item_id)
        if server is None or server.tools is not None:
            return  # the server was removed or replaced meanwhile
        server.tools = tools
        allowed = [t for t in tools if _allowed(server.tool, t)]
        out.emit(event("mcp_list_tools.completed", item_id=item_id))
        if item_id in conv:
            item = conv.get(item_id)
            item["tools"] = copy.deepcopy(allowed)
            out.emit(event("conversation.item.done", item=copy.deepcopy(item)))

    def list_failed(self, item_id: str, message: str, conv: Conversation, out: Outbox) -> None:
        server = self._by_item(item_id)
        if server is None or server.tools is not None or server.failed:
            return
        server.failed = True
        out.emit(event("mcp_list_tools.failed", item_id=item_id))
        label = server.tool["server_label"]
        out.emit(
            ProtocolError(
                "mcp_list_tools_failed",
                f"Listing the tools of MCP server '{label}' failed: {message}",
                param="session.tools",
            ).to_event(None)
        )
        if item_id in conv:
            out.emit(event("conversation.item.done", item=copy.deepcopy(conv.get(item_id))))

    # --- what a response offers ----------------------------------------------------------

    def routes(self, tools: Iterable[dict[str, Any]]) -> dict[str, Route]:
        """Tool names → servers, for the MCP tools among `tools` (function names win)."""
        names = {t.get("name") for t in tools if t.get("type", "function") == "function"}
        routes: dict[str, Route] = {}
        for tool in tools:
            if tool.get("type") != "mcp":
                continue
            server = self.servers.get(tool["server_label"])
            if server is None or server.tools is None:
                continue
            for listed in server.tools:
                name = listed["name"]
                if name in names or name in routes or not _allowed(tool, listed):
                    continue
                routes[name] = Route(server.ref, _needs_approval(tool, listed))
        return routes

    def specs(self, tools: Iterable[dict[str, Any]]) -> list[ToolSpec]:
        """The MCP tools among `tools`, as the LLM sees them."""
        specs: list[ToolSpec] = []
        tools = list(tools)
        routes = self.routes(tools)
        for tool in tools:
            server = self.servers.get(tool.get("server_label", ""))
            if tool.get("type") != "mcp" or server is None or server.tools is None:
                continue
            about = tool.get("server_description")
            for listed in server.tools:
                route = routes.get(listed["name"])
                if route is None or route.server.label != tool["server_label"]:
                    continue
                text = listed.get("description") or ""
                specs.append(
                    ToolSpec(
                        listed["name"],
                        f"{about}: {text}" if about and text else (about or text),
                        listed.get("input_schema") or {"type": "object", "properties": {}},
                    )
                )
        return specs

    def approved(
        self, conv: Conversation, context_ids: list[str]
    ) -> list[tuple[Item, McpServerRef]]:
        """Approved `mcp_approval_request`s among `context_ids` not yet run, and where."""
        items = conv.items
        approvals = {
            i["approval_request_id"]
            for i in items
            if i["type"] == "mcp_approval_response" and i["approve"]
        }
        done = {i.get("approval_request_id") for i in items if i["type"] == "mcp_call"}
        found: list[tuple[Item, McpServerRef]] = []
        for item in items:
            if item["id"] not in context_ids or item["type"] != "mcp_approval_request":
                continue
            server = self.servers.get(item["server_label"])
            if item["id"] in approvals and item["id"] not in done and server is not None:
                found.append((item, server.ref))
        return found

    def check_approval(self, conv: Conversation, request_id: str) -> None:
        """An `mcp_approval_response` must answer an approval request of this conversation."""
        if request_id in conv and conv.get(request_id)["type"] == "mcp_approval_request":
            return
        raise ProtocolError(
            "invalid_value",
            f"No mcp_approval_request with id '{request_id[:64]}' in the conversation.",
            param="item.approval_request_id",
        )

    def check_response_tools(self, tools: list[dict[str, Any]], param: str) -> None:
        """A response may use the session's MCP servers, not bring its own."""
        for index, tool in enumerate(tools):
            if tool.get("type") != "mcp":
                continue
            server = self.servers.get(tool["server_label"])
            if server is None or _identity(server.tool) != _identity(tool):
                raise ProtocolError(
                    "invalid_value",
                    "An MCP server must be added with session.update before a response "
                    "uses it (its tools are listed then).",
                    param=f"{param}.{index}.server_label",
                )


def check_tools(tools: list[dict[str, Any]], param: str) -> None:
    """Server labels name one server each."""
    seen: set[str] = set()
    for index, tool in enumerate(tools):
        if tool.get("type") != "mcp":
            continue
        if tool["server_label"] in seen:
            raise ProtocolError(
                "invalid_value",
                f"Duplicate MCP server_label '{tool['server_label']}'.",
                param=f"{param}.{index}.server_label",
            )
        seen.add(tool["server_label"])


def headers(tool: dict[str, Any]) -> dict[str, str]:
    """The headers sent to the server: `headers`, and `authorization` as a bearer token."""
    out = {str(k): str(v) for k, v in (tool.get("headers") or {}).items()}
    token = tool.get("authorization")
    if token:
        out["Authorization"] = token if token.lower().startswith("bearer ") else f"Bearer {token}"
    return out


def redact(tools: list[dict[str, Any]]) -> None:
    """Secrets stay out of the session object sent back (header names are kept)."""
    for tool in tools:
        if tool.get("type") == "mcp":
            tool.pop("authorization", None)
            if tool.get("headers"):
                tool["headers"] = {k: "[redacted]" for k in tool["headers"]}


def _identity(tool: dict[str, Any] | None) -> tuple[Any, ...] | None:
    """What makes a listing stale when it changes: where the server is, what we send it."""
    if tool is None:
        return None
    return (tool["server_url"], tuple(sorted(headers(tool).items())))


def _read_only(listed: dict[str, Any]) -> bool:
    return bool((listed.get("annotations") or {}).get("readOnlyHint"))


def _matches(flt: dict[str, Any] | None, listed: dict[str, Any]) -> bool:
    if not flt:
        return False
    names = flt.get("tool_names")
    if names is not None and listed["name"] in names:
        return True
    read_only = flt.get("read_only")
    return read_only is not None and names is None and _read_only(listed) == read_only


def _allowed(tool: dict[str, Any], listed: dict[str, Any]) -> bool:
    allowed = tool.get("allowed_tools")
    if allowed is None:
        return True
    if isinstance(allowed, list):
        return listed["name"] in allowed
    names = allowed.get("tool_names")
    if names is not None and listed["name"] not in names:
        return False
    read_only = allowed.get("read_only")
    return read_only is None or _read_only(listed) == read_only


def _needs_approval(tool: dict[str, Any], listed: dict[str, Any]) -> bool:
    """OpenAI's default is to ask: "always" unless "never" or a `never` filter matches."""
    rule = tool.get("require_approval")
    if rule is None or rule == "always":
        return True
    if rule == "never":
        return False
    return not _matches(rule.get("never"), listed)

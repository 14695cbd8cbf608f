"""`response.create` (or a VAD turn) turned into a response and its LLM request.

The request is built when the response can actually start (after pending transcripts of
the user's audio have arrived), from the items chosen when it was created. It reads the
session's settings and conversation, nothing else of the session.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from realtime2.engine.interfaces import ChatMessage, LLMRequest
from realtime2.protocol import client_events as ce
from realtime2.protocol.commands import DraftReply, StartResponse
from realtime2.protocol.conversation import Conversation, Item, to_messages
from realtime2.protocol.items import build_item
from realtime2.protocol.limits import check_item
from realtime2.protocol.mcp import Route
from realtime2.protocol.refusals import check_response
from realtime2.protocol.responses import ResponseState
from realtime2.protocol.server_events import ProtocolError
from realtime2.protocol.session_config import (
    SessionSettings,
    resolve_voice,
    tool_choice_name,
    tool_specs,
)

RequestSpec = Callable[[ResponseState], StartResponse]


def build_request(
    s: SessionSettings,
    conversation: Conversation,
    config: ce.ResponseConfig,
    in_conversation: bool,
) -> tuple[ResponseState, RequestSpec]:
    check_response(config)
    modality: Literal["audio", "text"] = s.modality
    if config.output_modalities is not None:
        if len(config.output_modalities) != 1:
            raise ProtocolError(
                "invalid_value",
                "output_modalities must be either ['audio'] or ['text'].",
                param="response.output_modalities",
            )
        modality = config.output_modalities[0]
    out = config.audio.output if config.audio is not None else None
    fmt = out.format.type if out is not None and out.format is not None else s.output_format
    voice = s.voice
    if out is not None and out.voice is not None:
        if not isinstance(out.voice, str):
            raise ProtocolError(
                "invalid_value", "Custom voices are not supported.", "response.audio.output.voice"
            )
        try:
            voice = resolve_voice(out.voice)
        except ProtocolError as exc:
            exc.param = "response.audio.output.voice"
            raise
    instructions = config.instructions if config.instructions is not None else s.instructions
    tools: list[dict[str, Any]] = (
        [t.model_dump() for t in config.tools] if config.tools is not None else s.tools
    )
    if config.tools is not None:
        s.mcp.check_response_tools(tools, "response.tools")
    choice = config.tool_choice if config.tool_choice is not None else s.tool_choice
    if isinstance(choice, ce.ToolChoiceFunction | ce.ToolChoiceMcp):
        choice = choice.model_dump()
    where = "response.tool_choice" if config.tool_choice is not None else "session.tool_choice"
    _check_mcp_choice(choice, tools, s.mcp.routes(tools), where)
    max_tokens: int | Literal["inf"] = s.max_output_tokens
    client_limit = s.client_max_tokens
    if config.max_output_tokens is not None:
        client_limit = config.max_output_tokens != "inf"
        max_tokens = config.max_output_tokens if client_limit else (s.token_cap or "inf")
    reasoning = config.reasoning if config.reasoning is not None else s.data.get("reasoning")
    effort = (reasoning or {}).get("effort")

    inline: list[Item | str] | None = None  # str = reference to a conversation item
    if config.input is not None:
        inline = []
        for index, entry in enumerate(config.input):
            if isinstance(entry, ce.McpApprovalResponseItem):
                raise ProtocolError(
                    "unsupported_parameter",
                    "An mcp_approval_response is added with conversation.item.create, "
                    "not given inline.",
                    param=f"response.input.{index}",
                )
            if isinstance(entry, ce.ItemReference):
                conversation.get(entry.id)  # must exist now
                inline.append(entry.id)
            else:
                item = build_item(entry)[0]
                check_item(item, conversation.limits, param=f"response.input.{index}")
                inline.append(item)
        context_ids = [e for e in inline if isinstance(e, str)]
    else:
        context_ids = [i["id"] for i in conversation.items]

    response = ResponseState(
        conversation=conversation,
        conversation_id=conversation.id,
        in_conversation=in_conversation,
        modality=modality,
        output_format=fmt,
        voice=voice.requested,
        metadata=config.metadata,
        max_output_tokens=max_tokens,
    )
    response.context_ids = context_ids
    response.client_limit = client_limit
    response.mcp_limit = s.mcp.max_calls
    speed = s.speed
    truncation = s.truncation
    parallel = (
        config.parallel_tool_calls
        if config.parallel_tool_calls is not None
        else s.data.get("parallel_tool_calls")
    )

    def spec(r: ResponseState) -> StartResponse:
        conv = conversation
        if inline is None:
            items = [conv.get(i) for i in r.context_ids if i in conv]
        else:
            items = [
                conv.get(e) if isinstance(e, str) else e
                for e in inline
                if not isinstance(e, str) or e in conv
            ]
        seen = {i["id"] for i in items}
        items += [o for o in r.output if o["id"] not in seen]  # earlier passes (MCP calls)
        messages = [ChatMessage("system", instructions)] if instructions else []
        messages += to_messages(items)
        r.mcp_routes = routes = s.mcp.routes(tools)  # listings are complete by now
        specs = tool_specs(tools) + s.mcp.specs(tools)
        name = tool_choice_name(choice)
        if isinstance(choice, dict) and choice.get("type") == "mcp":
            label = choice["server_label"]
            specs = [t for t in specs if t.name in routes and routes[t.name].server.label == label]
            if name not in routes:
                name = "required"
        if r.mcp_calls:  # a later pass, after MCP calls: the forced call was made (once)
            forced = name not in ("auto", "none")
            name = "none" if forced or r.mcp_calls >= r.mcp_limit else "auto"
        request = LLMRequest(
            messages=messages,
            tools=specs,
            tool_choice=name,
            max_tokens=None if max_tokens == "inf" else int(max_tokens),
            reasoning_effort=str(effort) if effort is not None else None,
            truncation=truncation,
            parallel_tool_calls=parallel,
        )
        return StartResponse(r.id, request, voice.engine_voice, modality, speed, r.draft_id)

    return response, spec


def _check_mcp_choice(
    choice: Any, tools: list[dict[str, Any]], routes: dict[str, Route], param: str
) -> None:
    """An MCP `tool_choice` must name a server among the tools and, once it is listed, one
    of its tools; the response offers only that server's tools."""
    if not isinstance(choice, dict) or choice.get("type") != "mcp":
        return
    label = choice["server_label"]
    if not any(t.get("type") == "mcp" and t["server_label"] == label for t in tools):
        raise ProtocolError(
            "invalid_value",
            f"tool_choice names MCP server '{label[:64]}', which is not among the tools.",
            param=f"{param}.server_label",
        )
    names = {n for n, route in routes.items() if route.server.label == label}
    if names and choice.get("name") is not None and choice["name"] not in names:
        raise ProtocolError(
            "invalid_value",
            f"MCP server '{label[:64]}' has no tool '{str(choice['name'])[:64]}' "
            "(or it is not listed yet, or not allowed).",
            param=f"{param}.name",
        )


def draft_reply(settings: SessionSettings, conversation: Conversation) -> DraftReply:
    """What a VAD turn's automatic response would ask for if it started now.

    Built by the very code that builds the real request (a default `response.create` over
    the whole conversation), so the two are equal unless something changed in between.
    """
    response, spec = build_request(settings, conversation, ce.ResponseConfig(), True)
    response.context_ids = [i["id"] for i in conversation.items]
    start = spec(response)
    return DraftReply(start.request, start.voice, start.modality, start.speed)

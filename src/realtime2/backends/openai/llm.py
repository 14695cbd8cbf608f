"""LLM over an OpenAI-compatible `/chat/completions` endpoint, streamed with SSE."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from realtime2.backends.openai.http import UpstreamClient
from realtime2.backends.openai.settings import RemoteLLMSettings, RemoteRole
from realtime2.engine.catalog import Shared, register_backend
from realtime2.engine.interfaces import (
    ChatMessage,
    EngineUnavailableError,
    LLMCapabilities,
    LLMDone,
    LLMEvent,
    LLMRequest,
    Priority,
    TextDelta,
    TokenUsage,
    ToolCallDelta,
    Urgency,
)

log = logging.getLogger(__name__)

_FINISH = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
}


class OpenAILLM:
    def __init__(
        self,
        role: RemoteRole,
        *,
        context_tokens: int = 128_000,
        vision: bool = False,
        reasoning_effort: bool = False,
    ) -> None:
        self._http = UpstreamClient(role, "LLM upstream")
        self.name = role.model
        self.capabilities = LLMCapabilities(
            streaming=True,
            tools=True,
            context_tokens=context_tokens,
            vision=vision,
            reasoning_effort=reasoning_effort,
        )

    async def stream(
        self, request: LLMRequest, *, priority: Priority | Urgency = Priority.INTERACTIVE
    ) -> AsyncIterator[LLMEvent]:
        body = self._body(request)
        finish = "stop"
        usage = TokenUsage()
        calls: dict[int, tuple[str, str]] = {}  # index -> (call id, name)
        async with self._http.stream("POST", "chat/completions", json=body) as response:
            async for data in _sse_data(response.aiter_lines()):
                chunk = _json(data)
                if chunk.get("usage"):
                    usage = _usage(chunk["usage"])
                for choice in chunk.get("choices") or []:
                    delta = choice.get("delta") or {}
                    if delta.get("content"):
                        yield TextDelta(str(delta["content"]))
                    for call in delta.get("tool_calls") or []:
                        event = _tool_delta(call, calls)
                        if event is not None:
                            yield event
                    if choice.get("finish_reason"):
                        finish = _FINISH.get(choice["finish_reason"], "stop")
        yield LLMDone(finish_reason=finish, usage=usage)  # type: ignore[arg-type]

    def _body(self, request: LLMRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.name,
            "messages": [_message(m) for m in request.messages],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if request.max_tokens is not None:
            body["max_tokens"] = request.max_tokens
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.reasoning_effort is not None and self.capabilities.reasoning_effort:
            body["reasoning_effort"] = request.reasoning_effort
        if request.tools:
            body["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": tool.name,
                        "description": tool.description,
                        "parameters": tool.parameters or {"type": "object", "properties": {}},
                    },
                }
                for tool in request.tools
            ]
            choice = request.tool_choice
            body["tool_choice"] = (
                choice
                if choice in ("auto", "none", "required")
                else {"type": "function", "function": {"name": choice}}
            )
            if request.parallel_tool_calls is not None:
                body["parallel_tool_calls"] = request.parallel_tool_calls
        return body

    async def aclose(self) -> None:
        await self._http.aclose()


async def _sse_data(lines: AsyncIterator[str]) -> AsyncIterator[str]:
    """The `data:` payloads of a server-sent event stream, up to `[DONE]`."""
    async for line in lines:
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return
        if data:
            yield data


def _json(data: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except ValueError as exc:
        raise EngineUnavailableError(
            "LLM upstream sent a malformed stream event", code="upstream_unavailable"
        ) from exc
    if isinstance(value, dict) and "error" in value:
        error = value["error"]
        message = error.get("message") if isinstance(error, dict) else str(error)
        raise EngineUnavailableError(f"LLM upstream error: {message}", code="upstream_unavailable")
    return value if isinstance(value, dict) else {}


def _tool_delta(call: dict[str, Any], calls: dict[int, tuple[str, str]]) -> ToolCallDelta | None:
    index = int(call.get("index", 0))
    function = call.get("function") or {}
    if index not in calls:
        calls[index] = (str(call.get("id") or f"call_{index}"), str(function.get("name") or ""))
    call_id, name = calls[index]
    arguments = str(function.get("arguments") or "")
    if not arguments and function.get("name") is None:
        return None
    return ToolCallDelta(call_id=call_id, name=name, arguments_delta=arguments)


def _usage(raw: dict[str, Any]) -> TokenUsage:
    details = raw.get("prompt_tokens_details") or {}
    return TokenUsage(
        input_tokens=int(raw.get("prompt_tokens") or 0),
        output_tokens=int(raw.get("completion_tokens") or 0),
        cached_tokens=int(details.get("cached_tokens") or 0),
    )


def _message(message: ChatMessage) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.images:
        parts: list[dict[str, Any]] = [{"type": "text", "text": message.content}]
        parts += [
            {"type": "image_url", "image_url": {"url": image.url, "detail": image.detail}}
            for image in message.images
        ]
        out["content"] = parts if message.content else parts[1:]
    if message.tool_calls:
        out["tool_calls"] = [
            {
                "id": call.call_id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in message.tool_calls
        ]
        if not message.content:
            out["content"] = None
    if message.role == "tool":
        out["tool_call_id"] = message.tool_call_id
    return out


def build(settings: RemoteLLMSettings, _shared: Shared) -> OpenAILLM:
    return OpenAILLM(
        settings.remote(), vision=settings.vision, reasoning_effort=settings.reasoning_effort
    )


register_backend(
    "llm",
    "openai",
    settings=RemoteLLMSettings,
    build=build,
    describe=RemoteLLMSettings.describe,
    local=False,  # ready once configured: the upstream is not ours to wait for
    fix="check REALTIME2_LLM_BASE_URL (or REALTIME2_OPENAI_BASE_URL) and its API key",
)

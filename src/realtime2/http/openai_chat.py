"""OpenAI-compatible `POST /v1/chat/completions` (streaming and not) on the configured LLM.

Billed per second of generation time at the `chat-completion` rate. The hold is taken
before a stream starts, so an unfunded request gets a real 402, not an error mid-stream.
A stream the client cuts short is charged the generation time of what it was sent.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from realtime2.accounts.pricing import CHAT_COMPLETION
from realtime2.edge.admission import ready_engines
from realtime2.engine.capabilities import UnsupportedRequestError, offer_tools
from realtime2.engine.interfaces import (
    LLM,
    ChatMessage,
    EngineUnavailableError,
    LLMDone,
    LLMRequest,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolSpec,
)
from realtime2.errors import ApiError, invalid_request
from realtime2.http.auth import CurrentPrincipal
from realtime2.http.billing import Bill, metered_request
from realtime2.state import services_of

router = APIRouter(tags=["openai-compatible"])
ESTIMATED_SECONDS = 30


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: str
    text: str | None = None


class FunctionCall(BaseModel):
    name: str
    arguments: str = ""


class MessageToolCall(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class Message(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    tool_calls: list[MessageToolCall] | None = None
    tool_call_id: str | None = None


class FunctionSpec(BaseModel):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})


class Tool(BaseModel):
    type: Literal["function"]
    function: FunctionSpec


class NamedToolChoice(BaseModel):
    type: Literal["function"]
    function: dict[str, str]


class ChatRequest(BaseModel):
    # OpenAI clients send many optional knobs (top_p, seed, user…); unknown ones are ignored.
    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1, max_length=200)
    messages: list[Message] = Field(min_length=1, max_length=500)
    stream: bool = False
    max_tokens: int | None = Field(None, ge=1, le=8192)
    max_completion_tokens: int | None = Field(None, ge=1, le=8192)
    temperature: float | None = Field(None, ge=0, le=2)
    tools: list[Tool] | None = Field(None, max_length=128)
    tool_choice: Literal["auto", "none", "required"] | NamedToolChoice | None = None
    n: int = Field(1, ge=1, le=1)
    stream_options: dict[str, Any] | None = None


def _text(content: str | list[ContentPart] | None) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    return "".join(part.text or "" for part in content if part.type == "text")


def to_llm_request(body: ChatRequest) -> LLMRequest:
    messages = []
    for m in body.messages:
        role = "system" if m.role == "developer" else m.role
        calls = tuple(
            ToolCall(c.id, c.function.name, c.function.arguments) for c in m.tool_calls or []
        )
        messages.append(ChatMessage(role, _text(m.content), calls, m.tool_call_id))
    tools = [
        ToolSpec(t.function.name, t.function.description, t.function.parameters)
        for t in body.tools or []
    ]
    choice: str
    if isinstance(body.tool_choice, NamedToolChoice):
        choice = body.tool_choice.function.get("name", "")
        if choice not in {t.name for t in tools}:
            raise invalid_request(f"tool_choice names an unknown function {choice[:64]!r}.")
    else:
        choice = body.tool_choice or "auto"
    return LLMRequest(
        messages=messages,
        tools=tools,
        tool_choice=choice,
        max_tokens=body.max_completion_tokens or body.max_tokens,
        temperature=body.temperature,
    )


def _usage(done: LLMDone | None) -> dict[str, Any]:
    u = done.usage if done else None
    prompt, completion = (u.input_tokens, u.output_tokens) if u else (0, 0)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": u.cached_tokens if u else 0},
    }


def _finish(done: LLMDone | None) -> str:
    reason = done.finish_reason if done else "stop"
    return "stop" if reason == "cancelled" else reason


@router.post("/v1/chat/completions", response_model=None)
async def chat_completions(body: ChatRequest, request: Request, principal: CurrentPrincipal) -> Any:
    services = services_of(request)
    llm_request = to_llm_request(body)
    engines = await ready_engines(services)
    try:
        llm_request = offer_tools(engines.llm, llm_request)
    except UnsupportedRequestError as exc:
        raise invalid_request(f"{exc}.", param="tool_choice") from None
    stack = AsyncExitStack()
    bill = await stack.enter_async_context(
        metered_request(services, principal, CHAT_COMPLETION, ESTIMATED_SECONDS)
    )
    completion_id = f"chatcmpl-{secrets.token_hex(12)}"
    if body.stream:
        include_usage = bool((body.stream_options or {}).get("include_usage"))
        stream = _stream(engines.llm, llm_request, bill, stack, completion_id, include_usage)
        return StreamingResponse(stream, media_type="text/event-stream")
    try:
        result = await _complete(engines.llm, llm_request, bill, completion_id)
    except BaseException as exc:
        await stack.__aexit__(type(exc), exc, exc.__traceback__)
        raise
    await stack.aclose()
    return result


async def _complete(llm: LLM, request: LLMRequest, bill: Bill, completion_id: str) -> Any:
    started = time.monotonic()
    text: list[str] = []
    calls: dict[str, dict[str, Any]] = {}
    done: LLMDone | None = None
    try:
        async for event in llm.stream(request):
            if isinstance(event, TextDelta):
                text.append(event.text)
            elif isinstance(event, ToolCallDelta):
                call = calls.setdefault(
                    event.call_id,
                    {"id": event.call_id, "type": "function",
                     "function": {"name": event.name, "arguments": ""}},
                )  # fmt: skip
                call["function"]["arguments"] += event.arguments_delta
            elif isinstance(event, LLMDone):
                done = event
            await bill.progress(time.monotonic() - started)
    except EngineUnavailableError as exc:
        raise ApiError(503, exc.code, str(exc)) from None
    bill.seconds = time.monotonic() - started
    message: dict[str, Any] = {"role": "assistant", "content": "".join(text) or None}
    if calls:
        message["tool_calls"] = list(calls.values())
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": llm.name,
        "choices": [{"index": 0, "message": message, "finish_reason": _finish(done),
                     "logprobs": None}],
        "usage": _usage(done),
    }  # fmt: skip


async def _stream(
    llm: LLM,
    request: LLMRequest,
    bill: Bill,
    stack: AsyncExitStack,
    completion_id: str,
    include_usage: bool,
) -> AsyncIterator[bytes]:
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        body = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": llm.name,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
            **extra,
        }
        return f"data: {json.dumps(body, separators=(',', ':'))}\n\n".encode()

    started = time.monotonic()
    indexes: dict[str, int] = {}
    done: LLMDone | None = None
    try:
        yield chunk({"role": "assistant", "content": ""})
        async for event in llm.stream(request):
            if isinstance(event, TextDelta):
                yield chunk({"content": event.text})
            elif isinstance(event, ToolCallDelta):
                call: dict[str, Any] = {"function": {"arguments": event.arguments_delta}}
                if event.call_id not in indexes:
                    indexes[event.call_id] = len(indexes)
                    call.update(id=event.call_id, type="function")
                    call["function"]["name"] = event.name
                call["index"] = indexes[event.call_id]
                yield chunk({"tool_calls": [call]})
            elif isinstance(event, LLMDone):
                done = event
            # The chunk was delivered: a client that hangs up from here on pays for it.
            await bill.progress(time.monotonic() - started)
        bill.seconds = time.monotonic() - started
        yield chunk({}, _finish(done))
        if include_usage:
            yield chunk({}, None, usage=_usage(done))
        yield b"data: [DONE]\n\n"
    except BaseException as exc:
        await stack.__aexit__(type(exc), exc, exc.__traceback__)
        if isinstance(exc, EngineUnavailableError):
            error = {"error": {"code": exc.code, "message": str(exc), "type": "api_error"}}
            yield f"data: {json.dumps(error)}\n\n".encode()
            return
        raise
    await stack.aclose()

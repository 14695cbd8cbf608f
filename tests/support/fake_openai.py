"""A tiny OpenAI-format server on loopback (real HTTP via uvicorn) for remote backend tests."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.support.server import running

KEY = "sk-test-upstream-secret"


def _chunk(delta: dict[str, Any], finish: str | None = None) -> str:
    body = {
        "id": "c1",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(body)}\n\n"


def unanswered_tool_calls(messages: list[dict[str, Any]]) -> str | None:
    """OpenAI's (and vLLM's) rule: an assistant turn's tool calls are each answered by the
    `tool` messages right after it. The message the real API answers with, or None."""
    for index, message in enumerate(messages):
        wanted = {c["id"] for c in message.get("tool_calls") or []}
        after = messages[index + 1 :]
        answered = set()
        for following in after:
            if following.get("role") != "tool":
                break
            answered.add(following.get("tool_call_id"))
        if wanted - answered:
            missing = ", ".join(sorted(wanted - answered))
            return (
                "An assistant message with 'tool_calls' must be followed by tool messages "
                "responding to each 'tool_call_id'. The following tool_call_ids did not have "
                f"response messages: {missing}"
            )
    return None


class FakeOpenAI:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.fail_status: int | None = None
        app = Starlette(
            routes=[
                Route("/v1/chat/completions", self.chat, methods=["POST"]),
                Route("/v1/audio/transcriptions", self.transcribe, methods=["POST"]),
                Route("/v1/audio/speech", self.speech, methods=["POST"]),
            ]
        )
        self.app = app

    def _auth(self, request: Request) -> Response | None:
        if request.headers.get("authorization") != f"Bearer {KEY}":
            return JSONResponse(
                {
                    "error": {
                        "message": "Incorrect API key provided",
                        "type": "invalid_request_error",
                    }
                },
                401,
            )
        if self.fail_status:
            return JSONResponse(
                {"error": {"message": "The server is overloaded"}}, self.fail_status
            )
        return None

    async def chat(self, request: Request) -> Response:
        if (denied := self._auth(request)) is not None:
            return denied
        body = await request.json()
        self.requests.append(body)
        if (problem := unanswered_tool_calls(body.get("messages") or [])) is not None:
            return JSONResponse(
                {"error": {"message": problem, "type": "invalid_request_error"}}, 400
            )

        async def events() -> AsyncIterator[str]:
            if body.get("tools") and body.get("tool_choice") != "none":
                yield _chunk(
                    {
                        "role": "assistant",
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "call_abc",
                                "type": "function",
                                "function": {"name": "get_weather", "arguments": ""},
                            }
                        ],
                    }
                )
                for part in ['{"city": ', '"Tokyo"}']:
                    yield _chunk({"tool_calls": [{"index": 0, "function": {"arguments": part}}]})
                yield _chunk({}, "tool_calls")
            else:
                for word in ["Hello", " there", "!"]:
                    yield _chunk({"content": word})
                yield _chunk({}, "stop")
            usage = {
                "prompt_tokens": 12,
                "completion_tokens": 3,
                "prompt_tokens_details": {"cached_tokens": 4},
            }
            yield f"data: {json.dumps({'choices': [], 'usage': usage})}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    async def transcribe(self, request: Request) -> Response:
        if (denied := self._auth(request)) is not None:
            return denied
        form = await request.form()
        upload = form["file"]
        data = await upload.read()  # type: ignore[union-attr]
        self.requests.append(
            {
                "model": form["model"],
                "language": form.get("language"),
                "bytes": len(data),
                "head": data[:4].decode(),
            }
        )
        return JSONResponse({"text": " hello world "})

    async def speech(self, request: Request) -> Response:
        if (denied := self._auth(request)) is not None:
            return denied
        body = await request.json()
        self.requests.append(body)
        samples = round(24000 / float(body.get("speed", 1.0)))  # a second of speech at 1.0
        tone = (
            (0.3 * np.sin(2 * np.pi * 220 * np.arange(samples) / 24000) * 32767)
            .astype("<i2")
            .tobytes()
        )

        async def parts() -> AsyncIterator[bytes]:
            for i in range(0, len(tone), 1001):  # odd sizes: the client must realign samples
                yield tone[i : i + 1001]

        return StreamingResponse(parts(), media_type="audio/pcm")


@asynccontextmanager
async def serve(fake: FakeOpenAI) -> AsyncIterator[str]:
    """`fake` served on loopback; yields its API base URL."""
    async with running(fake.app, log_level="warning", lifespan="off") as server:
        yield f"http://127.0.0.1:{server.config.port}/v1"

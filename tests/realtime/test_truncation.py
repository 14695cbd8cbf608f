"""`truncation` reaches the LLM, and `disabled` on a conversation too long for the context
fails the response with OpenAI's `context_length_exceeded` (the session goes on)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from realtime2.engine.interfaces import (
    ContextLengthExceededError,
    ContextTruncation,
    LLMEvent,
    LLMRequest,
    Priority,
)
from realtime2.realtime.runner import SessionRunner
from tests.support.fakes import FakeLLM, fake_engines
from tests.support.runner import Client


@dataclass
class TinyContextLLM(FakeLLM):
    """Fits two messages; more is too long unless the LLM may drop turns."""

    async def stream(
        self, request: LLMRequest, *, priority: Priority = Priority.INTERACTIVE
    ) -> AsyncIterator[LLMEvent]:
        if request.truncation.mode == "disabled" and len(request.messages) > 2:
            self.requests.append(request)
            raise ContextLengthExceededError("The conversation needs 9000 tokens.")
        async for event in super().stream(request, priority=priority):
            yield event


async def _respond(client: Client, text: str) -> dict[str, Any]:
    await client.send(
        {
            "type": "conversation.item.create",
            "item": {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": text}],
            },
        }
    )
    await client.send({"type": "response.create"})
    done: dict[str, Any] = await client.wait_for("response.done")
    client.events.clear()
    return done


async def test_disabled_fails_the_response_with_context_length_exceeded() -> None:
    llm = TinyContextLLM()
    runner = SessionRunner(fake_engines(llm=llm))
    runner.start()
    client = Client(runner)
    session: dict[str, Any] = {
        "type": "realtime",
        "output_modalities": ["text"],
        "truncation": "disabled",
        "audio": {"input": {"turn_detection": None}},
    }
    await client.send({"type": "session.update", "session": session})
    done = await _respond(client, "hi")  # system + one user message: fits
    assert done["response"]["status"] == "completed"
    done = await _respond(client, "and again")
    assert done["response"]["status"] == "failed"
    error = done["response"]["status_details"]["error"]
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "context_length_exceeded"
    assert llm.requests[-1].truncation == ContextTruncation("disabled")
    # With "auto" the same conversation is answered (the LLM drops what does not fit).
    await client.send(
        {"type": "session.update", "session": {"type": "realtime", "truncation": "auto"}}
    )
    assert (await _respond(client, "third"))["response"]["status"] == "completed"
    await runner.close()


async def test_retention_ratio_and_its_token_limit_reach_the_llm() -> None:
    llm = FakeLLM()
    runner = SessionRunner(fake_engines(llm=llm))
    runner.start()
    client = Client(runner)
    truncation = {
        "type": "retention_ratio",
        "retention_ratio": 0.6,
        "token_limits": {"post_instructions": 1000},
    }
    session = {"type": "realtime", "output_modalities": ["text"], "truncation": truncation}
    await client.send({"type": "session.update", "session": session})
    updated = await client.wait_for("session.updated")
    assert updated["session"]["truncation"] == truncation
    await _respond(client, "hi")
    assert llm.requests[-1].truncation == ContextTruncation(
        "retention_ratio", retention_ratio=0.6, post_instructions_tokens=1000
    )
    await runner.close()


async def test_a_ratio_outside_0_to_1_is_refused() -> None:
    runner = SessionRunner(fake_engines())
    runner.start()
    client = Client(runner)
    bad = {"type": "retention_ratio", "retention_ratio": 1.5}
    await client.send(
        {"type": "session.update", "session": {"type": "realtime", "truncation": bad}}
    )
    error = await client.wait_for("error")
    assert "truncation" in (error["error"].get("param") or "")
    await runner.close()

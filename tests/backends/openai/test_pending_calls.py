"""A function call still waiting for its output never reaches an OpenAI-compatible LLM.

Real servers (OpenAI, vLLM) refuse a request whose assistant tool call is not answered by
the `tool` messages right after it; the fake upstream applies the same rule. The talk goes
on while the call runs, and once its output arrives the call and the output are sent
together, wherever the output was added.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import SecretStr

from realtime2.backends.openai.llm import OpenAILLM
from realtime2.backends.openai.settings import RemoteRole
from realtime2.engine.interfaces import (
    ChatMessage,
    LLMDone,
    LLMRequest,
    TextDelta,
    TokenUsage,
    ToolSpec,
)
from realtime2.protocol import commands as cmd
from tests.support.fake_openai import KEY, FakeOpenAI, serve
from tests.support.harness import Harness


@pytest.fixture
async def upstream() -> AsyncIterator[tuple[FakeOpenAI, str]]:
    fake = FakeOpenAI()
    async with serve(fake) as url:
        yield fake, url


def _item(h: Harness, item: dict[str, Any]) -> None:
    h.send({"type": "conversation.item.create", "item": item})


def _user(h: Harness, text: str) -> None:
    _item(h, {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})


def _request(h: Harness) -> LLMRequest:
    h.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
    (start,) = h.take(cmd.StartResponse)
    h.session.on_response_done(start.response_id, "stop", TokenUsage())
    h.drain()
    return start.request


async def _reply(url: str, request: LLMRequest) -> str:
    llm = OpenAILLM(RemoteRole(base_url=url, api_key=SecretStr(KEY), model="m", timeout_s=5))
    events = [e async for e in llm.stream(request)]
    assert isinstance(events[-1], LLMDone)
    return "".join(e.text for e in events if isinstance(e, TextDelta))


async def test_conversation_goes_on_while_a_call_is_pending(
    upstream: tuple[FakeOpenAI, str],
) -> None:
    fake, url = upstream
    h = Harness()
    _user(h, "What's the weather in Tokyo?")
    call = {"type": "function_call", "call_id": "call_1", "name": "weather", "arguments": "{}"}
    _item(h, call)
    _user(h, "While you look, tell me a joke.")
    assert await _reply(url, _request(h)) == "Hello there!"
    sent = fake.requests[-1]["messages"]
    assert not any(m.get("tool_calls") for m in sent)
    assert [m["role"] for m in sent if m["role"] != "system"] == ["user", "user"]

    # The output arrives after more talk: call and output are sent side by side.
    _user(h, "Another one?")
    _item(h, {"type": "function_call_output", "call_id": "call_1", "output": '{"temp": 21}'})
    assert await _reply(url, _request(h)) == "Hello there!"
    sent = [m for m in fake.requests[-1]["messages"] if m["role"] != "system"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "user", "user"]
    assert sent[1]["tool_calls"][0]["id"] == "call_1" and sent[2]["tool_call_id"] == "call_1"


def test_the_fake_upstream_refuses_an_unanswered_call() -> None:
    from tests.support.fake_openai import unanswered_tool_calls

    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    pending: list[dict[str, Any]] = [
        {"role": "assistant", "tool_calls": [call]},
        {"role": "user", "content": "hi"},
    ]
    assert "c" in (unanswered_tool_calls(pending) or "")
    answered: list[dict[str, Any]] = [
        pending[0],
        {"role": "tool", "tool_call_id": "c", "content": "1"},
    ]
    assert unanswered_tool_calls(answered) is None


async def test_parallel_tool_calls_is_sent_with_the_tools(upstream: tuple[FakeOpenAI, str]) -> None:
    fake, url = upstream
    llm = OpenAILLM(RemoteRole(base_url=url, api_key=SecretStr(KEY), model="m", timeout_s=5))
    tool = ToolSpec("weather", "", {"type": "object", "properties": {}})
    for parallel in (None, False, True):
        request = LLMRequest([ChatMessage("user", "hi")], [tool], parallel_tool_calls=parallel)
        _ = [e async for e in llm.stream(request)]
        assert fake.requests[-1].get("parallel_tool_calls") == parallel

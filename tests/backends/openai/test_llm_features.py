"""The OpenAI-compatible LLM backend sends images as `image_url` content parts when it
declares vision, and `reasoning_effort` when its model has one (issue 23)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from realtime2.backends.openai.llm import OpenAILLM, build
from realtime2.backends.openai.settings import RemoteLLMSettings, RemoteRole
from realtime2.engine.interfaces import ChatMessage, ImageInput, LLMRequest, TextDelta
from tests.support.fake_openai import KEY, FakeOpenAI, serve

PNG = "data:image/png;base64,iVBORw0KGgo="


class _Shared:
    threads = 1


@pytest.fixture
async def upstream() -> AsyncIterator[tuple[FakeOpenAI, str]]:
    fake = FakeOpenAI()
    async with serve(fake) as url:
        yield fake, url


def role(url: str) -> RemoteRole:
    return RemoteRole(base_url=url, api_key=SecretStr(KEY), model="vlm", timeout_s=5.0)


async def test_images_are_sent_as_image_url_parts(upstream: tuple[FakeOpenAI, str]) -> None:
    fake, url = upstream
    llm = OpenAILLM(role(url), vision=True)
    assert llm.capabilities.vision
    request = LLMRequest(
        [
            ChatMessage("user", "What is this?", images=(ImageInput(PNG, "high"),)),
            ChatMessage("user", "", images=(ImageInput(PNG),)),
        ]
    )
    text = "".join([e.text async for e in llm.stream(request) if isinstance(e, TextDelta)])
    assert text == "Hello there!"
    sent = fake.requests[-1]["messages"]
    assert sent[0]["content"] == [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": PNG, "detail": "high"}},
    ]
    image = {"type": "image_url", "image_url": {"url": PNG, "detail": "auto"}}
    assert sent[1]["content"] == [image]


async def test_reasoning_effort_is_sent_when_declared(upstream: tuple[FakeOpenAI, str]) -> None:
    fake, url = upstream
    request = LLMRequest([ChatMessage("user", "Hi")], reasoning_effort="low")
    plain = OpenAILLM(role(url))
    _ = [e async for e in plain.stream(request)]
    assert "reasoning_effort" not in fake.requests[-1]  # servers reject it for other models
    reasoning = OpenAILLM(role(url), reasoning_effort=True)
    _ = [e async for e in reasoning.stream(request)]
    assert fake.requests[-1]["reasoning_effort"] == "low"


def test_settings_declare_vision_and_reasoning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REALTIME2_LLM_VISION", "true")
    monkeypatch.setenv("REALTIME2_LLM_REASONING_EFFORT", "1")
    llm = build(RemoteLLMSettings(), _Shared())
    assert llm.capabilities.vision and llm.capabilities.reasoning_effort
    assert not build(RemoteLLMSettings(vision=False), _Shared()).capabilities.vision

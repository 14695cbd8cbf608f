"""Remote (OpenAI-compatible) backends against a real HTTP server on loopback."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import numpy as np
import pytest
from pydantic import SecretStr

from realtime2.backends.openai.llm import OpenAILLM
from realtime2.backends.openai.settings import RemoteRole
from realtime2.backends.openai.stt import OpenAISTT
from realtime2.backends.openai.tts import OpenAITTS
from realtime2.engine.config import EngineSettings
from realtime2.engine.interfaces import (
    ChatMessage,
    EngineUnavailableError,
    LLMDone,
    LLMRequest,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolSpec,
)
from tests.support.fake_openai import KEY, FakeOpenAI, serve
from tests.support.server import free_port


@pytest.fixture
async def upstream() -> AsyncIterator[tuple[FakeOpenAI, str]]:
    fake = FakeOpenAI()
    async with serve(fake) as url:
        yield fake, url


def role(url: str, key: str = KEY, model: str = "m", timeout: float = 5.0) -> RemoteRole:
    return RemoteRole(base_url=url, api_key=SecretStr(key), model=model, timeout_s=timeout)


async def test_llm_streams_text_and_usage(upstream: tuple[FakeOpenAI, str]) -> None:
    fake, url = upstream
    llm = OpenAILLM(role(url, model="gpt-test"))
    events = [
        e
        async for e in llm.stream(
            LLMRequest(
                [ChatMessage("system", "Be brief."), ChatMessage("user", "Hi")], max_tokens=9
            )
        )
    ]
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Hello there!"
    done = events[-1]
    assert isinstance(done, LLMDone) and done.finish_reason == "stop"
    assert (done.usage.input_tokens, done.usage.output_tokens, done.usage.cached_tokens) == (
        12,
        3,
        4,
    )
    sent = fake.requests[-1]
    assert sent["model"] == "gpt-test" and sent["stream"] is True and sent["max_tokens"] == 9
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."}


async def test_llm_tool_calls_pass_through(upstream: tuple[FakeOpenAI, str]) -> None:
    fake, url = upstream
    llm = OpenAILLM(role(url))
    tool = ToolSpec(
        "get_weather", "Weather", {"type": "object", "properties": {"city": {"type": "string"}}}
    )
    history = [
        ChatMessage("user", "Weather in Oslo?"),
        ChatMessage(
            "assistant", "", tool_calls=(ToolCall("call_1", "get_weather", '{"city":"Oslo"}'),)
        ),
        ChatMessage("tool", '{"temp": 3}', tool_call_id="call_1"),
        ChatMessage("user", "And Tokyo?"),
    ]
    events = [
        e async for e in llm.stream(LLMRequest(history, tools=[tool], tool_choice="get_weather"))
    ]
    deltas = [e for e in events if isinstance(e, ToolCallDelta)]
    assert {d.call_id for d in deltas} == {"call_abc"} and {d.name for d in deltas} == {
        "get_weather"
    }
    assert json.loads("".join(d.arguments_delta for d in deltas)) == {"city": "Tokyo"}
    assert isinstance(events[-1], LLMDone) and events[-1].finish_reason == "tool_calls"
    sent = fake.requests[-1]
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert sent["tools"][0]["function"]["name"] == "get_weather"
    assert sent["messages"][1]["tool_calls"][0]["id"] == "call_1"
    assert sent["messages"][2] == {
        "role": "tool",
        "content": '{"temp": 3}',
        "tool_call_id": "call_1",
    }


async def test_stt_uploads_wav(upstream: tuple[FakeOpenAI, str]) -> None:
    fake, url = upstream
    stt = OpenAISTT(role(url, model="whisper-1"))
    transcript = await stt.transcribe(np.zeros(16000, np.float32), language="en")
    assert transcript.text == "hello world" and transcript.audio_seconds == 1.0
    sent = fake.requests[-1]
    assert sent["model"] == "whisper-1" and sent["language"] == "en" and sent["head"] == "RIFF"
    assert sent["bytes"] > 32000


async def test_tts_streams_whole_samples(upstream: tuple[FakeOpenAI, str]) -> None:
    fake, url = upstream
    tts = OpenAITTS(role(url, model="tts-1"), {"cedar": "onyx"})
    chunks = [c async for c in tts.synthesize("Hello.", voice="cedar")]
    assert len(chunks) > 1 and all(len(c.pcm) % 2 == 0 and c.sample_rate == 24000 for c in chunks)
    assert sum(len(c.pcm) for c in chunks) == 48000
    assert fake.requests[-1] == {
        "model": "tts-1",
        "input": "Hello.",
        "voice": "onyx",
        "response_format": "pcm",
    }
    with pytest.raises(ValueError, match="marin"):
        _ = [c async for c in tts.synthesize("Hi.", voice="alloy")]


async def test_bad_key_is_a_clear_error_without_the_key(upstream: tuple[FakeOpenAI, str]) -> None:
    _, url = upstream
    llm = OpenAILLM(role(url, key="sk-wrong-key-value"))
    with pytest.raises(EngineUnavailableError) as info:
        _ = [e async for e in llm.stream(LLMRequest([ChatMessage("user", "Hi")]))]
    assert info.value.code == "upstream_error"
    assert "Incorrect API key" in str(info.value) and "sk-wrong" not in str(info.value)


async def test_5xx_is_upstream_unavailable(upstream: tuple[FakeOpenAI, str]) -> None:
    fake, url = upstream
    fake.fail_status = 503
    stt = OpenAISTT(role(url))
    with pytest.raises(EngineUnavailableError) as info:
        await stt.transcribe(np.zeros(1600, np.float32))
    assert info.value.code == "upstream_unavailable" and "overloaded" in str(info.value)
    assert KEY not in str(info.value)


async def test_connection_refused_is_upstream_unavailable() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    tts = OpenAITTS(role(url, timeout=2.0))
    with pytest.raises(EngineUnavailableError) as info:
        _ = [c async for c in tts.synthesize("Hi.", voice="marin")]
    assert info.value.code == "upstream_unavailable" and "unreachable" in str(info.value)


def test_settings_pick_per_role_remote(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REALTIME2_LLM_BACKEND", "openai")
    monkeypatch.setenv("REALTIME2_LLM_BASE_URL", "http://127.0.0.1:9/v1/")
    monkeypatch.setenv("REALTIME2_LLM_API_KEY", "sk-llm")
    monkeypatch.setenv("REALTIME2_LLM_MODEL", "qwen")
    monkeypatch.setenv("REALTIME2_OPENAI_API_KEY", "sk-shared")
    monkeypatch.setenv("REALTIME2_VOICES", '{"ash": {"pitch_semitones": -6}}')
    settings = EngineSettings()
    llm = settings.options("llm").remote()
    assert settings.llm_backend == "openai" and llm.base_url == "http://127.0.0.1:9/v1"
    assert (
        llm.api_key is not None
        and llm.api_key.get_secret_value() == "sk-llm"
        and llm.model == "qwen"
    )
    stt = settings.options("stt", "openai").remote()
    assert stt.base_url == "https://api.openai.com/v1" and stt.api_key is not None
    assert stt.api_key.get_secret_value() == "sk-shared"
    assert settings.options("tts").voices["ash"].pitch_semitones == -6
    assert "sk-" not in repr(settings)

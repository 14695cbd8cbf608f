"""The OpenAI-compatible endpoints driven by the official `openai` SDK against a real
server on the embedded models, and the engine's remote (OpenAI-compatible) backends
pointed at that same server over loopback."""

from __future__ import annotations

import io
import json
import re
import wave

import httpx
import numpy as np
import openai
import pytest
from openai import AsyncOpenAI
from pydantic import SecretStr

from realtime2.audio.decode import decode_audio
from realtime2.backends.openai.llm import OpenAILLM
from realtime2.backends.openai.settings import RemoteRole
from realtime2.backends.openai.stt import OpenAISTT
from realtime2.backends.openai.tts import OpenAITTS
from realtime2.engine.config import EngineSettings
from realtime2.engine.interfaces import (
    STT,
    ChatMessage,
    Engines,
    LLMRequest,
    TextDelta,
    ToolCallDelta,
    ToolSpec,
)
from realtime2.engine.registry import build_vad
from realtime2.pipeline.turn import TurnInput, run_turn
from tests.support.server import RealServer
from tests.support.speech import speech
from tests.support.wer import wer

pytestmark = pytest.mark.models
QUESTION = "What is the capital of France?"


def wav(samples: np.ndarray, rate: int) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return out.getvalue()


def words(text: str) -> str:
    return re.sub(r"[^a-z ]", "", text.lower())


def sdk(server: RealServer) -> AsyncOpenAI:
    return AsyncOpenAI(base_url=server.url + "/v1", api_key=server.key, max_retries=0)


async def usage_models(server: RealServer) -> list[str]:
    async with httpx.AsyncClient() as http:
        body = (
            await http.get(server.url + "/api/realtime2/usage", headers={"x-api-key": server.key})
        ).json()
    return [e["model"] for e in body["data"] if e["kind"] == "capture"]


async def test_transcriptions(real_server: RealServer) -> None:
    client = sdk(real_server)
    audio = wav(speech(QUESTION, 16000), 16000)
    result = await client.audio.transcriptions.create(model="whisper-1", file=("q.wav", audio))
    assert "capital of france" in words(result.text)
    text = await client.audio.transcriptions.create(
        model="gpt-4o-transcribe", file=("q.wav", audio), response_format="text"
    )
    assert "capital of france" in words(str(text))
    with pytest.raises(openai.BadRequestError) as bad:
        await client.audio.transcriptions.create(model="whisper-1", file=("x.wav", b"junk"))
    assert bad.value.code == "invalid_audio"
    assert "audio-transcription" in await usage_models(real_server)


async def test_speech_every_format_and_voice_errors(
    real_server: RealServer, local_stt: STT
) -> None:
    client = sdk(real_server)
    sentence = "The quick brown fox jumps over the lazy dog."
    errors: dict[str, float] = {}
    for fmt in ("mp3", "wav", "flac", "opus", "aac"):
        response = await client.audio.speech.create(
            model="tts-1", voice="coral", input=sentence, response_format=fmt
        )
        audio, seconds = decode_audio(response.content, local_stt.capabilities.sample_rate)
        assert 1.0 < seconds < 8.0, fmt
        errors[fmt] = wer(sentence, (await local_stt.transcribe(audio)).text)
    # The server's Piper samples each rendition (noise on), and whisper tiny.en mishears a
    # random one now and then ("the quit round fox"): judge the five together.
    assert sorted(errors.values())[2] <= 0.12 and max(errors.values()) <= 0.34, errors
    pcm = await client.audio.speech.create(
        model="tts-1", voice="ash", input=sentence, response_format="pcm"
    )
    assert len(pcm.content) % 2 == 0 and len(pcm.content) / 2 / 24000 > 1.0
    with pytest.raises(openai.BadRequestError) as bad:
        await client.audio.speech.create(model="tts-1", voice="alloy", input="hi")
    assert bad.value.code == "unsupported_voice" and "marin" in str(bad.value)
    with pytest.raises(openai.BadRequestError):
        await client.audio.speech.create(model="tts-1", voice="marin", input="x" * 5000)
    assert "audio-speech" in await usage_models(real_server)


async def test_chat_completions_plain_stream_and_tools(real_server: RealServer) -> None:
    client = sdk(real_server)
    reply = await client.chat.completions.create(
        model="anything", messages=[{"role": "user", "content": QUESTION}], max_tokens=40
    )
    assert reply.choices[0].message.content and reply.usage and reply.usage.completion_tokens > 0
    pieces = []
    stream = await client.chat.completions.create(
        model="anything",
        messages=[{"role": "user", "content": "Say hello."}],
        max_tokens=30,
        stream=True,
        stream_options={"include_usage": True},
    )
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
    assert "".join(pieces).strip()
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather for a city",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
            },
        }
    ]
    called = await client.chat.completions.create(
        model="anything",
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=tools,  # type: ignore[arg-type]
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    call = called.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    assert isinstance(json.loads(call.function.arguments)["city"], str)  # type: ignore[union-attr]
    with pytest.raises(openai.BadRequestError):
        await client.chat.completions.create(model="x", messages=[])


def remote(server: RealServer, model: str) -> RemoteRole:
    return RemoteRole(
        base_url=server.url + "/v1", api_key=SecretStr(server.key), model=model, timeout_s=120
    )


async def test_remote_backends_against_a_real_server(real_server: RealServer) -> None:
    stt = OpenAISTT(remote(real_server, "whisper-1"))
    llm = OpenAILLM(remote(real_server, "served-llm"))
    tts = OpenAITTS(remote(real_server, "tts-1"))
    transcript = await stt.transcribe(speech(QUESTION, stt.capabilities.sample_rate))
    assert "capital of france" in words(transcript.text)

    request = LLMRequest(
        [ChatMessage("user", "Weather in Paris?")],
        tools=[
            ToolSpec(
                "get_weather",
                "Weather for a city",
                {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
            )
        ],
        tool_choice="get_weather",
    )
    events = [e async for e in llm.stream(request)]
    arguments = "".join(e.arguments_delta for e in events if isinstance(e, ToolCallDelta))
    assert json.loads(arguments)["city"]

    engines = Engines(vad=build_vad(EngineSettings()), stt=stt, llm=llm, tts=tts)
    result = await run_turn(engines, TurnInput(speech(QUESTION, 16000), "", [], "", "sage"))
    assert "capital of france" in words(result.transcript)
    assert result.assistant_text and result.output_seconds > 0.5
    texts = [e async for e in llm.stream(LLMRequest([ChatMessage("user", "Hi")], max_tokens=10))]
    assert any(isinstance(e, TextDelta) for e in texts)


async def test_remote_backend_reports_a_bad_key_clearly(real_server: RealServer) -> None:
    role = RemoteRole(
        base_url=real_server.url + "/v1",
        api_key=SecretStr("sk-gptr2-" + "x" * 43),
        model="m",
        timeout_s=10,
    )
    from realtime2.engine.interfaces import EngineUnavailableError

    with pytest.raises(EngineUnavailableError) as info:
        [e async for e in OpenAILLM(role).stream(LLMRequest([ChatMessage("user", "hi")]))]
    assert "x" * 43 not in str(info.value)

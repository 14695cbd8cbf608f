"""The unmodified official `openai` SDK against the real server and embedded engines."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
import pytest
from openai import AsyncOpenAI

from realtime2.audio import g711
from realtime2.audio.resample import resample
from tests.support.accounts import new_account
from tests.support.sdk import RATE, SdkEvents, silence_pcm, stream_audio
from tests.support.server import LiveServer
from tests.support.speech import speech_pcm16

pytestmark = [pytest.mark.models, pytest.mark.asyncio(loop_scope="module")]

QUESTION = "What is the capital of France?"


@asynccontextmanager
async def session(server: LiveServer, **query: str) -> AsyncIterator[tuple[Any, SdkEvents]]:
    account = await new_account(server.services, credits=100_000)
    client = AsyncOpenAI(base_url=server.url + "/v1", api_key=account.key)
    async with client.realtime.connect(model="realtime-mini", extra_query=query) as conn:
        events = SdkEvents(conn)
        await events.wait_for("session.created")
        try:
            yield conn, events
        finally:
            events.stop()


async def _speak(conn: Any, text: str, *, tail_ms: int = 1000) -> None:
    speech = speech_pcm16(text, RATE)
    await stream_audio(conn, silence_pcm(300) + speech + silence_pcm(tail_ms), bytes_per_ms=48)


def _audio(events: SdkEvents, response_id: str) -> np.ndarray:
    pcm = b"".join(
        base64.b64decode(e["delta"])
        for e in events.of("response.output_audio.delta")
        if e["response_id"] == response_id
    )
    return np.frombuffer(pcm, dtype="<i2")


async def test_text_turn(real_server: LiveServer) -> None:
    async with session(real_server) as (conn, events):
        await conn.session.update(
            session={
                "type": "realtime",
                "output_modalities": ["text"],
                "instructions": "Answer in English in one short sentence.",
            }
        )
        await conn.conversation.item.create(
            item={
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": QUESTION}],
            }
        )
        await conn.response.create()
        done = events.events[await events.wait_for("response.done")]["response"]
    assert done["status"] == "completed", done["status_details"]
    text = "".join(e["delta"] for e in events.of("response.output_text.delta"))
    assert text.strip() and done["output"][0]["content"][0]["text"] == text
    # (What a 135M-parameter model answers is not this test's business; that it streams is.)
    assert done["usage"]["output_tokens"] > 0
    assert not events.of("response.output_audio.delta")


async def test_spoken_turn_with_server_vad(real_server: LiveServer) -> None:
    async with session(real_server) as (conn, events):
        await conn.session.update(
            session={
                "type": "realtime",
                "instructions": "Answer in one short sentence.",
                "audio": {
                    "input": {
                        "transcription": {"model": "whisper-1"},
                        "turn_detection": {"type": "server_vad", "silence_duration_ms": 500},
                    }
                },
            }
        )
        await _speak(conn, QUESTION)
        done = events.events[await events.wait_for("response.done")]["response"]
    types = events.types()
    started = events.of("input_audio_buffer.speech_started")
    stopped = events.of("input_audio_buffer.speech_stopped")
    assert len(started) == len(stopped) == 1
    assert started[0]["item_id"] == stopped[0]["item_id"]
    assert types.index("input_audio_buffer.speech_stopped") < types.index("response.created")
    (completed,) = events.of("conversation.item.input_audio_transcription.completed")
    assert completed["item_id"] == stopped[0]["item_id"]
    words = completed["transcript"].lower()
    assert "capital" in words and "france" in words, words
    assert done["status"] == "completed", done["status_details"]
    audio = _audio(events, done["id"])
    assert len(audio) > RATE * 0.3 and np.abs(audio).max() > 1000
    assert done["output"][0]["content"][0]["transcript"]
    assert done["usage"]["input_tokens"] > 0


async def test_barge_in_cancels_the_response(real_server: LiveServer) -> None:
    async with session(real_server) as (conn, events):
        await conn.session.update(
            session={
                "type": "realtime",
                "instructions": "Always answer with a long story of at least ten sentences.",
                "audio": {"input": {"turn_detection": {"type": "server_vad"}}},
            }
        )
        await _speak(conn, "Tell me a long story about a dragon.", tail_ms=600)
        first = await events.wait_for("response.output_audio.delta")
        response_id = events.events[first]["response_id"]
        await _speak(conn, "Stop, wait a moment.", tail_ms=900)
        done_at = await events.wait_for("response.done")
        done = events.events[done_at]["response"]
        assert done["id"] == response_id
        assert done["status"] == "cancelled"
        assert done["status_details"]["reason"] == "turn_detected"
        await events.wait_for("response.done", done_at + 1)  # the interruption's own reply
    later = [
        e
        for e in events.events[done_at + 1 :]
        if e["type"].startswith("response.") and e.get("response_id") == response_id
    ]
    assert later == []  # no audio (or anything) of the cancelled response after its done
    starts = [i for i, t in enumerate(events.types()) if t == "input_audio_buffer.speech_started"]
    assert first < starts[1] < done_at


async def test_function_call_round_trip(real_server: LiveServer) -> None:
    tool = {
        "type": "function",
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    }
    async with session(real_server) as (conn, events):
        await conn.session.update(
            session={
                "type": "realtime",
                "output_modalities": ["text"],
                "tools": [tool],
                "tool_choice": {"type": "function", "name": "get_weather"},
            }
        )
        await conn.conversation.item.create(
            item={
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "What is the weather in Paris?"}],
            }
        )
        await conn.response.create()
        first_done = await events.wait_for("response.done")
        response = events.events[first_done]["response"]
        assert response["status"] == "completed", response["status_details"]
        (call,) = [o for o in response["output"] if o["type"] == "function_call"]
        assert call["name"] == "get_weather"
        arguments = json.loads(call["arguments"])
        assert "paris" in str(arguments.get("city", "")).lower()
        deltas = "".join(e["delta"] for e in events.of("response.function_call_arguments.delta"))
        (args_done,) = events.of("response.function_call_arguments.done")
        assert deltas == args_done["arguments"] == call["arguments"]
        await conn.conversation.item.create(
            item={
                "type": "function_call_output",
                "call_id": call["call_id"],
                "output": json.dumps({"temperature_c": 21, "sky": "sunny"}),
            }
        )
        await conn.response.create(response={"tool_choice": "none", "output_modalities": ["audio"]})
        second = events.events[await events.wait_for("response.done", first_done + 1)]
    answer = second["response"]
    assert answer["status"] == "completed", answer["status_details"]
    assert answer["output"][0]["type"] == "message"
    assert answer["output"][0]["content"][0]["transcript"]
    assert len(_audio(events, answer["id"])) > RATE * 0.3


async def test_transcription_session(real_server: LiveServer) -> None:
    async with session(real_server, intent="transcription") as (conn, events):
        assert events.events[0]["session"]["type"] == "transcription"
        await conn.session.update(
            session={
                "type": "transcription",
                "audio": {
                    "input": {
                        "transcription": {"model": "whisper-1", "language": "en"},
                        "turn_detection": {"type": "server_vad"},
                    }
                },
            }
        )
        await _speak(conn, "Please remind me to buy milk tomorrow.")
        at = await events.wait_for("conversation.item.input_audio_transcription.completed")
    words = events.events[at]["transcript"].lower()
    assert "milk" in words and "tomorrow" in words, words
    assert not [t for t in events.types() if t.startswith("response.")]


async def test_transcription_session_shows_live_words(real_server: LiveServer) -> None:
    """gpt-realtime-whisper: words arrive while the speaker is still talking (issue 16)."""
    async with session(real_server, intent="transcription") as (conn, events):
        await conn.session.update(
            session={
                "type": "transcription",
                "audio": {
                    "input": {
                        "transcription": {
                            "model": "gpt-realtime-whisper",
                            "language": "en",
                            "delay": "minimal",
                        },
                        "turn_detection": {"type": "server_vad", "silence_duration_ms": 1000},
                    }
                },
            }
        )
        await _speak(
            conn,
            "Please remind me to buy milk, bread and fresh eggs tomorrow morning before work, "
            "and then call my sister about the birthday party next weekend.",
            tail_ms=1500,
        )
        at = await events.wait_for("conversation.item.input_audio_transcription.completed")
    types = events.types()
    stopped = types.index("input_audio_buffer.speech_stopped")
    deltas = events.of("conversation.item.input_audio_transcription.delta")
    early = [e for e in deltas if events.events.index(e) < stopped]
    assert early, types  # live words before the end of the turn
    transcript = events.events[at]["transcript"]
    assert "".join(e["delta"] for e in deltas) == transcript
    assert "milk" in transcript.lower() and "sister" in transcript.lower(), transcript


async def test_g711_in_and_out(real_server: LiveServer) -> None:
    async with session(real_server) as (conn, events):
        await conn.session.update(
            session={
                "type": "realtime",
                "instructions": "Answer in one short sentence.",
                "audio": {
                    "input": {
                        "format": {"type": "audio/pcmu"},
                        "transcription": {"model": "whisper-1"},
                    },
                    "output": {"format": {"type": "audio/pcmu"}},
                },
            }
        )
        speech = np.frombuffer(speech_pcm16(QUESTION, RATE), dtype="<i2")
        narrow = resample(speech.astype(np.float32) / 32768.0, RATE, 8000)
        pcm8k = np.clip(narrow * 32768.0, -32768, 32767).astype("<i2").tobytes()
        silence = b"\0" * (8000 * 2)
        ulaw = g711.pcm16_to_ulaw(silence[: 8000 * 2 * 3 // 10] + pcm8k + silence)
        await stream_audio(conn, ulaw, bytes_per_ms=8)  # 8 kHz, one byte a sample
        done = events.events[await events.wait_for("response.done")]["response"]
    words = events.of("conversation.item.input_audio_transcription.completed")[0]["transcript"]
    assert "capital" in words.lower(), words
    assert done["status"] == "completed", done["status_details"]
    assert done["audio"]["output"]["format"] == {"type": "audio/pcmu"}
    ulaw_out = b"".join(
        base64.b64decode(e["delta"]) for e in events.of("response.output_audio.delta")
    )
    decoded = np.frombuffer(g711.ulaw_to_pcm16(ulaw_out), dtype="<i2")
    assert len(decoded) > 8000 * 0.3 and np.abs(decoded).max() > 1000

"""One spoken turn through the real embedded engines (Silero, whisper, llama.cpp, Piper)."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import numpy as np
import pytest

from realtime2.engine.config import EngineSettings
from realtime2.engine.interfaces import Engines
from realtime2.engine.registry import build_engines
from realtime2.realtime.runner import SessionRunner
from tests.support.speech import speech_pcm16
from tests.support.validate import assert_valid

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def engines() -> Engines:
    return build_engines(EngineSettings(_env_file=None))  # type: ignore[call-arg]


async def test_spoken_turn_gets_a_spoken_answer(engines: Engines) -> None:
    runner = SessionRunner(engines, model="gpt-realtime")
    runner.start()
    events: list[dict[str, Any]] = []

    async def read() -> None:
        async for event in runner.events():
            assert_valid(event)
            events.append(event)
            if event["type"] == "response.done":
                return

    await runner.feed_text(
        json.dumps(
            {
                "type": "session.update",
                "session": {
                    "type": "realtime",
                    "instructions": "Answer in one short sentence.",
                    "audio": {"input": {"transcription": {"model": "whisper-1"}}},
                },
            }
        )
    )
    pcm = speech_pcm16("What is the capital of France?", sample_rate=24000)
    silence = b"\0" * (24000 * 2)  # one second: ends the turn
    stream = b"\0" * 9600 + pcm + silence
    # Two turns: the first warms the models up, the second shows the steady-state latency.
    for _turn in range(2):
        reader = asyncio.create_task(read())
        for start in range(0, len(stream), 4800):  # 100 ms appends, as clients stream them
            chunk = base64.b64encode(stream[start : start + 4800]).decode()
            await runner.feed_text(
                json.dumps({"type": "input_audio_buffer.append", "audio": chunk})
            )
        await asyncio.wait_for(reader, 120)
    await runner.close()

    types = [e["type"] for e in events]
    assert "input_audio_buffer.speech_started" in types
    assert "input_audio_buffer.speech_stopped" in types
    transcript = next(
        e for e in events if e["type"] == "conversation.item.input_audio_transcription.completed"
    )["transcript"]
    assert "capital" in transcript.lower() and "france" in transcript.lower()
    done = next(e for e in events if e["type"] == "response.done")["response"]
    assert done["status"] == "completed", done["status_details"]
    audio = b"".join(
        base64.b64decode(e["delta"]) for e in events if e["type"] == "response.output_audio.delta"
    )
    samples = np.frombuffer(audio, dtype="<i2")
    assert len(samples) > 24000 * 0.3  # at least some speech at 24 kHz
    assert np.abs(samples).max() > 1000
    assert done["output"][0]["content"][0]["transcript"]
    assert len(runner.turn_timings) == 2
    for timing in runner.turn_timings:
        print(f"speech_stopped -> first audio: {timing.seconds:.2f} s")

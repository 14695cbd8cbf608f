"""Live translation on the real embedded engines: Piper English speech streamed in real
time; Spanish transcript and espeak-ng speech must arrive while the speaker is talking."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from websockets.asyncio.client import connect

from realtime2.engine.config import EngineSettings
from realtime2.engine.registry import build_engines
from tests.support.accounts import new_account
from tests.support.server import LiveServer, build_services, serve_app
from tests.support.speech import speech_pcm16
from tests.support.translation_validate import assert_valid_translation

pytestmark = pytest.mark.models

PHRASES = [
    "Good morning, everyone.",
    "The train to London leaves at nine.",
    "Please bring your tickets and a warm coat.",
    "We will have lunch in the old town.",
    "The museum opens after two o'clock.",
]
CHUNK_BYTES = 9600  # 200 ms of 24 kHz pcm16


@pytest.fixture
async def real_server(tmp_path: Path) -> AsyncIterator[LiveServer]:
    engines = await asyncio.to_thread(build_engines, EngineSettings(_env_file=None))  # type: ignore[call-arg]
    svc = await build_services(tmp_path, engines)
    async for live in serve_app(svc):
        yield live


async def test_speech_is_translated_phrase_by_phrase(
    real_server: LiveServer, test_output_dir: Path
) -> None:
    acct = await new_account(real_server.services, credits=10_000)
    pause = bytes(int(24000 * 0.7) * 2)  # 700 ms between phrases, as a speaker breathes
    parts = [speech_pcm16(text, 24000) for text in PHRASES]
    url = (
        real_server.url.replace("http://", "ws://")
        + "/v1/realtime/translations?model=gpt-realtime-translate"
    )
    received: list[tuple[float, dict[str, Any]]] = []
    async with connect(url, additional_headers={"x-api-key": acct.key}, max_size=None) as ws:
        assert json.loads(await ws.recv())["type"] == "session.created"
        await ws.send(
            json.dumps(
                {
                    "type": "session.update",
                    "session": {
                        "audio": {
                            "input": {"transcription": {"model": "gpt-4o-mini-transcribe"}},
                            "output": {"language": "es"},
                        }
                    },
                }
            )
        )

        async def reader() -> None:
            async for raw in ws:
                event = json.loads(raw)
                received.append((time.monotonic(), event))
                if event["type"] == "session.closed":
                    return

        reading = asyncio.create_task(reader())
        started = time.monotonic()
        sent = 0.0  # seconds of audio sent so far
        phrase_ends: list[float] = []
        for part in parts:
            for audio in (part, pause):
                for start in range(0, len(audio), CHUNK_BYTES):
                    piece = audio[start : start + CHUNK_BYTES]
                    await ws.send(
                        json.dumps(
                            {
                                "type": "session.input_audio_buffer.append",
                                "audio": base64.b64encode(piece).decode(),
                            }
                        )
                    )
                    sent += len(piece) / 48000
                    # Real time: never ahead of the wall clock.
                    await asyncio.sleep(max(0.0, started + sent - time.monotonic()))
                if audio is part:
                    phrase_ends.append(time.monotonic())
        input_ended = time.monotonic()
        await ws.send(json.dumps({"type": "session.close"}))
        await asyncio.wait_for(reading, 60)

    for _, event in received:
        assert_valid_translation(event)
    errors = [e for _, e in received if e["type"] == "error"]
    assert not errors, errors
    assert received[-1][1]["type"] == "session.closed"

    def first(kind: str) -> float:
        return next(t for t, e in received if e["type"] == kind)

    for kind in (
        "session.input_transcript.delta",
        "session.output_transcript.delta",
        "session.output_audio.delta",
    ):
        assert first(kind) < input_ended, f"no {kind} before the input ended"
    # Reported, not asserted: on a quiet 2-core box it is ~1-1.5 s (300 ms of it is the
    # pause that ends the phrase); on a box shared with other test runs it is several
    # times that, so the check above (output before the input ends) is the bound.
    first_audio_delay = first("session.output_audio.delta") - phrase_ends[0]

    # Translated phrase by phrase: audio for several distinct source phrases.
    phrase_marks = {
        e["elapsed_ms"] for _, e in received if e["type"] == "session.output_audio.delta"
    }
    assert len(phrase_marks) >= 3, phrase_marks
    source = "".join(
        e["delta"] for _, e in received if e["type"] == "session.input_transcript.delta"
    )
    target = "".join(
        e["delta"] for _, e in received if e["type"] == "session.output_transcript.delta"
    )
    words = source.lower()
    assert "london" in words and "tickets" in words, source
    assert target.strip()
    audio = b"".join(
        base64.b64decode(e["delta"])
        for _, e in received
        if e["type"] == "session.output_audio.delta"
    )
    samples = np.frombuffer(audio, "<i2").astype(np.float32) / 32768
    assert len(samples) / 24000 > 1.0 and float(np.sqrt(np.mean(samples**2))) > 0.01
    report = {
        "source": source,
        "target": target,
        "first_audio_after_first_phrase_s": round(first_audio_delay, 3),
        "close_to_closed_s": round(received[-1][0] - input_ended, 3),
        "output_audio_s": round(len(samples) / 24000, 2),
    }
    (test_output_dir / "translation.json").write_text(json.dumps(report, indent=2))
    print(report)

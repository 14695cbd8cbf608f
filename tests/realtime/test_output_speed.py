"""`audio.output.speed` end to end: the session's speed reaches the TTS and the audio.

The fake TTS honours speed (its audio is `1/speed` as long), like every built-in backend
(`tests/backends/local/test_tts_speed.py`, `tests/backends/openai/test_tts_speed.py`); a
TTS without the capability fails the response naming the field.
"""

from __future__ import annotations

import base64
from dataclasses import replace
from typing import Any

import pytest

from realtime2.engine.capabilities import UnsupportedRequestError
from realtime2.engine.interfaces import AudioChunk, Priority
from realtime2.engine.pacing import Steady
from realtime2.engine.speaking import SentenceTTS
from realtime2.realtime.runner import SessionRunner
from tests.support.fakes import FakeTTS, fake_engines
from tests.support.runner import Client


class FixedSpeedTTS(FakeTTS):
    capabilities = replace(FakeTTS.capabilities, speed=False)


async def _audio_seconds(
    speed: float | None, tts: FakeTTS | None = None
) -> tuple[float, dict[str, Any]]:
    tts = tts or FakeTTS()
    runner = SessionRunner(fake_engines(tts=tts))
    runner.start()
    client = Client(runner)
    session: dict[str, Any] = {"type": "realtime", "audio": {"input": {"turn_detection": None}}}
    if speed is not None:
        session["audio"]["output"] = {"speed": speed}
    await client.send({"type": "session.update", "session": session})
    await client.send({"type": "response.create"})
    done = await client.wait_for("response.done")
    pcm = b"".join(
        base64.b64decode(e["delta"])
        for e in client.events
        if e["type"] == "response.output_audio.delta"
    )
    await runner.close()
    return len(pcm) / 2 / 24000, done


async def test_speed_1_5_shortens_the_reply_by_a_quarter_or_more() -> None:
    tts = FakeTTS()
    normal, _ = await _audio_seconds(None)
    fast, done = await _audio_seconds(1.5, tts)
    assert done["response"]["status"] == "completed"
    assert set(tts.speeds) == {1.5}
    assert fast <= 0.75 * normal


async def test_a_tts_that_cannot_change_speed_fails_the_response_by_name() -> None:
    _, done = await _audio_seconds(1.25, FixedSpeedTTS())
    assert done["response"]["status"] == "failed"
    error = done["response"]["status_details"]["error"]
    assert error["code"] == "unsupported_request" and "audio.output.speed" in error["message"]
    # At 1.0 the same TTS speaks as before.
    _, done = await _audio_seconds(1.0, FixedSpeedTTS())
    assert done["response"]["status"] == "completed"


async def test_sentence_tts_passes_speed_only_when_asked() -> None:
    tts = FakeTTS()
    stream = SentenceTTS(tts).stream(
        voice="marin", pace=Steady(llm=Priority.INTERACTIVE, later=Priority.INTERACTIVE), speed=0.5
    )
    stream.push_text("Hello there. ")
    stream.end_input()
    chunks = [e async for e in stream if isinstance(e, AudioChunk)]
    assert tts.speeds == [0.5] and chunks
    with pytest.raises(UnsupportedRequestError, match=r"audio\.output\.speed"):
        SentenceTTS(FixedSpeedTTS()).stream(
            voice="marin",
            pace=Steady(llm=Priority.INTERACTIVE, later=Priority.INTERACTIVE),
            speed=1.5,
        )

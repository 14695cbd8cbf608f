"""The local whisper as a streaming STT: it continues a prefix, runs hypotheses on its own
worker, and live transcription of recorded human speech sends words before the speech ends
with the same final words as transcribing the turn at once."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

from realtime2.backends.local.models import default_whisper_dir
from realtime2.backends.local.whisper_stt import WhisperSTT
from realtime2.engine.interfaces import Priority
from realtime2.realtime.runner import SessionRunner
from tests.support.fakes import fake_engines
from tests.support.human_speech import human_turns
from tests.support.runner import Client
from tests.support.wer import wer

pytestmark = [pytest.mark.models, pytest.mark.asyncio(loop_scope="module")]

DELTA = "conversation.item.input_audio_transcription.delta"
COMPLETED = "conversation.item.input_audio_transcription.completed"
RATE = 24000


@pytest.fixture(scope="module")
def stt() -> Any:
    whisper = WhisperSTT.load(default_whisper_dir(), name="whisper-tiny.en", threads=1)
    yield whisper
    whisper.close()


def _turn(name: str, rate: int) -> Any:
    return next(t for t in human_turns(rate) if t.name == name)


async def test_a_prefix_is_continued_never_rewritten(stt: WhisperSTT) -> None:
    turn = _turn("instruct-02", 16000)
    audio = np.frombuffer(turn.pcm, dtype="<i2").astype(np.float32) / 32768.0
    whole = await stt.transcribe(audio, language="en")
    prefix = " ".join(whole.text.split()[:5])
    continued = await stt.transcribe(audio, language="en", prefix=prefix)
    assert continued.text.startswith(prefix)
    assert wer(whole.text, continued.text) < 0.1
    # Even a wrong prefix is kept: the decoder goes on after it.
    forced = await stt.transcribe(audio[:96000], language="en", prefix="Hello and welcome")
    assert forced.text.startswith("Hello and welcome")
    # Hypotheses (background) run on the second model copy, not the main worker.
    hypothesis = await stt.transcribe(audio[:48000], language="en", priority=Priority.BACKGROUND)
    assert hypothesis.text and stt._live_model is not None


async def test_live_words_of_recorded_speech(stt: WhisperSTT) -> None:
    turn = _turn("instruct-02", RATE)  # 14 s of a read passage, one turn
    runner = SessionRunner(fake_engines(stt=stt), kind="transcription", speculative=False)
    runner.start()
    client = Client(runner)
    await client.send(
        {
            "type": "session.update",
            "session": {
                "type": "transcription",
                "audio": {
                    "input": {
                        "transcription": {"model": "gpt-realtime-whisper", "language": "en"},
                        "turn_detection": None,  # the energy fake VAD is no judge of speech
                    }
                },
            },
        }
    )
    step = RATE // 50 * 2  # 20 ms, paced at real time
    for offset in range(0, len(turn.pcm), step):
        chunk = turn.pcm[offset : offset + step]
        await client.runner.feed_audio(chunk, RATE)
        await asyncio.sleep(0.02)
    early = "".join(e["delta"] for e in client.events if e["type"] == DELTA)
    await client.send({"type": "input_audio_buffer.commit"})
    completed = await asyncio.wait_for(_completed(client), 60)
    deltas = "".join(e["delta"] for e in client.events if e["type"] == DELTA)
    assert deltas == completed
    assert len(early.split()) >= 0.5 * len(completed.split()), (early, completed)
    batch = await stt.transcribe(
        np.frombuffer(_turn("instruct-02", 16000).pcm, dtype="<i2").astype(np.float32) / 32768.0,
        language="en",
    )
    assert wer(turn.text, completed) <= wer(turn.text, batch.text) + 0.05, (completed, batch)
    await runner.close()


async def _completed(client: Client) -> str:
    while True:
        done = [e for e in client.events if e["type"] == COMPLETED]
        if done:
            return str(done[0]["transcript"])
        await asyncio.sleep(0.05)

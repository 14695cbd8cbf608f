from __future__ import annotations

import time

import numpy as np
import pytest

from realtime2.engine.interfaces import STT, Priority
from tests.support.speech import speech
from tests.support.wer import wer

pytestmark = pytest.mark.models


async def test_transcribes_real_speech(stt: STT) -> None:
    text = "What is the weather like in London today?"
    started = time.perf_counter()
    transcript = await stt.transcribe(speech(text, 16000), language="en")
    elapsed = time.perf_counter() - started
    assert wer(text, transcript.text) <= 0.1, transcript.text
    assert transcript.audio_seconds == pytest.approx(speech(text, 16000).size / 16000)
    assert transcript.language == "en"
    assert elapsed < 10


async def test_silence_gives_no_words(stt: STT) -> None:
    transcript = await stt.transcribe(np.zeros(16000, np.float32))
    assert len(transcript.text.split()) <= 2  # whisper may hallucinate a filler, never a sentence


async def test_empty_audio(stt: STT) -> None:
    transcript = await stt.transcribe(np.zeros(0, np.float32))
    assert transcript.text == "" and transcript.audio_seconds == 0.0


async def test_unsupported_language_rejected(stt: STT) -> None:
    with pytest.raises(ValueError, match="not supported"):
        await stt.transcribe(np.zeros(1600, np.float32), language="xx")


async def test_concurrent_transcriptions_share_the_model(stt: STT) -> None:
    import asyncio

    texts = ["Please book a table for two.", "Turn off the kitchen lights."]
    results = await asyncio.gather(
        *(stt.transcribe(speech(t, 16000), priority=Priority.BACKGROUND) for t in texts)
    )
    for text, result in zip(texts, results, strict=True):
        assert wer(text, result.text) <= 0.2, result.text

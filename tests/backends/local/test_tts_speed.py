"""`audio.output.speed` in the local TTS backends: the same sentence, measured.

Piper stretches its length scale; espeak-ng changes its words-per-minute rate. At speed 1.5
the sentence must be at least 25 % shorter than at 1.0, and at 0.5 clearly longer.
"""

from __future__ import annotations

import pytest

from realtime2.backends.local.espeak_tts import EspeakTTS
from realtime2.engine.interfaces import TTS

SENTENCE = "The quick brown fox jumps over the lazy dog near the quiet river bank."


async def seconds(tts: TTS, speed: float, voice: str = "marin") -> float:
    chunks = [c async for c in tts.synthesize(SENTENCE, voice=voice, speed=speed)]
    return float(sum(c.duration_s for c in chunks))


@pytest.mark.models
async def test_piper_speed_shortens_and_lengthens(tts: TTS) -> None:
    assert tts.capabilities.speed
    normal = await seconds(tts, 1.0)
    assert await seconds(tts, 1.5) <= 0.75 * normal
    assert await seconds(tts, 0.5) >= 1.5 * normal


async def test_espeak_speed_shortens_and_lengthens() -> None:
    espeak = EspeakTTS.load()
    assert espeak.capabilities.speed
    normal = await seconds(espeak, 1.0)
    assert await seconds(espeak, 1.5) <= 0.75 * normal
    assert await seconds(espeak, 0.5) >= 1.5 * normal
    # Below espeak-ng's slowest rate (speed 0.46), pauses between words make up the rest.
    assert 3.5 * normal <= await seconds(espeak, 0.25) <= 4.5 * normal
    # The rate is per call: a later normal-speed sentence is as long as the first.
    assert await seconds(espeak, 1.0) == pytest.approx(normal, rel=0.02)

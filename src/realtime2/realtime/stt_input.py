"""A session's STT calls: its audio at the STT's sample rate, a transcript prefix where the
STT can continue one, and how long the session waits for the answer."""

from __future__ import annotations

import asyncio
from typing import Any

from realtime2.audio.resample import resample
from realtime2.engine.interfaces import STT, FloatAudio, Transcript

# A transcript that a response may be waiting for must come: an STT that never answers (a
# hung upstream, a wedged worker) fails its item after this long instead of holding every
# later response of the session. Generous, because under load an STT job queues behind the
# other sessions' jobs at the CPU gate: a real answer is never cut off.
DEADLINE_S = 30.0
DEADLINE_PER_AUDIO_S = 1.0  # plus this per second of audio to transcribe


def stt_audio(stt: STT, audio: Any, rate: int) -> Any:
    """`audio` at the STT's sample rate."""
    stt_rate = stt.capabilities.sample_rate
    return audio if rate == stt_rate else resample(audio, rate, stt_rate)


def prefix_args(stt: STT, prefix: str | None) -> dict[str, Any]:
    """`prefix=` for an STT that continues transcripts (never asked of another)."""
    return {"prefix": prefix} if prefix and stt.capabilities.streaming else {}


def deadline_s(samples: int, rate: int) -> float:
    """Seconds to wait for the transcript of `samples` at `rate`."""
    return DEADLINE_S + DEADLINE_PER_AUDIO_S * samples / max(1, rate)


async def transcribe(
    stt: STT, audio: FloatAudio, rate: int, *, prefix: str | None = None, **options: Any
) -> Transcript:
    """`stt`'s transcript of a session's `audio` (at `rate`); TimeoutError past the deadline.

    `options` are the STT's own (`language`, `prompt`, `priority`, `logprobs`)."""
    async with asyncio.timeout(deadline_s(audio.size, rate)):
        return await stt.transcribe(
            stt_audio(stt, audio, rate), **prefix_args(stt, prefix), **options
        )

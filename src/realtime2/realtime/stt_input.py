"""What an STT call gets from a session's audio: its sample rate, and a transcript prefix."""

from __future__ import annotations

from typing import Any

from realtime2.audio.resample import resample
from realtime2.engine.interfaces import STT


def stt_audio(stt: STT, audio: Any, rate: int) -> Any:
    """`audio` at the STT's sample rate."""
    stt_rate = stt.capabilities.sample_rate
    return audio if rate == stt_rate else resample(audio, rate, stt_rate)


def prefix_args(stt: STT, prefix: str | None) -> dict[str, Any]:
    """`prefix=` for an STT that continues transcripts (never asked of another)."""
    return {"prefix": prefix} if prefix and stt.capabilities.streaming else {}

"""The three wire formats of the Realtime API, decoded to and encoded from float samples."""

from __future__ import annotations

from typing import Final

import numpy as np

from realtime2.audio import g711
from realtime2.audio.pcm import float_to_pcm16, pcm16_to_float
from realtime2.engine.interfaces import FloatAudio
from realtime2.protocol.session_config import FormatType

PCM_RATE: Final = 24000


def format_rate(fmt: FormatType) -> int:
    return PCM_RATE if fmt == "audio/pcm" else g711.SAMPLE_RATE


def bytes_per_ms(fmt: FormatType) -> float:
    return format_rate(fmt) * (2 if fmt == "audio/pcm" else 1) / 1000


def decode(data: bytes, fmt: FormatType) -> FloatAudio:
    """Wire bytes to float32 samples at `format_rate(fmt)`."""
    if fmt == "audio/pcmu":
        data = g711.ulaw_to_pcm16(data)
    elif fmt == "audio/pcma":
        data = g711.alaw_to_pcm16(data)
    return pcm16_to_float(data)


def encode(samples: FloatAudio | np.ndarray, fmt: FormatType) -> bytes:
    """Float samples at `format_rate(fmt)` to wire bytes."""
    pcm = float_to_pcm16(samples)
    if fmt == "audio/pcmu":
        return g711.pcm16_to_ulaw(pcm)
    if fmt == "audio/pcma":
        return g711.pcm16_to_alaw(pcm)
    return pcm

"""Conversions between signed 16-bit little-endian PCM bytes and float32 samples."""

from __future__ import annotations

import numpy as np

from realtime2.audio.types import FloatAudio

_SCALE = 32768.0


def pcm16_to_float(b: bytes) -> FloatAudio:
    """Decode s16le bytes to float32 in [-1, 1). A trailing odd byte is ignored."""
    usable = len(b) - (len(b) % 2)
    ints = np.frombuffer(b[:usable], dtype="<i2")
    return (ints.astype(np.float32) / _SCALE).astype(np.float32)


def float_to_pcm16(x: FloatAudio | np.ndarray) -> bytes:
    """Encode float samples to s16le bytes, clipping to the representable range.

    Clipping before scaling keeps +1.0 from wrapping around to -32768.
    """
    arr = np.asarray(x, dtype=np.float32)
    arr = np.nan_to_num(arr, nan=0.0, posinf=1.0, neginf=-1.0)
    scaled = np.clip(np.round(arr * _SCALE), -32768, 32767).astype("<i2")
    return scaled.tobytes()

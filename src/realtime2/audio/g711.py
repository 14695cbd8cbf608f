"""G.711 μ-law and A-law (ITU-T G.711), table-based.

Decoding uses the 256-entry tables of the standard; encoding uses a 65536-entry table
built once from the reference segment algorithm (as in Sun's public-domain `g711.c`), so
converting a frame is a single numpy lookup.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

_ULAW_SEG_END: Final = np.array([0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF, 0x3FFF, 0x7FFF])
_ALAW_SEG_END: Final = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])
_ULAW_BIAS: Final = 0x84
_ULAW_CLIP: Final = 32635


def _segment(
    ends: npt.NDArray[np.int64], magnitude: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """Index of the first segment end >= magnitude (8 when above all of them)."""
    return np.searchsorted(ends, magnitude, side="left").astype(np.int64)


def _build_ulaw_encode() -> npt.NDArray[np.uint8]:
    pcm = np.arange(-32768, 32768, dtype=np.int64)
    sign = np.where(pcm < 0, 0x7F, 0xFF)
    mag = np.minimum(np.abs(pcm), _ULAW_CLIP) + _ULAW_BIAS
    seg = _segment(_ULAW_SEG_END, mag)
    code = (seg << 4) | ((mag >> (seg + 3)) & 0x0F)
    code = np.where(seg >= 8, 0x7F, code)
    return ((code ^ sign) & 0xFF).astype(np.uint8)


def _build_alaw_encode() -> npt.NDArray[np.uint8]:
    # A-law works on 13-bit magnitudes: drop the 3 least significant bits first.
    pcm = np.arange(-32768, 32768, dtype=np.int64) >> 3
    mask = np.where(pcm >= 0, 0xD5, 0x55)
    mag = np.where(pcm >= 0, pcm, -pcm - 1)
    seg = _segment(_ALAW_SEG_END, mag)
    shift = np.where(seg < 2, 1, seg)
    code = (seg << 4) | ((mag >> shift) & 0x0F)
    code = np.where(seg >= 8, 0x7F, code)
    return ((code ^ mask) & 0xFF).astype(np.uint8)


def _build_ulaw_decode() -> npt.NDArray[np.int16]:
    u = ~np.arange(256, dtype=np.int64) & 0xFF
    t = ((u & 0x0F) << 3) + _ULAW_BIAS
    t <<= (u & 0x70) >> 4
    return np.where(u & 0x80, _ULAW_BIAS - t, t - _ULAW_BIAS).astype(np.int16)


def _build_alaw_decode() -> npt.NDArray[np.int16]:
    a = np.arange(256, dtype=np.int64) ^ 0x55
    t = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    t = np.where(seg == 0, t + 8, np.where(seg == 1, t + 0x108, (t + 0x108) << (seg - 1)))
    return np.where(a & 0x80, t, -t).astype(np.int16)


# Encode tables are indexed by the int16 sample reinterpreted as uint16 (two's complement),
# so the order is rotated: index 0 is sample 0, index 0x8000 is sample -32768.
_ULAW_ENC: Final = np.roll(_build_ulaw_encode(), -32768)
_ALAW_ENC: Final = np.roll(_build_alaw_encode(), -32768)
ULAW_DECODE: Final = _build_ulaw_decode()
ALAW_DECODE: Final = _build_alaw_decode()

SAMPLE_RATE: Final = 8000


def _as_index(pcm: bytes) -> npt.NDArray[np.uint16]:
    usable = len(pcm) - (len(pcm) % 2)
    return np.frombuffer(pcm[:usable], dtype="<u2")


def pcm16_to_ulaw(pcm: bytes) -> bytes:
    """s16le samples to μ-law bytes (one byte per sample)."""
    return bytes(_ULAW_ENC[_as_index(pcm)].tobytes())


def pcm16_to_alaw(pcm: bytes) -> bytes:
    """s16le samples to A-law bytes (one byte per sample)."""
    return bytes(_ALAW_ENC[_as_index(pcm)].tobytes())


def ulaw_to_pcm16(data: bytes) -> bytes:
    """μ-law bytes to s16le samples."""
    return bytes(ULAW_DECODE[np.frombuffer(data, dtype=np.uint8)].astype("<i2").tobytes())


def alaw_to_pcm16(data: bytes) -> bytes:
    """A-law bytes to s16le samples."""
    return bytes(ALAW_DECODE[np.frombuffer(data, dtype=np.uint8)].astype("<i2").tobytes())

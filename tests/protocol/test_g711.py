"""G.711 against ITU reference values and round trips."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from realtime2.audio import g711


def _enc(fn: object, value: int) -> int:
    return fn(struct.pack("<h", value))[0]  # type: ignore[operator]


@pytest.mark.parametrize(
    ("sample", "code"),
    [(0, 0xFF), (-1, 0x7F), (32767, 0x80), (-32768, 0x00), (1000, 0xCE), (-1000, 0x4E)],
)
def test_ulaw_encode_known_values(sample: int, code: int) -> None:
    assert _enc(g711.pcm16_to_ulaw, sample) == code


@pytest.mark.parametrize(
    ("sample", "code"),
    [(0, 0xD5), (-1, 0x55), (32767, 0xAA), (-32768, 0x2A), (1000, 0xFA), (-1000, 0x7A)],
)
def test_alaw_encode_known_values(sample: int, code: int) -> None:
    assert _enc(g711.pcm16_to_alaw, sample) == code


def test_decode_tables_match_the_standard() -> None:
    assert g711.ULAW_DECODE[0x00] == -32124 and g711.ULAW_DECODE[0x80] == 32124
    assert g711.ULAW_DECODE[0xFF] == 0 and g711.ULAW_DECODE[0x7F] == 0
    assert g711.ALAW_DECODE[0xD5] == 8 and g711.ALAW_DECODE[0x55] == -8
    assert g711.ALAW_DECODE[0xAA] == 32256 and g711.ALAW_DECODE[0x2A] == -32256
    # Both laws are odd-symmetric around zero.
    assert (g711.ULAW_DECODE[:128] == -g711.ULAW_DECODE[128:]).all()
    assert (g711.ALAW_DECODE[:128] == -g711.ALAW_DECODE[128:]).all()


@pytest.mark.parametrize(
    ("encode", "decode"),
    [(g711.pcm16_to_ulaw, g711.ulaw_to_pcm16), (g711.pcm16_to_alaw, g711.alaw_to_pcm16)],
)
def test_every_code_round_trips(encode: object, decode: object) -> None:
    codes = bytes(range(256))
    pcm = decode(codes)  # type: ignore[operator]
    assert decode(encode(pcm)) == pcm  # type: ignore[operator]


@pytest.mark.parametrize(
    ("encode", "decode", "max_rel"),
    [
        (g711.pcm16_to_ulaw, g711.ulaw_to_pcm16, 0.07),
        (g711.pcm16_to_alaw, g711.alaw_to_pcm16, 0.07),
    ],
)
def test_speech_level_signal_survives(encode: object, decode: object, max_rel: float) -> None:
    t = np.arange(8000) / 8000
    x = (12000 * np.sin(2 * np.pi * 440 * t)).astype("<i2")
    y = np.frombuffer(decode(encode(x.tobytes())), dtype="<i2").astype(float)  # type: ignore[operator]
    big = np.abs(x) > 1000
    rel = np.abs(y[big] - x[big]) / np.abs(x[big])
    assert rel.max() < max_rel
    assert len(encode(x.tobytes())) == len(x)  # type: ignore[operator]

"""Decode every upload container we accept, and encode every speech response format.

Test audio is real speech (Piper), written into each container with PyAV.
"""

from __future__ import annotations

import io

import av
import numpy as np
import pytest

from realtime2.audio.decode import AudioDecodeError, decode_audio
from realtime2.audio.encode import SPEECH_FORMATS, content_type, encode_audio, encode_mp3
from realtime2.audio.pcm import float_to_pcm16
from realtime2.audio.resample import resample
from tests.support.speech import speech

TEXT = "Testing one two three."

# (container format, codec, sample format, rate)
CONTAINERS = {
    "webm-opus": ("webm", "libopus", "s16", 48000),
    "ogg-opus": ("ogg", "libopus", "s16", 48000),
    "wav": ("wav", "pcm_s16le", "s16", 16000),
    "mp3": ("mp3", "libmp3lame", "s16p", 44100),
    "m4a-aac": ("ipod", "aac", "fltp", 44100),
    "flac": ("flac", "flac", "s16", 24000),
}


def make_container(
    samples: np.ndarray, rate: int, fmt: str, codec: str, sample_fmt: str, stereo: bool = False
) -> bytes:
    buffer = io.BytesIO()
    layout = "stereo" if stereo else "mono"
    with av.open(buffer, mode="w", format=fmt) as container:
        stream = container.add_stream(codec, rate=rate)
        stream.layout = layout
        pcm = np.frombuffer(float_to_pcm16(samples), dtype="<i2")
        # Packed s16: stereo samples are interleaved L R L R in one row.
        channels = np.stack([pcm, pcm], axis=1).reshape(1, -1) if stereo else pcm.reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(channels, format="s16", layout=layout)
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()


def envelope(x: np.ndarray, rate: int) -> np.ndarray:
    """RMS in 10 ms windows: compares content while ignoring codec phase changes."""
    hop = rate // 100
    n = x.size // hop
    return np.sqrt(np.mean(x[: n * hop].reshape(n, hop) ** 2, axis=1))


def correlation(a: np.ndarray, b: np.ndarray, rate: int) -> float:
    """Best normalized cross-correlation of two signals' envelopes (robust to codec delay)."""
    ea, eb = envelope(a, rate), envelope(b, rate)
    n = min(ea.size, eb.size)
    ea, eb = ea[:n] - ea[:n].mean(), eb[:n] - eb[:n].mean()
    cc = np.correlate(ea, eb, "full")
    return float(cc.max() / (np.linalg.norm(ea) * np.linalg.norm(eb) + 1e-9))


@pytest.mark.parametrize("name", sorted(CONTAINERS))
def test_decode_container(name: str) -> None:
    fmt, codec, sample_fmt, rate = CONTAINERS[name]
    source = speech(TEXT, sample_rate=rate)
    data = make_container(source, rate, fmt, codec, sample_fmt, stereo=name == "m4a-aac")
    audio, duration = decode_audio(data, 16000)
    expected = source.size / rate
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(duration - expected) < 0.12, (duration, expected)
    assert abs(audio.size / 16000 - duration) < 1e-6
    assert correlation(audio, resample(source, rate, 16000), 16000) > 0.9


def test_decode_to_other_rates() -> None:
    data = make_container(speech(TEXT, sample_rate=16000), 16000, "wav", "pcm_s16le", "s16")
    audio, duration = decode_audio(data, 24000)
    assert abs(audio.size - duration * 24000) < 1
    assert abs(duration - speech(TEXT, 16000).size / 16000) < 0.01


@pytest.mark.parametrize(
    "data",
    [b"", b"not audio at all" * 50, b"RIFF\x00\x00\x00\x00WAVEfmt "],
    ids=["empty", "garbage", "truncated-wav"],
)
def test_decode_rejects_bad_input(data: bytes) -> None:
    with pytest.raises(AudioDecodeError):
        decode_audio(data)


def test_decode_rejects_too_long() -> None:
    silence = np.zeros(16000 * 3, dtype=np.float32)
    data = make_container(silence, 16000, "wav", "pcm_s16le", "s16")
    with pytest.raises(AudioDecodeError, match="longer than"):
        decode_audio(data, max_seconds=2.0)
    assert decode_audio(data, max_seconds=5.0)[1] == pytest.approx(3.0, abs=0.01)


def test_decode_error_is_value_error() -> None:
    assert issubclass(AudioDecodeError, ValueError)


def test_mp3_encode_decodes_back_with_right_duration() -> None:
    source = speech(TEXT, sample_rate=24000)
    mp3 = encode_mp3(source, 24000)
    assert mp3[:3] == b"ID3" or mp3[0] == 0xFF
    audio, duration = decode_audio(mp3, 24000)
    assert abs(duration - source.size / 24000) < 0.06
    assert correlation(audio, source, 24000) > 0.9


@pytest.mark.parametrize("fmt", [f for f in SPEECH_FORMATS if f != "pcm"])
def test_speech_formats_round_trip(fmt: str) -> None:
    source = speech(TEXT, sample_rate=24000)
    data = encode_audio(float_to_pcm16(source), 24000, fmt)
    audio, duration = decode_audio(data, 24000)
    assert abs(duration - source.size / 24000) < 0.1
    assert correlation(audio, source, 24000) > 0.9
    assert content_type(fmt).startswith("audio/")


def test_pcm_format_is_raw_s16le() -> None:
    source = speech(TEXT, sample_rate=24000)
    assert encode_audio(source, 24000, "pcm") == float_to_pcm16(source)
    assert content_type("pcm") == "audio/pcm"
    with pytest.raises(ValueError, match="supported"):
        encode_audio(source, 24000, "vorbis")

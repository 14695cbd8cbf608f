"""Encode mono speech to the response formats `/v1/audio/speech` offers.

`pcm` is raw s16le at the source rate; every other format goes through PyAV's bundled
FFmpeg (libmp3lame, libopus in Ogg, native AAC in ADTS, FLAC, WAV).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Final

import av
import numpy as np

from realtime2.audio.pcm import float_to_pcm16, pcm16_to_float
from realtime2.audio.resample import resample
from realtime2.audio.types import FloatAudio


@dataclass(frozen=True)
class _Format:
    content_type: str
    container: str
    codec: str
    sample_fmt: str
    rates: tuple[int, ...]  # rates the encoder accepts; others are resampled to the first
    bitrate: int | None = None


_FORMATS: Final[dict[str, _Format]] = {
    "mp3": _Format(
        "audio/mpeg",
        "mp3",
        "libmp3lame",
        "s16p",
        (24000, 22050, 16000, 48000, 44100, 32000),
        64_000,
    ),
    "opus": _Format("audio/ogg", "ogg", "libopus", "s16", (48000, 24000, 16000), 32_000),
    "aac": _Format("audio/aac", "adts", "aac", "fltp", (24000, 22050, 16000, 48000), 64_000),
    "flac": _Format("audio/flac", "flac", "flac", "s16", ()),
    "wav": _Format("audio/wav", "wav", "pcm_s16le", "s16", ()),
}
SPEECH_FORMATS: Final[tuple[str, ...]] = ("mp3", "opus", "aac", "flac", "wav", "pcm")


def content_type(fmt: str) -> str:
    """MIME type of an encoded `fmt` (`pcm` is raw s16le)."""
    if fmt == "pcm":
        return "audio/pcm"
    if fmt not in _FORMATS:
        raise ValueError(
            f"unsupported audio format {fmt!r}; supported: {', '.join(SPEECH_FORMATS)}"
        )
    return _FORMATS[fmt].content_type


def encode_audio(audio: bytes | FloatAudio, sample_rate: int, fmt: str) -> bytes:
    """Encode mono audio (s16le bytes or float32 samples) at `sample_rate` as `fmt`."""
    if fmt == "pcm":
        return audio if isinstance(audio, bytes) else float_to_pcm16(audio)
    if fmt not in _FORMATS:
        raise ValueError(
            f"unsupported audio format {fmt!r}; supported: {', '.join(SPEECH_FORMATS)}"
        )
    samples = pcm16_to_float(audio) if isinstance(audio, bytes) else np.asarray(audio, np.float32)
    return _encode(samples, sample_rate, _FORMATS[fmt])


def encode_mp3(audio: bytes | FloatAudio, sample_rate: int) -> bytes:
    return encode_audio(audio, sample_rate, "mp3")


def encode_wav(audio: bytes | FloatAudio, sample_rate: int) -> bytes:
    return encode_audio(audio, sample_rate, "wav")


def _encode(samples: FloatAudio, rate: int, spec: _Format) -> bytes:
    if spec.rates and rate not in spec.rates:
        samples, rate = resample(samples, rate, spec.rates[0]), spec.rates[0]
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=spec.container) as container:
        stream = container.add_stream(spec.codec, rate=rate)
        assert isinstance(stream, av.AudioStream)
        stream.layout = "mono"
        if spec.bitrate:
            stream.bit_rate = spec.bitrate
        if samples.size:
            pcm = np.frombuffer(float_to_pcm16(samples), dtype="<i2").reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
            frame.sample_rate = rate
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()

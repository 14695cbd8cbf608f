"""Decode uploaded audio (webm/ogg opus, wav, mp3, m4a/aac, flac, …) to mono float32.

PyAV's bundled FFmpeg probes the container from the bytes themselves, so callers need not
trust a filename or content type. Decoding stops as soon as the audio exceeds the duration
bound, so a huge upload cannot make us hold minutes of samples in memory.
"""

from __future__ import annotations

import io

import av
import numpy as np

from realtime2.audio.resample import resample
from realtime2.engine.interfaces import FloatAudio

MAX_DECODE_SECONDS = 600.0


class AudioDecodeError(ValueError):
    """The bytes are empty, corrupt, too long, or hold no audio stream."""


def decode_audio(
    data: bytes, sample_rate: int = 16000, *, max_seconds: float = MAX_DECODE_SECONDS
) -> tuple[FloatAudio, float]:
    """Decode `data` to mono float32 at `sample_rate`; returns (samples, duration_s)."""
    if not data:
        raise AudioDecodeError("audio is empty")
    try:
        samples, native_rate = _decode_native(data, max_seconds)
    except AudioDecodeError:
        raise
    except (av.FFmpegError, ValueError, OSError, EOFError) as exc:
        raise AudioDecodeError(f"could not decode audio: {_short(exc)}") from exc
    if samples.size == 0:
        raise AudioDecodeError("audio contains no samples")
    out = resample(samples, native_rate, sample_rate)
    return out, out.size / sample_rate


def _decode_native(data: bytes, max_seconds: float) -> tuple[FloatAudio, int]:
    """Decode the first audio stream, downmixed to mono at its own sample rate."""
    with av.open(io.BytesIO(data), mode="r") as container:
        if not container.streams.audio:
            raise AudioDecodeError("no audio stream found")
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate or stream.rate
        if not rate:
            raise AudioDecodeError("audio stream has no sample rate")
        mixer = av.AudioResampler(format="flt", layout="mono", rate=rate)
        limit = int(max_seconds * rate)
        parts: list[FloatAudio] = []
        total = 0
        for frame in container.decode(stream):
            for out in mixer.resample(frame):
                part = out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
                parts.append(part)
                total += part.size
            if total > limit:
                raise AudioDecodeError(f"audio is longer than {max_seconds:g} seconds")
        for out in mixer.resample(None):
            parts.append(out.to_ndarray().reshape(-1).astype(np.float32, copy=False))
    if not parts:
        return np.zeros(0, dtype=np.float32), rate
    return np.concatenate(parts).astype(np.float32, copy=False), rate


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text[:200]

"""Decode uploaded audio (webm/ogg opus, wav, mp3, m4a/aac, flac, …) to mono float32.

PyAV's bundled FFmpeg probes the container from the bytes themselves, so callers need not
trust a filename or content type. A few kilobytes of compressed silence can declare hours
of audio at hundreds of kHz, so decoding is a stream with every bound checked as it goes:

- the stream's sample rate and channel count are refused above `DecodeLimits` before the
  first frame is decoded (and every frame is checked again: a frame may differ from the
  header);
- each frame is downmixed and resampled to the caller's rate at once (soxr keeps filter
  state between frames), so nothing is ever held at the source rate;
- the duration cap counts *output* samples, and decoding stops at the first frame past it;
- frames must average at least 2 ms of audio, so a file of countless tiny frames (each
  costing the same overhead) is refused after the first thousand.

The only large allocation is the output buffer, sized for the cap at the output rate
(600 s at 16 kHz is 38 MB of float32) and touched only as far as the audio goes.
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass

import av
import numpy as np

from realtime2.audio.resample import StreamResampler
from realtime2.audio.types import FloatAudio

MAX_DECODE_SECONDS = 600.0
# 192 kHz is the highest rate real recorders and "hi-res" files use; speech needs 16 kHz.
# Decoding cost grows with the source rate (a 600 s cap at 192 kHz is 115 M samples to
# decode, about 1.5 s of one core), so anything above it is refused, not decoded.
MAX_SOURCE_SAMPLE_RATE = 192_000
# 7.1 surround; every channel is decoded before the downmix, so channels cost like rate.
MAX_SOURCE_CHANNELS = 8
# Each frame costs ~15 µs whatever it holds, so a file of millions of tiny (or empty)
# frames is a CPU bomb: past a first 1000, frames may average no shorter than 2 ms of
# source audio (Opus's shortest is 2.5 ms; FLAC, MP3, AAC and WAV use 20 ms or more).
MAX_FRAMES_PER_SECOND = 500
FREE_FRAMES = 1000


class AudioDecodeError(ValueError):
    """The bytes are empty, corrupt, too long, or hold no audio stream."""


class AudioTooLongError(AudioDecodeError):
    """The audio runs past the cap it was decoded under (`max_seconds`)."""

    def __init__(self, max_seconds: float) -> None:
        super().__init__(f"audio is longer than {max_seconds:g} seconds")
        self.max_seconds = max_seconds


@dataclass(frozen=True)
class DecodeLimits:
    max_seconds: float = MAX_DECODE_SECONDS  # of output, at the rate decoded to
    max_sample_rate: int = MAX_SOURCE_SAMPLE_RATE
    max_channels: int = MAX_SOURCE_CHANNELS


def decode_audio(
    data: bytes,
    sample_rate: int = 16000,
    *,
    max_seconds: float = MAX_DECODE_SECONDS,
    limits: DecodeLimits | None = None,
    stop: threading.Event | None = None,
) -> tuple[FloatAudio, float]:
    """Decode `data` to mono float32 at `sample_rate`; returns (samples, duration_s).

    `max_seconds` caps the output duration (the smaller of it and `limits.max_seconds`
    applies). Setting `stop` (from another thread) abandons the decode between frames."""
    if not data:
        raise AudioDecodeError("audio is empty")
    limits = limits or DecodeLimits()
    cap = min(max_seconds, limits.max_seconds)
    try:
        samples = _decode(data, sample_rate, cap, limits, stop)
    except AudioDecodeError:
        raise
    except (av.FFmpegError, ValueError, OSError, EOFError) as exc:
        raise AudioDecodeError(f"could not decode audio: {_short(exc)}") from exc
    if samples.size == 0:
        raise AudioDecodeError("audio contains no samples")
    return samples, samples.size / sample_rate


def _decode(
    data: bytes,
    sample_rate: int,
    max_seconds: float,
    limits: DecodeLimits,
    stop: threading.Event | None,
) -> FloatAudio:
    """Decode the first audio stream frame by frame into a buffer at `sample_rate`."""
    with av.open(io.BytesIO(data), mode="r") as container:
        if not container.streams.audio:
            raise AudioDecodeError("no audio stream found")
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate or stream.rate
        if not rate:
            raise AudioDecodeError("audio stream has no sample rate")
        _check_format(rate, stream.codec_context.channels, limits)
        mixer = av.AudioResampler(format="flt", layout="mono", rate=rate)
        out = _Output(int(max_seconds * sample_rate), max_seconds)
        resampler = StreamResampler(rate, sample_rate)
        source_samples = 0
        for frames, frame in enumerate(container.decode(stream), start=1):
            if stop is not None and stop.is_set():
                raise AudioDecodeError("decoding was abandoned")
            source_samples += frame.samples
            if frames > FREE_FRAMES + MAX_FRAMES_PER_SECOND * source_samples / rate:
                raise AudioDecodeError("audio has too many frames for its length")
            if frame.sample_rate != rate:
                raise AudioDecodeError("audio changes sample rate mid-stream")
            _check_format(frame.sample_rate, frame.layout.nb_channels, limits)
            for mono in mixer.resample(frame):
                out.append(resampler.process(_flat(mono)))
        for mono in mixer.resample(None):
            out.append(resampler.process(_flat(mono)))
        out.append(resampler.flush())
    return out.samples()


def _check_format(rate: int, channels: int, limits: DecodeLimits) -> None:
    if rate > limits.max_sample_rate:
        raise AudioDecodeError(
            f"audio sample rate {rate} Hz is above the {limits.max_sample_rate} Hz limit"
        )
    if channels > limits.max_channels:
        raise AudioDecodeError(f"audio has {channels} channels; at most {limits.max_channels}")


def _flat(frame: av.AudioFrame) -> FloatAudio:
    return frame.to_ndarray().reshape(-1).astype(np.float32, copy=False)


class _Output:
    """The decoded samples, in one buffer sized for the cap. `np.empty` only reserves
    address space: pages are committed as they are written, so short audio stays small."""

    def __init__(self, limit: int, max_seconds: float) -> None:
        self._buffer = np.empty(max(limit, 0), dtype=np.float32)
        self._size = 0
        self._max_seconds = max_seconds

    def append(self, part: FloatAudio) -> None:
        end = self._size + part.size
        if end > self._buffer.size:
            raise AudioTooLongError(self._max_seconds)
        self._buffer[self._size : end] = part
        self._size = end

    def samples(self) -> FloatAudio:
        return self._buffer[: self._size]


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text[:200]

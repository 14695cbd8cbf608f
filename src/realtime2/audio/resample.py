"""Sample-rate conversion with soxr (high quality), one-shot and streaming."""

from __future__ import annotations

import numpy as np
import soxr

from realtime2.audio.types import FloatAudio


def _as_float32(x: np.ndarray) -> FloatAudio:
    return np.ascontiguousarray(x, dtype=np.float32)


def resample(x: FloatAudio, src_rate: int, dst_rate: int) -> FloatAudio:
    """Resample a whole mono float32 signal from `src_rate` to `dst_rate` Hz."""
    if src_rate <= 0 or dst_rate <= 0:
        raise ValueError("sample rates must be positive")
    samples = _as_float32(x)
    if src_rate == dst_rate or samples.size == 0:
        return samples.copy()
    return _as_float32(soxr.resample(samples, src_rate, dst_rate, quality="HQ"))


class StreamResampler:
    """Resample a mono float32 stream chunk by chunk without edge artefacts.

    soxr keeps filter state between calls, so the concatenated output of `process` over
    all chunks plus `flush()` matches a one-shot `resample` of the whole signal.
    """

    def __init__(self, src_rate: int, dst_rate: int) -> None:
        if src_rate <= 0 or dst_rate <= 0:
            raise ValueError("sample rates must be positive")
        self.src_rate = src_rate
        self.dst_rate = dst_rate
        self._passthrough = src_rate == dst_rate
        self._stream = (
            None
            if self._passthrough
            else soxr.ResampleStream(src_rate, dst_rate, 1, dtype="float32", quality="HQ")
        )
        self._flushed = False

    def process(self, x: FloatAudio) -> FloatAudio:
        """Feed one chunk; returns whatever output is ready (may be empty)."""
        if self._flushed:
            raise RuntimeError("StreamResampler already flushed")
        samples = _as_float32(x)
        if self._stream is None:
            return samples.copy()
        return _as_float32(self._stream.resample_chunk(samples, last=False))

    def flush(self) -> FloatAudio:
        """End the stream and return the samples still held in the filter."""
        if self._flushed:
            return np.zeros(0, dtype=np.float32)
        self._flushed = True
        if self._stream is None:
            return np.zeros(0, dtype=np.float32)
        empty = np.zeros(0, dtype=np.float32)
        return _as_float32(self._stream.resample_chunk(empty, last=True))

"""Input noise suppression (`audio.input.noise_reduction`), run before VAD and STT.

The suppressor is speexdsp's (the `speexdsp-ns` wheel: the noise suppressor of the Speex
preprocessor, C, 10 ms frames), chosen by `bench/noise_reduction.py` over RNNoise and
noisereduce's spectral gating: on whisper tiny.en it kept the word error rate of clean
speech and of speech in stationary noise (pink, hum) where the others raised it, at
~1 ms of CPU per second of audio, 15-25 times less than the others (figures in
docs/engine.md). `far_field` applies it fully; `near_field` (a close-talking mic, where
speech dominates) mixes half of the original back in, a gentler suppression. The SDK's
`strength` (default 1) scales that share of suppressed signal, clamped to 0..1.

A stream keeps the samples of an unfinished 10 ms frame for the next call, so its output
lags its input by less than one frame; `flush` returns them (unsuppressed).
"""

from __future__ import annotations

from typing import Any, Final, Literal

import numpy as np

from realtime2.audio.types import FloatAudio

NoiseReductionType = Literal["near_field", "far_field"]
FRAME_MS: Final = 10
# How much of the suppressed signal a type keeps (the rest is the original).
STRENGTH: Final[dict[str, float]] = {"near_field": 0.5, "far_field": 1.0}
RATES: Final = (8000, 16000, 32000, 48000)


class NoiseSuppressorUnavailableError(RuntimeError):
    """The suppressor's package is missing; the message names it."""


def _speexdsp() -> Any:
    try:
        import speexdsp_ns
    except ImportError as exc:  # pragma: no cover - a packaging error
        raise NoiseSuppressorUnavailableError(
            "noise reduction needs speexdsp-ns, which is not installed: "
            "pip install 'speexdsp-ns>=0.1.2,<0.2'"
        ) from exc
    return speexdsp_ns


class NoiseSuppressor:
    """One stream's suppressor state: float32 mono in, float32 mono out, same rate."""

    def __init__(self, kind: NoiseReductionType, rate: int, strength: float = 1.0) -> None:
        if rate not in RATES:
            raise ValueError(f"noise suppression runs at {RATES} Hz, not {rate}")
        self.kind = kind
        self.strength = strength
        self.rate = rate
        self._frame = rate * FRAME_MS // 1000
        self._ns = _speexdsp().NoiseSuppression.create(self._frame, rate)
        self._wet = STRENGTH[kind] * min(1.0, max(0.0, strength))
        self._rest = np.zeros(0, np.int16)

    def process(self, samples: FloatAudio) -> FloatAudio:
        ints = np.clip(np.round(np.asarray(samples, np.float32) * 32768.0), -32768, 32767)
        pending = np.concatenate([self._rest, ints.astype(np.int16)])
        n = pending.size // self._frame * self._frame
        self._rest = pending[n:]
        if n == 0:
            return np.zeros(0, np.float32)
        frame = self._frame
        # The binding processes exactly one frame per call.
        out = b"".join(
            self._ns.process(pending[i : i + frame].tobytes()) for i in range(0, n, frame)
        )
        wet = np.frombuffer(out, np.int16).astype(np.float32) / 32768.0
        if self._wet >= 1.0:
            return wet
        dry = pending[:n].astype(np.float32) / 32768.0
        return (self._wet * wet + (1.0 - self._wet) * dry).astype(np.float32)

    def flush(self) -> FloatAudio:
        """The held-back samples of an unfinished frame, as they came."""
        rest, self._rest = self._rest, np.zeros(0, np.int16)
        return rest.astype(np.float32) / 32768.0

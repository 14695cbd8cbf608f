"""Silero VAD (ONNX) run with onnxruntime on one thread: 512-sample frames at 16 kHz."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pydantic_settings import BaseSettings

from realtime2.backends.local.models import default_silero_onnx, require_module
from realtime2.engine.catalog import Shared, register_backend
from realtime2.engine.interfaces import FloatAudio, VADCapabilities

SAMPLE_RATE = 16000
FRAME_SAMPLES = 512
_CONTEXT = 64  # the v5+ model expects the last 64 samples of the previous frame first


class SileroVAD:
    name = "silero"
    capabilities = VADCapabilities(sample_rate=SAMPLE_RATE, frame_samples=FRAME_SAMPLES)

    def __init__(self, session: Any) -> None:
        # One session is shared; onnxruntime's `run` is thread-safe and state is per stream.
        self._session = session

    @classmethod
    def load(cls, model_path: Path) -> SileroVAD:
        ort = require_module("onnxruntime", "onnxruntime")
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(
            str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        return cls(session)

    def new_stream(self) -> SileroStream:
        return SileroStream(self._session)


class SileroStream:
    """Carries the model's recurrent state and audio context from frame to frame."""

    def __init__(self, session: Any) -> None:
        self._session = session
        self._sr = np.array(SAMPLE_RATE, dtype=np.int64)
        self.reset()

    def reset(self) -> None:
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._context = np.zeros(_CONTEXT, dtype=np.float32)

    def speech_probability(self, frame: FloatAudio) -> float:
        samples = np.asarray(frame, dtype=np.float32).reshape(-1)
        if samples.size != FRAME_SAMPLES:
            raise ValueError(f"silero VAD needs {FRAME_SAMPLES}-sample frames, got {samples.size}")
        x = np.concatenate([self._context, samples])[np.newaxis, :]
        out, self._state = self._session.run(
            None, {"input": x, "state": self._state, "sr": self._sr}
        )
        self._context = samples[-_CONTEXT:].copy()
        return float(out[0][0])


class SileroSettings(BaseSettings):
    """Nothing to set: the model file comes with the `silero-vad` package."""


def build(_settings: SileroSettings, _shared: Shared) -> SileroVAD:
    return SileroVAD.load(default_silero_onnx())


register_backend(
    "vad",
    "silero",
    settings=SileroSettings,
    build=build,
    describe=lambda _s: "silero (onnx)",
    requires={"onnxruntime": "onnxruntime"},
    fix="reinstall with `make install` (silero-vad), or set REALTIME2_VAD_BACKEND=webrtc",
)

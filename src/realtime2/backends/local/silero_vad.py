"""Silero VAD (ONNX) run with onnxruntime on one thread: 512-sample frames at 16 kHz.

Two exports of the same v6 network are understood: faster-whisper's
`assets/silero_vad_v6.onnx` (the default: faster-whisper is a declared dependency, whereas
the `silero-vad` package requires torch), whose recurrent state is two tensors `h` and `c`,
and the `silero-vad` package's `silero_vad.onnx` (one `state` tensor plus the sample rate),
which an operator may point REALTIME2_VAD_MODEL_PATH at.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pydantic_settings import BaseSettings, SettingsConfigDict

from realtime2.backends.local.models import default_silero_onnx, existing, require_module
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
        names = {i.name for i in session.get_inputs()}
        self._split_state = {"h", "c"} <= names
        if not self._split_state and not {"state", "sr"} <= names:
            raise ValueError(f"not a Silero VAD model: inputs {sorted(names)}")

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
        return SileroStream(self._session, split_state=self._split_state)


class SileroStream:
    """Carries the model's recurrent state and audio context from frame to frame."""

    def __init__(self, session: Any, *, split_state: bool = False) -> None:
        self._session = session
        self._split_state = split_state
        self._sr = np.array(SAMPLE_RATE, dtype=np.int64)
        self.reset()

    def reset(self) -> None:
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros(_CONTEXT, dtype=np.float32)

    def speech_probability(self, frame: FloatAudio) -> float:
        samples = np.asarray(frame, dtype=np.float32).reshape(-1)
        if samples.size != FRAME_SAMPLES:
            raise ValueError(f"silero VAD needs {FRAME_SAMPLES}-sample frames, got {samples.size}")
        x = np.concatenate([self._context, samples])[np.newaxis, :]
        if self._split_state:
            out, self._h, self._c = self._session.run(
                None, {"input": x, "h": self._h, "c": self._c}
            )
        else:
            out, self._state = self._session.run(
                None, {"input": x, "state": self._state, "sr": self._sr}
            )
        self._context = samples[-_CONTEXT:].copy()
        return float(np.asarray(out).reshape(-1)[0])


class SileroSettings(BaseSettings):
    """The model file comes with faster-whisper; REALTIME2_VAD_MODEL_PATH overrides it."""

    model_config = SettingsConfigDict(env_prefix="REALTIME2_VAD_", extra="ignore")

    model_path: Path | None = None


def build(settings: SileroSettings, _shared: Shared) -> SileroVAD:
    path = settings.model_path or default_silero_onnx()
    return SileroVAD.load(existing(path, "Silero VAD model", "REALTIME2_VAD_MODEL_PATH"))


register_backend(
    "vad",
    "silero",
    settings=SileroSettings,
    build=build,
    describe=lambda s: f"silero (onnx{', ' + s.model_path.name if s.model_path else ''})",
    requires={"onnxruntime": "onnxruntime"},
    fix="reinstall faster-whisper, set REALTIME2_VAD_MODEL_PATH, or set "
    "REALTIME2_VAD_BACKEND=webrtc",
)

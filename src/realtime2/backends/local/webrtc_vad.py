"""webrtcvad as a VAD backend: no model file, 30 ms frames at 16 kHz, 0/1 decisions."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from realtime2.audio.pcm import float_to_pcm16
from realtime2.backends.local.models import require_module
from realtime2.engine.catalog import Shared, register_backend
from realtime2.engine.interfaces import FloatAudio, VADCapabilities

SAMPLE_RATE = 16000
FRAME_SAMPLES = 480  # 30 ms


class WebRtcVAD:
    name = "webrtc"
    capabilities = VADCapabilities(sample_rate=SAMPLE_RATE, frame_samples=FRAME_SAMPLES)

    def __init__(self, mode: int = 2) -> None:
        self._module = require_module("webrtcvad", "webrtcvad-wheels")
        self._mode = mode

    def new_stream(self) -> WebRtcStream:
        return WebRtcStream(self._module.Vad(self._mode))


class WebRtcStream:
    def __init__(self, vad: Any) -> None:
        self._vad = vad

    def reset(self) -> None:
        # webrtcvad keeps only a short internal history; a fresh turn needs nothing extra.
        return None

    def speech_probability(self, frame: FloatAudio) -> float:
        samples = np.asarray(frame, dtype=np.float32).reshape(-1)
        if samples.size != FRAME_SAMPLES:
            raise ValueError(f"webrtc VAD needs {FRAME_SAMPLES}-sample frames, got {samples.size}")
        return 1.0 if self._vad.is_speech(float_to_pcm16(samples), SAMPLE_RATE) else 0.0


class WebRtcVadSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REALTIME2_WEBRTC_VAD_", extra="ignore")

    mode: int = Field(default=2, ge=0, le=3)  # aggressiveness: 3 filters out the most


def build(settings: WebRtcVadSettings, _shared: Shared) -> WebRtcVAD:
    return WebRtcVAD(settings.mode)


register_backend(
    "vad",
    "webrtc",
    settings=WebRtcVadSettings,
    build=build,
    describe=lambda _s: "webrtcvad",
    requires={"webrtcvad": "webrtcvad-wheels"},
    fix="reinstall with `make install` (webrtcvad-wheels), or set REALTIME2_VAD_BACKEND=silero",
)

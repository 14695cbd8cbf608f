"""Engine settings: which backend serves each role, and where its model lives.

Every field is read from a `REALTIME2_`-prefixed environment variable (names are the
upper-cased field names, e.g. `REALTIME2_LLM_BACKEND=openai`). `docs/engine.md` lists them
all with examples. Nothing here loads a model; `realtime2.engine.registry` does that.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from realtime2.engine.scheduler import usable_cores

BackendKind = Literal["local", "openai"]
VADKind = Literal["silero", "webrtc"]

OPENAI_BASE_URL = "https://api.openai.com/v1"


class VoiceTuning(BaseModel):
    """How one of the six voice names is rendered by the local Piper backend.

    Unset fields fall back to the built-in tuning for that name (`backends.local.voicing`).
    `model`/`config` swap in another Piper voice file for this name alone.
    """

    model: Path | None = None  # a Piper .onnx voice
    config: Path | None = None  # its .onnx.json (default: model path + ".json")
    speaker: int | None = None  # speaker id for multi-speaker voices
    length_scale: float | None = Field(default=None, gt=0.2, lt=4.0)  # > 1 speaks slower
    noise_scale: float | None = Field(default=None, ge=0.0, le=2.0)
    noise_w: float | None = Field(default=None, ge=0.0, le=2.0)
    pitch_semitones: float | None = Field(default=None, ge=-12.0, le=12.0)
    tilt_db: float | None = Field(default=None, ge=-24.0, le=24.0)  # + brighter, - darker


class RemoteRole(BaseModel):
    """Connection details for one role served by an OpenAI-compatible upstream."""

    base_url: str
    api_key: SecretStr | None
    model: str
    timeout_s: float


class EngineSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REALTIME2_", extra="ignore")

    # Which implementation serves each role.
    stt_backend: BackendKind = "local"
    llm_backend: BackendKind = "local"
    tts_backend: BackendKind = "local"
    vad_backend: VADKind = "silero"

    # CPU threads per model. Each model also has its own worker thread and they run at
    # once, so on small machines one thread each avoids oversubscription: on 2 cores,
    # llama.cpp prompt evaluation with 2 threads stalled for seconds whenever whisper or
    # Piper took a core (bench/realtime_latency: median 2.28 s vs 7.50 s under load).
    threads: int = Field(default_factory=lambda: max(1, usable_cores() // 2), ge=1, le=64)
    # Threads for the LLM's token-by-token decoding (prompt processing uses `threads`).
    llm_decode_threads: int = Field(default=1, ge=1, le=64)

    # Local model overrides. Empty = the packaged default (see MODELS.md).
    stt_model_path: Path | None = None  # a CTranslate2 faster-whisper model directory
    stt_model_name: str = ""  # name reported to clients; default from the directory
    stt_compute_type: str = "int8"
    stt_beam_size: int = Field(default=1, ge=1, le=10)
    # Encode short clips on a shortened window (whisper_window.py); off = always 30 s.
    stt_short_window: bool = True
    llm_model_path: Path | None = None  # any chat GGUF with a chat template
    llm_model_name: str = ""
    llm_context_tokens: int = Field(default=2048, ge=256)
    llm_max_tokens: int = Field(default=200, ge=1)  # default reply budget
    llm_temperature: float = Field(default=0.3, ge=0.0, le=2.0)
    # Saved KV caches of conversations that lost the shared context to another (0 = off).
    llm_prompt_cache_mb: int = Field(default=192, ge=0)
    tts_model_path: Path | None = None  # a Piper .onnx voice (its .onnx.json beside it)
    tts_config_path: Path | None = None
    # Per-voice overrides, JSON: {"ash": {"model": "/voices/x.onnx", "pitch_semitones": -2}}
    voices: dict[str, VoiceTuning] = Field(default_factory=dict)
    webrtc_vad_mode: int = Field(default=2, ge=0, le=3)

    # Remote (OpenAI-compatible) upstreams. Per-role values win over the shared ones.
    openai_base_url: str = OPENAI_BASE_URL
    openai_api_key: SecretStr | None = None
    remote_timeout_s: float = Field(default=30.0, gt=0)
    stt_base_url: str = ""
    stt_api_key: SecretStr | None = None
    stt_model: str = "whisper-1"
    llm_base_url: str = ""
    llm_api_key: SecretStr | None = None
    llm_model: str = "gpt-4o-mini"
    tts_base_url: str = ""
    tts_api_key: SecretStr | None = None
    tts_model: str = "gpt-4o-mini-tts"
    # Upstream voice for each of our six names (OpenAI offers all six under the same names).
    tts_voice_map: dict[str, str] = Field(default_factory=dict)

    def remote(self, role: Literal["stt", "llm", "tts"]) -> RemoteRole:
        base_url: str = getattr(self, f"{role}_base_url") or self.openai_base_url
        key: SecretStr | None = getattr(self, f"{role}_api_key") or self.openai_api_key
        return RemoteRole(
            base_url=base_url.rstrip("/"),
            api_key=key,
            model=getattr(self, f"{role}_model"),
            timeout_s=self.remote_timeout_s,
        )

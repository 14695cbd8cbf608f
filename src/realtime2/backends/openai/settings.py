"""Settings of the OpenAI-compatible backends: one model per role, sharing the upstream.

`REALTIME2_OPENAI_BASE_URL`, `REALTIME2_OPENAI_API_KEY` and `REALTIME2_REMOTE_TIMEOUT_S`
serve every role; `REALTIME2_<ROLE>_BASE_URL`, `_API_KEY` and `_MODEL` win for theirs.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

OPENAI_BASE_URL = "https://api.openai.com/v1"


class RemoteRole(BaseModel):
    """Connection details for one role served by an OpenAI-compatible upstream."""

    base_url: str
    api_key: SecretStr | None
    model: str
    timeout_s: float


class RemoteSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    base_url: str = ""  # this role's upstream; empty = the shared one
    api_key: SecretStr | None = None
    model: str = ""
    openai_base_url: str = Field(OPENAI_BASE_URL, validation_alias="REALTIME2_OPENAI_BASE_URL")
    openai_api_key: SecretStr | None = Field(None, validation_alias="REALTIME2_OPENAI_API_KEY")
    timeout_s: float = Field(30.0, gt=0, validation_alias="REALTIME2_REMOTE_TIMEOUT_S")

    def remote(self) -> RemoteRole:
        return RemoteRole(
            base_url=(self.base_url or self.openai_base_url).rstrip("/"),
            api_key=self.api_key or self.openai_api_key,
            model=self.model,
            timeout_s=self.timeout_s,
        )

    def describe(self) -> str:
        remote = self.remote()
        return f"openai-compatible {remote.model} at {remote.base_url}"


class RemoteSTTSettings(RemoteSettings):
    model_config = SettingsConfigDict(env_prefix="REALTIME2_STT_")

    model: str = "whisper-1"  # served at /audio/transcriptions


class RemoteLLMSettings(RemoteSettings):
    model_config = SettingsConfigDict(env_prefix="REALTIME2_LLM_")

    model: str = "gpt-4o-mini"  # served at /chat/completions, streamed
    # What the upstream model takes: image_url content parts (REALTIME2_LLM_VISION) and
    # `reasoning_effort` (REALTIME2_LLM_REASONING_EFFORT). Off, images are refused and
    # an effort is not sent (servers reject parameters their model lacks).
    vision: bool = False
    reasoning_effort: bool = False


class RemoteTTSSettings(RemoteSettings):
    model_config = SettingsConfigDict(env_prefix="REALTIME2_TTS_")

    model: str = "gpt-4o-mini-tts"  # served at /audio/speech, pcm at 24 kHz
    # Upstream voice for each of our six names (OpenAI offers all six under the same names).
    voice_map: dict[str, str] = Field(default_factory=dict)

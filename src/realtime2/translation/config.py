"""Translation settings, read from `REALTIME2_`-prefixed environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class TranslationSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REALTIME2_", extra="ignore")

    # Piper voices per target language, JSON: {"fr": "/voices/fr_FR-siwis-medium.onnx"}.
    # Languages without one are spoken by espeak-ng (robotic but offline, ~100 languages).
    translation_voices: dict[str, Path] = Field(default_factory=dict)
    # A pause this long ends a phrase; shorter pauses inside a phrase are kept.
    translation_pause_ms: int = Field(default=300, ge=100, le=3000)
    # A phrase that runs this long without such a pause is cut at its quietest point.
    translation_max_phrase_s: float = Field(default=2.5, ge=0.8, le=15.0)
    # Previous (source, translation) pairs sent as context, so a sentence split across
    # phrases reads on. 0 by default: the packaged 135M model copies the context instead
    # of translating; 1-2 suit a capable remote LLM. Each pair lengthens the prompt.
    translation_context_phrases: int = Field(default=0, ge=0, le=8)

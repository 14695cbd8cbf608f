"""Session-scoped embedded models: each is loaded once for the whole test run."""

from __future__ import annotations

import pytest

from realtime2.engine.config import EngineSettings
from realtime2.engine.interfaces import LLM, STT, TTS, VAD
from realtime2.engine.registry import build_llm, build_stt, build_tts, build_vad


@pytest.fixture(scope="session")
def engine_settings() -> EngineSettings:
    return EngineSettings(_env_file=None)  # type: ignore[call-arg]


@pytest.fixture(scope="session")
def stt(engine_settings: EngineSettings) -> STT:
    return build_stt(engine_settings)


@pytest.fixture(scope="session")
def llm(engine_settings: EngineSettings) -> LLM:
    return build_llm(engine_settings)


@pytest.fixture(scope="session")
def tts(engine_settings: EngineSettings) -> TTS:
    return build_tts(engine_settings)


@pytest.fixture(scope="session")
def silero(engine_settings: EngineSettings) -> VAD:
    return build_vad(engine_settings)

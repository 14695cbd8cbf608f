"""Backends register by name with their own settings; the host loads whatever is named."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from realtime2.engine import catalog
from realtime2.engine.catalog import Shared, register_backend, unregister_backend
from realtime2.engine.config import EngineSettings
from realtime2.engine.registry import EngineHost, build_tts, describe
from tests.support.fakes import FakeTTS


class ChimeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REALTIME2_CHIME_", extra="ignore")

    pitch: int = 440


def build_chime(settings: ChimeSettings, shared: Shared) -> FakeTTS:
    tts = FakeTTS()
    tts.name = f"chime-{settings.pitch}-{shared.threads}"
    return tts


@pytest.fixture
def chime() -> Iterator[None]:
    register_backend(
        "tts",
        "chime",
        settings=ChimeSettings,
        build=build_chime,
        describe=lambda s: f"chime at {s.pitch} Hz",
        aliases=("bell",),
    )
    yield
    unregister_backend("tts", "chime")


@pytest.mark.usefixtures("chime")
def test_a_registered_backend_is_chosen_by_name_with_its_own_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REALTIME2_TTS_BACKEND", "bell")  # an alias
    monkeypatch.setenv("REALTIME2_CHIME_PITCH", "880")
    settings = EngineSettings(threads=3)
    assert settings.tts_backend == "chime" and "chime" in catalog.names("tts")
    assert settings.options("tts").pitch == 880
    assert describe("tts", settings) == "chime at 880 Hz"
    assert build_tts(settings).name == "chime-880-3"
    assert build_tts(settings.configure("tts", "chime", pitch=220)).name == "chime-220-3"


@pytest.mark.usefixtures("chime")
async def test_the_host_loads_and_warms_a_registered_backend() -> None:
    settings = EngineSettings(vad_backend="webrtc").configure("tts", "chime", pitch=100)
    for role in ("stt", "llm"):
        settings = settings.configure(role, "openai", base_url="http://127.0.0.1:9/v1")
    host = EngineHost(settings)
    engines = await asyncio.wait_for(host.wait_ready(), 30)
    tts = host.status()["roles"]["tts"]
    assert engines.tts.name == "chime-100-" + str(settings.threads)
    assert tts["backend"] == "chime at 100 Hz" and tts["warmup_seconds"] is not None
    assert host.status()["roles"]["llm"]["warmup_seconds"] is None  # remote: not warmed


def test_an_unknown_backend_names_the_registered_ones() -> None:
    with pytest.raises(ValidationError, match=r"no tts backend named 'nope'; registered: .*piper"):
        EngineSettings(tts_backend="nope")


def test_a_missing_dependency_names_the_package_to_install() -> None:
    register_backend(
        "stt",
        "ghost",
        settings=ChimeSettings,
        build=build_chime,
        describe=lambda _s: "ghost",
        requires={"realtime2_no_such_module": "ghost-stt>=1"},
        fix="pip install ghost-stt, or set REALTIME2_STT_BACKEND=local",
    )
    try:
        host = EngineHost(
            EngineSettings(vad_backend="webrtc", stt_backend="ghost")
            .configure("llm", "openai")
            .configure("tts", "openai")
        )
        host.start()
        with pytest.raises(Exception, match="stt"):
            asyncio.run(asyncio.wait_for(host.wait_ready(), 30))
        error = host.status()["roles"]["stt"]["error"]
        assert "pip install 'ghost-stt>=1'" in error and "fix: pip install ghost-stt" in error
        assert "\n" not in error
    finally:
        unregister_backend("stt", "ghost")


def test_configure_refuses_settings_the_backend_does_not_have() -> None:
    with pytest.raises(ValidationError, match="llm_model_path"):
        EngineSettings(llm_model_path=Path("/x.gguf"))  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="model_pth"):
        EngineSettings().configure("llm", "local", model_pth=Path("/x.gguf"))
    with pytest.raises(ValidationError):
        EngineSettings().configure("stt", "local", beam_size=99)


def test_every_documented_variable_still_lands(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "REALTIME2_THREADS": "3",
        "REALTIME2_LLM_DECODE_THREADS": "2",
        "REALTIME2_STT_MODEL_PATH": "/m/whisper",
        "REALTIME2_STT_MODEL_NAME": "w",
        "REALTIME2_STT_COMPUTE_TYPE": "float32",
        "REALTIME2_STT_BEAM_SIZE": "3",
        "REALTIME2_STT_SHORT_WINDOW": "false",
        "REALTIME2_LLM_MODEL_PATH": "/m/x.gguf",
        "REALTIME2_LLM_MODEL_NAME": "x",
        "REALTIME2_LLM_CONTEXT_TOKENS": "4096",
        "REALTIME2_LLM_PROMPT_CACHE_MB": "0",
        "REALTIME2_LLM_MAX_TOKENS": "50",
        "REALTIME2_LLM_TEMPERATURE": "0.9",
        "REALTIME2_TTS_MODEL_PATH": "/m/v.onnx",
        "REALTIME2_TTS_CONFIG_PATH": "/m/v.json",
        "REALTIME2_VOICES": '{"ash": {"pitch_semitones": -3}}',
        "REALTIME2_WEBRTC_VAD_MODE": "3",
        "REALTIME2_OPENAI_BASE_URL": "http://shared/v1",
        "REALTIME2_OPENAI_API_KEY": "sk-shared",
        "REALTIME2_REMOTE_TIMEOUT_S": "5",
        "REALTIME2_STT_MODEL": "whisper-2",
        "REALTIME2_LLM_BASE_URL": "http://llm/v1",
        "REALTIME2_LLM_API_KEY": "sk-llm",
        "REALTIME2_TTS_MODEL": "tts-2",
        "REALTIME2_TTS_VOICE_MAP": '{"cedar": "onyx"}',
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    s = EngineSettings()
    stt, llm, tts = s.options("stt"), s.options("llm"), s.options("tts")
    assert s.threads == 3 and llm.decode_threads == 2
    assert (stt.model_path, stt.model_name) == (Path("/m/whisper"), "w")
    assert (stt.compute_type, stt.beam_size, stt.short_window) == ("float32", 3, False)
    assert (llm.model_path, llm.model_name, llm.context_tokens) == (Path("/m/x.gguf"), "x", 4096)
    assert (llm.prompt_cache_mb, llm.max_tokens, llm.temperature) == (0, 50, 0.9)
    assert (tts.model_path, tts.config_path) == (Path("/m/v.onnx"), Path("/m/v.json"))
    assert tts.voices["ash"].pitch_semitones == -3
    assert s.options("vad", "webrtc").mode == 3
    remote_stt = s.options("stt", "openai").remote()
    remote_llm = s.options("llm", "openai").remote()
    remote_tts = s.options("tts", "openai")
    assert (remote_stt.base_url, remote_stt.model, remote_stt.timeout_s) == (
        "http://shared/v1",
        "whisper-2",
        5.0,
    )
    assert remote_stt.api_key is not None and remote_stt.api_key.get_secret_value() == "sk-shared"
    assert remote_llm.base_url == "http://llm/v1" and remote_llm.model == "gpt-4o-mini"
    assert remote_llm.api_key is not None and remote_llm.api_key.get_secret_value() == "sk-llm"
    assert remote_tts.remote().model == "tts-2" and remote_tts.voice_map == {"cedar": "onyx"}
    assert "sk-" not in repr(s) + repr(remote_tts)


def test_a_bad_value_for_the_chosen_backend_fails_at_start_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REALTIME2_STT_BEAM_SIZE", "99")
    with pytest.raises(ValidationError, match="beam_size"):
        EngineSettings()
    assert EngineSettings(stt_backend="openai").stt_backend == "openai"  # not whisper's value


def test_a_backend_module_that_fails_to_import_leaves_the_others(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import realtime2.backends

    missing = "realtime2.backends.local.no_such_backend"
    monkeypatch.setattr(realtime2.backends, "MODULES", (*realtime2.backends.MODULES, missing))
    monkeypatch.setattr(catalog, "_loaded", False)
    monkeypatch.setattr(catalog, "_broken", {})
    assert catalog.backend("tts", "piper").name == "local"
    with pytest.raises(catalog.UnknownBackendError, match=f"{missing} failed to import"):
        catalog.backend("tts", "no_such")

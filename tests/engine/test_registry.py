from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from realtime2.backends.openai.llm import OpenAILLM
from realtime2.engine.config import EngineSettings
from realtime2.engine.interfaces import EngineUnavailableError
from realtime2.engine.registry import EngineHost


def remote_settings() -> EngineSettings:
    settings = EngineSettings(vad_backend="webrtc")
    for role in ("stt", "llm", "tts"):
        settings = settings.configure(role, "openai", openai_base_url="http://127.0.0.1:9/v1")
    return settings


async def test_host_loads_in_background_and_reports_ready(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="realtime2.engine.registry")
    host = EngineHost(remote_settings())
    assert not host.ready
    assert host.status()["roles"]["llm"]["state"] == "pending"
    with pytest.raises(EngineUnavailableError, match="loading"):
        _ = host.engines
    engines = await asyncio.wait_for(host.wait_ready(), 30)
    assert host.ready and isinstance(engines.llm, OpenAILLM)
    status = host.status()
    assert status["ready"] is True
    assert {r["state"] for r in status["roles"].values()} == {"ready"}
    assert "loading llm (openai-compatible gpt-4o-mini at http://127.0.0.1:9/v1)" in caplog.text
    assert "llm ready: loaded in" in caplog.text


async def test_missing_model_is_a_one_line_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    missing = tmp_path / "nope.gguf"
    host = EngineHost(remote_settings().configure("llm", "local", model_path=missing))
    host.start()
    with pytest.raises(EngineUnavailableError) as info:
        await asyncio.wait_for(host.wait_ready(), 30)
    role = host.status()["roles"]["llm"]
    assert role["state"] == "failed"
    assert "REALTIME2_LLM_MODEL_PATH" in role["error"] and str(missing) in role["error"]
    assert "\n" not in role["error"] and "Traceback" not in caplog.text
    assert "llm" in str(info.value)
    assert host.status()["roles"]["stt"]["state"] == "ready"  # other roles still load


def test_unknown_voice_override_rejected() -> None:
    from realtime2.backends.local.voicing import VoiceTuning, resolve_profiles

    with pytest.raises(ValueError, match="alloy"):
        resolve_profiles({"alloy": VoiceTuning(pitch_semitones=1)})
    profiles = resolve_profiles({"ash": VoiceTuning(pitch_semitones=-6, model=Path("/v/x.onnx"))})
    assert profiles["ash"].pitch_semitones == -6 and profiles["ash"].model == Path("/v/x.onnx")
    assert profiles["ash"].length_scale == 0.94  # untouched fields keep the built-in tuning


async def test_the_engines_guess_as_the_operator_set() -> None:
    host = EngineHost(remote_settings().model_copy(update={"draft_guesses": "never"}))
    engines = await asyncio.wait_for(host.wait_ready(), 30)
    assert engines.transcript_pace.mode == "never"
    assert not engines.transcript_pace.guessing()

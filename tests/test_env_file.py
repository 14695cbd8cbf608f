"""Settings from a `.env` file: read by every settings class, the environment wins."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from realtime2.cli import main
from realtime2.config import ENV_FILE_VARIABLE, get_settings, load_env_file
from realtime2.engine.config import EngineSettings


@pytest.fixture(autouse=True)
def _restore_environment() -> Iterator[None]:
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)
    get_settings.cache_clear()


def test_a_named_file_sets_service_and_engine_settings(tmp_path: Path) -> None:
    env = tmp_path / "prod.env"
    env.write_text("REALTIME2_PORT=9123\nREALTIME2_VAD_BACKEND=webrtc\n# a comment\n")
    os.environ.pop("REALTIME2_PORT", None)
    os.environ.pop("REALTIME2_VAD_BACKEND", None)
    assert load_env_file(env) == env
    assert get_settings().port == 9123
    assert EngineSettings().vad_backend == "webrtc"


def test_the_environment_wins_over_the_file(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("REALTIME2_PORT=9123\n")
    os.environ["REALTIME2_PORT"] = "8444"
    load_env_file(env)
    assert get_settings().port == 8444


def test_dot_env_in_the_working_directory_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text("REALTIME2_LOG_FORMAT=json\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("REALTIME2_LOG_FORMAT", raising=False)
    monkeypatch.delenv(ENV_FILE_VARIABLE, raising=False)
    assert load_env_file() == Path(".env")
    assert get_settings().log_format == "json"


def test_no_default_file_is_fine_but_a_named_missing_one_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(ENV_FILE_VARIABLE, raising=False)
    assert load_env_file() is None
    monkeypatch.setenv(ENV_FILE_VARIABLE, str(tmp_path / "absent.env"))
    with pytest.raises(FileNotFoundError):
        load_env_file()
    assert main(["--env-file", str(tmp_path / "nope.env"), "migrate"]) == 2
    assert "env file not found" in capsys.readouterr().err

"""Smart Turn v3.2 (`backends/local/smart_turn.py`): the real model on real speech.

The model file comes from the installed pipecat-ai wheel, located without importing pipecat.
"""

from __future__ import annotations

import importlib.metadata
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from realtime2.backends.local.models import ModelSetupError
from realtime2.backends.local.smart_turn import SmartTurn, packaged_model, window
from realtime2.engine.catalog import backend
from realtime2.engine.config import EngineSettings
from realtime2.engine.interfaces import TurnModel
from realtime2.engine.registry import build_turn
from realtime2.engine.scheduler import JobAbandoned
from tests.support.human_speech import human_turns

pytestmark = pytest.mark.models

RATE = 16000


@pytest.fixture(scope="module")
def model() -> Iterator[SmartTurn]:
    loaded = SmartTurn.load(packaged_model())
    yield loaded
    loaded.close()


def _turn(name: str) -> tuple[np.ndarray, int, tuple[tuple[int, int], ...]]:
    (turn,) = [t for t in human_turns(RATE) if t.name == name]
    audio = np.frombuffer(turn.pcm, "<i2").astype(np.float32) / 32768.0
    return audio, turn.voiced_end, turn.pauses_ms


def _until(audio: np.ndarray, end: int, trail_ms: int = 100) -> np.ndarray:
    """The turn up to sample `end`, then `trail_ms` of silence (what a pause check hears)."""
    return np.concatenate([audio[:end], np.zeros(RATE * trail_ms // 1000, np.float32)])


def test_the_packaged_model_is_found_without_importing_pipecat() -> None:
    before = set(sys.modules)
    path = packaged_model()
    assert path.name == "smart-turn-v3.2-cpu.onnx" and path.stat().st_size > 8_000_000
    assert not any(m.startswith("pipecat") for m in set(sys.modules) - before)


def test_a_missing_distribution_is_one_line_naming_the_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def missing(name: str) -> object:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", missing)
    with pytest.raises(ModelSetupError) as err:
        packaged_model()
    message = str(err.value)
    assert "\n" not in message
    assert "pip install 'pipecat-ai" in message and "REALTIME2_TURN_MODEL_PATH" in message


def test_the_model_path_setting_overrides_and_is_checked(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("REALTIME2_TURN_MODEL_PATH", str(tmp_path / "nope.onnx"))
    with pytest.raises(ModelSetupError, match="REALTIME2_TURN_MODEL_PATH"):
        build_turn(EngineSettings())
    monkeypatch.setenv("REALTIME2_TURN_MODEL_PATH", str(packaged_model()))
    built = build_turn(EngineSettings())
    assert isinstance(built, SmartTurn) and isinstance(built, TurnModel)
    built.close()


def test_turn_backend_none_builds_no_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REALTIME2_TURN_BACKEND", "none")
    assert build_turn(EngineSettings()) is None
    assert backend("turn", "words").name == "none"


def test_window_pads_in_front_and_keeps_the_last_8_seconds() -> None:
    short = window(np.ones(RATE, np.float32))
    assert short.size == 8 * RATE
    assert np.all(short[: 7 * RATE] == short[0]) and short[-1] > short[0]  # zeros first
    long = np.arange(10 * RATE, dtype=np.float32)
    kept = window(long)
    assert kept.size == 8 * RATE and abs(float(kept.mean())) < 1e-3
    assert np.argmax(kept) == kept.size - 1  # the end of the turn, not its start


def test_features_match_the_models_reference_preprocessing(model: SmartTurn) -> None:
    """Our features (faster-whisper's extractor) against pipecat's own numpy copy of the
    transformers extractor the model was trained with (test only: pipecat is not imported
    at run time)."""
    reference = pytest.importorskip("pipecat.audio.turn.smart_turn._whisper_features")
    audio, end, _ = _turn("savefolder")
    piece = _until(audio, end)
    ours = model.features(piece)[0]
    padded = np.concatenate([np.zeros(8 * RATE - piece.size, np.float32), piece])
    theirs = reference.compute_whisper_log_mel_features(padded, do_normalize=True)
    assert ours.shape == theirs.shape == (80, 800)
    assert float(np.abs(ours - theirs).max()) < 1e-3


def test_a_finished_question_scores_higher_than_the_same_audio_cut_mid_sentence(
    model: SmartTurn,
) -> None:
    audio, end, _ = _turn("changeto")  # "Change to which folder?"
    finished = model.score(_until(audio, end))
    cut = model.score(_until(audio, end * 55 // 100))  # "Change to which…"
    assert finished > 0.5 > cut, (finished, cut)


def test_pauses_inside_sentences_score_lower_than_sentence_ends(model: SmartTurn) -> None:
    inside, ends = [], []
    for name in ("instruct-02", "instruct-03", "instruct-06", "instruct-09", "jfk"):
        audio, end, pauses = _turn(name)
        ends.append(model.score(_until(audio, end)))
        inside += [model.score(_until(audio, start * RATE // 1000)) for start, _ in pauses]
    assert inside, "the passage has pauses inside its sentences"
    assert float(np.median(ends)) > float(np.median(inside))


async def test_checks_run_on_the_worker_and_keep_the_callers_audio(model: SmartTurn) -> None:
    audio, end, _ = _turn("changeto")
    piece = _until(audio, end)
    p = await model.end_of_turn(piece)
    assert 0.0 <= p <= 1.0 and p == pytest.approx(model.score(piece), abs=1e-6)


def test_a_check_called_off_ends_between_its_features_and_the_model(
    model: SmartTurn, monkeypatch: pytest.MonkeyPatch
) -> None:
    audio, end, _ = _turn("changeto")
    runs: list[object] = []
    session = model._session

    class Counting:
        def run(self, *args: object) -> object:
            runs.append(args)
            return session.run(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(model, "_session", Counting())

    def called_off() -> None:
        raise JobAbandoned("the pause is over")

    with pytest.raises(JobAbandoned):
        model.score(_until(audio, end), called_off)
    assert runs == []  # the model never ran
    assert model.score(_until(audio, end)) > 0.5 and len(runs) == 1

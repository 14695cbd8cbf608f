"""`audio.input.noise_reduction` suppresses noise before VAD and STT in realtime and
transcription sessions: steady noise that the VAD takes for speech without it starts no
turn with it (issue 23). It is never refused: clients send it by default."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from realtime2.protocol import commands as cmd
from tests.support.fakes import b64
from tests.support.harness import Harness


def _noise(seconds: float, rms: float = 0.03) -> np.ndarray:
    rng = np.random.default_rng(3)
    return (rng.standard_normal(int(24000 * seconds)) * rms).astype(np.float32)


def _feed(h: Harness, audio: np.ndarray, chunk_ms: int = 20) -> None:
    step = 24 * chunk_ms
    for i in range(0, audio.size, step):
        h.send({"type": "input_audio_buffer.append", "audio": b64(audio[i : i + step])})


def _session(kind: str, noise_reduction: dict[str, Any] | None) -> dict[str, Any]:
    audio: dict[str, Any] = {"input": {"noise_reduction": noise_reduction}}
    return {"type": kind, "audio": audio}


@pytest.mark.parametrize("kind", ["realtime", "transcription"])
def test_noise_starts_a_turn_without_reduction_and_none_with_it(kind: str) -> None:
    # Let the suppressor adapt to the room for a second, then 3 s more of the same noise.
    plain = Harness(kind=kind)
    plain.send({"type": "session.update", "session": _session(kind, None)})
    _feed(plain, _noise(4.0))
    assert plain.of("input_audio_buffer.speech_started")

    reduced = Harness(kind=kind)
    update = _session(kind, {"type": "far_field"})
    updated = reduced.send({"type": "session.update", "session": update})
    assert updated[-1]["session"]["audio"]["input"]["noise_reduction"]["type"] == "far_field"
    _feed(reduced, _noise(1.0))
    reduced.send({"type": "input_audio_buffer.clear"})
    before = len(reduced.of("input_audio_buffer.speech_started"))
    _feed(reduced, _noise(3.0))
    assert len(reduced.of("input_audio_buffer.speech_started")) == before


def test_committed_audio_is_the_suppressed_audio() -> None:
    h = Harness()
    update = _session("realtime", {"type": "far_field"})
    update["audio"]["input"]["turn_detection"] = None
    h.send({"type": "session.update", "session": update})
    noise = _noise(2.0)
    _feed(h, noise)
    h.send({"type": "input_audio_buffer.commit"})
    (turn,) = h.take(cmd.TranscribeTurn)
    tail = turn.audio[16000:]
    assert float(np.sqrt(np.mean(tail**2))) < 0.03 / 3  # what STT gets is the cleaned audio


def test_turning_it_off_restores_the_raw_audio() -> None:
    h = Harness()
    h.send({"type": "session.update", "session": _session("realtime", {"type": "near_field"})})
    assert h.session.input.noise is not None
    h.send({"type": "session.update", "session": _session("realtime", None)})
    assert h.session.input.noise is None

"""The local whisper borrows an idle core only where that is faster, and gives it back.

`calibrate` times the one-thread copy against the two-thread one on real speech and keeps
the wider for idle-core jobs only if it is clearly faster; a transcription then runs on it
only while the CPU gate lends a core nobody waits for, and the core is returned after.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import pytest

from realtime2.backends.local import whisper_stt
from realtime2.backends.local.models import default_whisper_dir
from realtime2.backends.local.whisper_stt import WhisperSTT
from realtime2.engine.scheduler import CpuGate, ModelWorker
from tests.support.human_speech import human_turns


class _Model:
    """What WhisperSTT reads of a faster-whisper model to describe itself."""

    class model:  # mirrors faster_whisper.WhisperModel.model
        is_multilingual = False


def _stt(gate: CpuGate, seconds: dict[str, float]) -> tuple[WhisperSTT, list[str]]:
    """A WhisperSTT on `gate` whose copies take `seconds[name]` per transcription."""
    narrow, wide = _Model(), _Model()
    stt = WhisperSTT(
        narrow, name="fake", worker=ModelWorker("stt", gate=gate), live_model=None, wide_model=wide
    )
    used: list[str] = []

    def run(
        samples: Any, language: Any, prompt: Any, prefix: Any = None, model: Any = None, *_: Any
    ):
        name = "wide" if model is wide else "narrow"
        used.append(name)
        if name == "wide":
            assert gate.busy_cores == 2, "the wide copy ran without a second core"
        time.sleep(seconds[name])
        return "hello", "en"

    stt._run = run  # type: ignore[method-assign]
    return stt, used


SPEECH = np.full(16000, 0.1, np.float32)


async def test_a_slower_wide_copy_is_never_used() -> None:
    gate = CpuGate(2)
    stt, used = _stt(gate, {"narrow": 0.01, "wide": 0.02})
    await stt.calibrate(SPEECH)
    assert not stt.wide_faster
    used.clear()
    await stt.transcribe(SPEECH)
    assert used == ["narrow"]
    stt.close()


async def test_a_faster_wide_copy_runs_on_a_lent_core_which_is_returned() -> None:
    gate = CpuGate(2)
    stt, used = _stt(gate, {"narrow": 0.02, "wide": 0.01})
    await stt.calibrate(SPEECH)
    assert stt.wide_faster
    used.clear()
    await stt.transcribe(SPEECH)
    assert used == ["wide"]
    assert gate.busy_cores == 0  # the job's core and the lent one
    stt.close()


async def test_no_core_is_borrowed_while_the_other_is_busy() -> None:
    gate = CpuGate(2)
    stt, used = _stt(gate, {"narrow": 0.02, "wide": 0.01})
    await stt.calibrate(SPEECH)
    used.clear()
    other, release = ModelWorker("llm", gate=gate), threading.Event()
    started = threading.Event()

    def hold() -> None:  # another model's job holds the second core
        started.set()
        release.wait()

    busy = other.submit(hold)
    assert started.wait(5)
    await stt.transcribe(SPEECH)
    assert used == ["narrow"]
    release.set()
    busy.result()
    other.close()
    stt.close()


@pytest.mark.models
async def test_calibration_on_real_speech_keeps_the_words(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both copies of the packaged tiny.en give the same words; whichever calibration
    picks on this CPU, a transcription's text does not depend on it."""
    stt = WhisperSTT.load(default_whisper_dir(), name="whisper-tiny.en", threads=1)
    try:
        turn = next(t for t in human_turns(16000) if t.name == "austen-0880")
        audio = np.frombuffer(turn.pcm, dtype="<i2").astype(np.float32) / 32768.0
        await stt.calibrate(audio)
        chosen = await stt.transcribe(audio, language="en")
        monkeypatch.setattr(stt, "wide_faster", not stt.wide_faster)
        other = await stt.transcribe(audio, language="en")
        assert chosen.text == other.text and "young man" in chosen.text
    finally:
        stt.close()


def test_the_wide_copy_needs_a_gate_with_room(monkeypatch: pytest.MonkeyPatch) -> None:
    """On one core (or with borrowing off) no third copy of the model is loaded."""
    monkeypatch.setattr(whisper_stt, "process_gate", lambda: CpuGate(1))
    loaded: list[int] = []

    class FakeWhisper:
        def __init__(self, *args: Any, cpu_threads: int, **kwargs: Any) -> None:
            loaded.append(cpu_threads)
            self.model = _Model.model

    import faster_whisper

    monkeypatch.setattr(faster_whisper, "WhisperModel", FakeWhisper)
    stt = WhisperSTT.load(default_whisper_dir(), name="t", threads=1, live=False)
    assert loaded == [1] and stt._wide_model is None
    stt.close()

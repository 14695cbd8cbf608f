"""A reply's first sentence voices Piper on a second core where that is faster, and only
while the CPU gate gives it one (`PiperTTS`, `CpuGate.claim`).

Fake Piper voices (a tone, and a record of which copy ran with how many cores taken) on
the real scheduler, sentence splitting and WORLD voicing: what is tested is the choice of
copy and that the claimed core goes back, not Piper.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from realtime2.backends.local.piper_tts import PiperTTS
from realtime2.backends.local.voicing import BUILTIN_PROFILES
from realtime2.engine.interfaces import Priority
from realtime2.engine.scheduler import CpuGate, ModelWorker

RATE = 22050
MODEL = Path("joe.onnx")


class _Voice:
    """What PiperTTS calls on a `piper.PiperVoice`."""

    def __init__(self, name: str, seconds: float, gate: CpuGate, used: list[tuple[str, int]]):
        self.name, self.seconds, self.gate, self.used = name, seconds, gate, used
        self.config = SimpleNamespace(sample_rate=RATE)

    def phonemize(self, text: str) -> list[list[str]]:
        return [list("həlˈoʊ")]

    def phonemes_to_ids(self, phonemes: list[str]) -> list[int]:
        return list(range(1, len(phonemes) + 1))

    def phoneme_ids_to_audio(self, ids: list[int], syn_config: Any = None) -> np.ndarray:
        self.used.append((self.name, self.gate.busy_cores))
        time.sleep(self.seconds)
        t = np.arange(int(0.8 * RATE)) / RATE
        return (0.3 * np.sin(2 * np.pi * 140 * t)).astype(np.float32)


def _tts(
    gate: CpuGate, narrow_s: float = 0.02, wide_s: float = 0.005
) -> tuple[PiperTTS, list[tuple[str, int]]]:
    used: list[tuple[str, int]] = []
    tts = PiperTTS(
        {MODEL: _Voice("narrow", narrow_s, gate, used)},
        dict(BUILTIN_PROFILES),
        MODEL,
        worker=ModelWorker("tts", gate=gate),
        first_audio_worker=ModelWorker("tts-first", gate=gate),
        wide_voices={MODEL: _Voice("wide", wide_s, gate, used)},
    )
    return tts, used


async def _speak(tts: PiperTTS, priority: Priority) -> int:
    return len([c async for c in tts.synthesize("Hello.", voice="marin", priority=priority)])


async def test_calibration_keeps_the_wider_copy_only_where_it_is_clearly_faster() -> None:
    for wide_s, kept in ((0.005, True), (0.03, False)):
        tts, used = _tts(CpuGate(2), narrow_s=0.02, wide_s=wide_s)
        await tts.calibrate_threads()
        assert tts.wide_faster is kept
        assert ("wide", 2) in used  # timed with a core lent for it
        assert bool(tts._wide_voices) is kept  # a copy never used is not kept loaded
        tts.close()


async def test_a_first_sentence_takes_an_idle_second_core_and_gives_it_back() -> None:
    gate = CpuGate(2)
    tts, used = _tts(gate)
    tts.wide_faster = True
    assert await _speak(tts, Priority.FIRST_AUDIO) >= 1
    assert used == [("wide", 2)]  # its own core and the claimed one
    assert gate.busy_cores == 0
    assert await _speak(tts, Priority.INTERACTIVE) >= 1  # later sentences: one core
    assert used[-1] == ("narrow", 1)
    tts.close()


async def test_no_second_core_from_work_that_cannot_stop_or_before_calibration() -> None:
    gate = CpuGate(2)
    tts, used = _tts(gate)
    assert await _speak(tts, Priority.FIRST_AUDIO) >= 1
    assert used == [("narrow", 1)]  # not calibrated faster: one core
    tts.wide_faster = True
    other = ModelWorker("stt", gate=gate)
    started, release = threading.Event(), threading.Event()

    def transcribe() -> None:  # it cannot yield its core midway
        started.set()
        release.wait(5)

    other.submit(transcribe, Priority.BACKGROUND)
    assert started.wait(5)
    assert await _speak(tts, Priority.FIRST_AUDIO) >= 1
    assert used[-1] == ("narrow", 2)  # ran beside it on one core
    release.set()
    other.close()
    tts.close()

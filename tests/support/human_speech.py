"""Recorded human speech shipped with the repository (`tests/support/speech_data/`).

    from tests.support.human_speech import human_turns
    for turn in human_turns(24000):          # every turn, resampled to 24 kHz s16le
        turn.name, turn.kind, turn.text, turn.pcm, turn.voiced_end, turn.pauses_ms

Real voices, unlike Piper's: breaths, trailing sounds and pauses inside sentences (up to
~0.4 s in the read passage). Each turn is cut from its recording at a natural pause
(`speech_data/turns.json`); `speech_data/README.md` names the sources, licences and
transcripts. Nothing to install: the WAVs are small (2.8 MB) and read with `wave`.
"""

from __future__ import annotations

import json
import wave
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent / "speech_data"
VOICED_RMS = 0.02  # 10 ms frames above this RMS (of full scale) count as voiced


@dataclass(frozen=True)
class HumanTurn:
    name: str
    kind: str  # "question" | "sentence" | "clause"
    text: str  # the official transcript
    pcm: bytes  # mono s16le at the rate asked for
    sample_rate: int
    voiced_end: int  # sample index just after the last voiced 10 ms frame
    pauses_ms: tuple[tuple[int, int], ...]  # silent spans ≥ 150 ms inside the speech

    @property
    def seconds(self) -> float:
        return len(self.pcm) / 2 / self.sample_rate


def human_turns(sample_rate: int = 24000, kinds: tuple[str, ...] | None = None) -> list[HumanTurn]:
    """All shipped turns (or those of `kinds`), in the order of `turns.json`."""
    return [t for t in _turns(sample_rate) if kinds is None or t.kind in kinds]


@cache
def _turns(sample_rate: int) -> tuple[HumanTurn, ...]:
    manifest = json.loads((DATA / "turns.json").read_text())
    out = []
    for entry in manifest["turns"]:
        audio, rate = _read(DATA / entry["file"])
        start = int(entry.get("start_ms", 0) * rate / 1000)
        end = int(entry["end_ms"] * rate / 1000) if "end_ms" in entry else len(audio)
        piece = audio[start:end]
        if rate != sample_rate:
            import soxr

            piece = soxr.resample(piece, rate, sample_rate, quality="HQ").astype(np.float32)
        voiced = _voiced_frames(piece, sample_rate)
        frame = sample_rate // 100
        last = int(np.flatnonzero(voiced)[-1]) + 1 if voiced.any() else 0
        pcm = np.clip(np.round(piece * 32768.0), -32768, 32767).astype("<i2").tobytes()
        out.append(
            HumanTurn(
                name=entry["name"],
                kind=entry["kind"],
                text=entry["text"],
                pcm=pcm,
                sample_rate=sample_rate,
                voiced_end=last * frame,
                pauses_ms=_inner_pauses(voiced),
            )
        )
    return tuple(out)


def _read(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as handle:
        assert handle.getnchannels() == 1 and handle.getsampwidth() == 2, path
        data = handle.readframes(handle.getnframes())
        rate = handle.getframerate()
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0, rate


def _voiced_frames(audio: np.ndarray, rate: int) -> np.ndarray:
    frame = rate // 100
    n = len(audio) // frame
    rms = np.sqrt((audio[: n * frame].reshape(n, frame) ** 2).mean(axis=1))
    return np.asarray(rms > VOICED_RMS)


def _inner_pauses(voiced: np.ndarray, min_ms: int = 150) -> tuple[tuple[int, int], ...]:
    idx = np.flatnonzero(voiced)
    if idx.size == 0:
        return ()
    pauses = []
    run_start = None
    for i in range(int(idx[0]), int(idx[-1]) + 1):
        if not voiced[i] and run_start is None:
            run_start = i
        elif voiced[i] and run_start is not None:
            if (i - run_start) * 10 >= min_ms:
                pauses.append((run_start * 10, i * 10))
            run_start = None
    return tuple(pauses)

"""One loudness per voice, not per sentence.

Normalizing each sentence to its own peak made loudness jump between the sentences of a
reply (a sentence with one loud plosive came out quieter than its neighbours). Instead each
voice keeps a running estimate of its speech level (gated RMS, a duration-weighted average
over the last ~30 s of its speech) and a sentence gets the gain that brings *that estimate*
to the target, less 60 % of the sentence's own deviation from it: a slow leveller. Piper
speaks some sentences up to ~3.5 dB louder than their neighbours (questions, mostly);
keeping 40 % of that keeps the contour but puts neighbours within ~1.5 dB. A soft limiter
keeps the rare loud peak from clipping instead of turning the whole sentence down.
"""

from __future__ import annotations

import threading

import numpy as np

from realtime2.engine.interfaces import FloatAudio

TARGET_DB = -20.0  # speech level of every voice, dBFS (peaks land around -3 dBFS)
MEMORY_S = 30.0  # how much past speech the level estimate averages over
KEEP = 0.4  # share of a sentence's deviation from the voice's level that is kept
_FRAME_S = 0.02
_GATE_DB = 30.0  # frames this far below the loudest are pauses, not speech
_KNEE = 0.9  # the limiter leaves samples below this untouched


def speech_level_db(audio: FloatAudio, rate: int) -> float | None:
    """Mean power of the speech frames (20 ms, within 30 dB of the loudest), in dBFS.

    None when there is no speech at all (silence or a few samples).
    """
    frame = max(1, int(_FRAME_S * rate))
    count = audio.size // frame
    if count == 0:
        return None
    powers = np.mean(audio[: count * frame].astype(np.float64).reshape(count, frame) ** 2, axis=1)
    loudest = float(powers.max())
    if loudest < 1e-10:  # below -100 dBFS: silence
        return None
    speech = powers[powers >= loudest * 10.0 ** (-_GATE_DB / 10.0)]
    return float(10.0 * np.log10(np.mean(speech)))


def soft_limit(audio: FloatAudio) -> FloatAudio:
    """Samples above the knee are bent towards 1.0 (tanh); the rest pass unchanged."""
    magnitude = np.abs(audio)
    over = magnitude > _KNEE
    if not over.any():
        return audio
    out = audio.copy()
    headroom = 1.0 - _KNEE
    out[over] = np.sign(audio[over]) * (
        _KNEE + headroom * np.tanh((magnitude[over] - _KNEE) / headroom)
    )
    return out


class LevelTracker:
    """A voice's running speech level and the gain it implies (thread-safe).

    The gain for a sentence comes from the level known *before* it (the first sentence sets
    it), corrected by `1 - keep` of the sentence's deviation from that level.
    """

    def __init__(
        self, target_db: float = TARGET_DB, memory_s: float = MEMORY_S, keep: float = KEEP
    ) -> None:
        self.target_db = target_db
        self.memory_s = memory_s
        self.keep = keep
        self._level_db: float | None = None
        self._lock = threading.Lock()

    @property
    def level_db(self) -> float | None:
        return self._level_db

    def apply(self, audio: FloatAudio, rate: int) -> FloatAudio:
        """`audio` at the voice's gain (then limited); the level estimate is updated."""
        return gained(audio, self.gain(speech_level_db(audio, rate), audio.size / rate))

    def gain(self, level: float | None, seconds: float) -> float:
        """The gain for a sentence of `seconds` whose speech level is `level` (None:
        silence); the level estimate is updated. A sentence voiced in pieces asks once,
        with its level estimated from its first piece."""
        with self._lock:
            if level is None:  # silence: nothing to measure, nothing to level
                heard = self._level_db if self._level_db is not None else self.target_db
            elif self._level_db is None:
                self._level_db = heard = level
            else:
                heard = self._level_db + (1.0 - self.keep) * (level - self._level_db)
                share = min(1.0, seconds / self.memory_s)
                self._level_db += share * (level - self._level_db)
        return float(10.0 ** ((self.target_db - heard) / 20.0))


def gained(audio: FloatAudio, gain: float) -> FloatAudio:
    """`audio` times `gain`, its rare peaks bent below full scale (`soft_limit`)."""
    return soft_limit((audio * gain).astype(np.float32))

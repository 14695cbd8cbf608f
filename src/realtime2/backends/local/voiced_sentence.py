"""One Piper sentence in its voice, piece by piece, so its first words play sooner.

Piper speaks a whole sentence at once; WORLD (`world_vocoder.py`) then turns joe's voice into
the session's, which costs about as much again (~45 ms per second of speech on a Zen 5
core, ~2-3x that on older ones). Listeners wait for all of it before the first sample of a
reply unless the resynthesis goes in pieces: the sentence is cut where Piper left a quiet
moment (the pause after "Sure," or the closure before a "t"), the first piece from
`FIRST_PIECE_S` on, later ones from `PIECE_S`, and each piece is voiced as its own TTS job
while the pieces before it play. A sentence without such a moment stays whole.

Loudness stays one per sentence: the voice's `LevelTracker` sets the gain once, from the
first piece's level corrected by how the whole raw sentence differs from that piece, and
every piece gets that gain.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

import numpy as np

from realtime2.audio.resample import resample
from realtime2.backends.local.loudness import LevelTracker, gained, speech_level_db
from realtime2.backends.local.voicing import VoiceProfile
from realtime2.backends.local.world_vocoder import reshape_pieces
from realtime2.engine.interfaces import FloatAudio

FIRST_PIECE_S: Final = 0.3  # shorter first pieces gain a few ms and cost a join each
PIECE_S: Final = 1.0  # later pieces: voiced long before the ones ahead have played
QUIET_DB: Final = -35.0  # a 10 ms frame this far below the sentence's loudest is quiet
QUIET_RUN_S: Final = 0.03  # a quiet moment lasts at least this long


def quiet_cuts(audio: FloatAudio, rate: int) -> list[int]:
    """Sample indices where `audio` may be cut: the middles of quiet moments, the first
    `FIRST_PIECE_S` in, each later one `PIECE_S` after the last, none in the last
    `FIRST_PIECE_S`."""
    hop = rate // 100
    count = audio.size // hop
    if count == 0:
        return []
    power = np.mean(audio[: count * hop].astype(np.float64).reshape(count, hop) ** 2, axis=1)
    quiet = power < power.max() * 10.0 ** (QUIET_DB / 10.0)
    run = round(QUIET_RUN_S * 100)
    cuts: list[int] = []
    last = 0
    frame = 0
    while frame < count:
        if not quiet[frame]:
            frame += 1
            continue
        end = frame
        while end < count and quiet[end]:
            end += 1
        middle = (frame + end) // 2 * hop
        wanted = (PIECE_S if cuts else FIRST_PIECE_S) * rate
        inside = frame > 0 and end < count  # not the sentence's leading or trailing quiet
        room = middle - last >= wanted and audio.size - middle >= FIRST_PIECE_S * rate
        if inside and end - frame >= run and room:
            cuts.append(middle)
            last = middle
        frame = end
    return cuts


class VoicedSentence:
    """A raw Piper sentence, voiced on demand: `next_piece()` gives the next piece of audio
    at `out_rate`, levelled, or None once all of it was given (runs on the TTS worker)."""

    def __init__(
        self,
        raw: FloatAudio,
        source_rate: int,
        out_rate: int,
        profile: VoiceProfile,
        level: LevelTracker,
    ) -> None:
        self._raw = raw
        self._source_rate = source_rate
        self._out_rate = out_rate
        self._level = level
        self._cuts = quiet_cuts(raw, source_rate)
        self._pieces: Iterator[FloatAudio] = reshape_pieces(
            raw, source_rate, profile.reshape, self._cuts
        )
        self._gain: float | None = None

    @property
    def pieces(self) -> int:
        return len(self._cuts) + 1

    def next_piece(self) -> FloatAudio | None:
        piece = next(self._pieces, None)
        if piece is None:
            return None
        audio = np.asarray(resample(piece, self._source_rate, self._out_rate), np.float32)
        if self._gain is None:
            self._gain = self._level.gain(self._sentence_level(audio), self._seconds)
        return gained(audio, self._gain)

    @property
    def _seconds(self) -> float:
        return self._raw.size / self._source_rate

    def _sentence_level(self, first: FloatAudio) -> float | None:
        """The voiced sentence's speech level, from its first voiced piece: that piece's
        level plus how much the whole raw sentence differs from the same raw piece."""
        voiced = speech_level_db(first, self._out_rate)
        if voiced is None or not self._cuts:
            return voiced
        whole = speech_level_db(self._raw, self._source_rate)
        head = speech_level_db(self._raw[: self._cuts[0]], self._source_rate)
        if whole is None or head is None:
            return voiced
        return voiced + whole - head

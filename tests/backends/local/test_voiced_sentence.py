"""A sentence voiced in pieces: cut where it is quiet, the same sound as voiced whole.

The source is two synthetic vowels with a silence between them (as Piper leaves after
"Sure,"), so where a cut belongs and what each piece should sound like are known.
"""

from __future__ import annotations

import numpy as np
import pytest

from realtime2.backends.local.loudness import LevelTracker, speech_level_db
from realtime2.backends.local.voiced_sentence import (
    FIRST_PIECE_S,
    VoicedSentence,
    quiet_cuts,
)
from realtime2.backends.local.voicing import BUILTIN_PROFILES
from realtime2.backends.local.world_vocoder import Reshape, reshape, reshape_pieces
from tests.backends.local.test_voicing import RATE, vowel
from tests.support.pitch import median_pitch

pytest.importorskip("pyworld")

SHAPE = Reshape(f0_ratio=1.5, formant_ratio=1.15, intonation=1.2, tilt_db=1.0)


def two_words(first_s: float = 0.5, pause_s: float = 0.2, second_s: float = 1.0) -> np.ndarray:
    pause = np.zeros(int(pause_s * RATE), np.float32)
    return np.concatenate([vowel(120.0, first_s), pause, vowel(110.0, second_s)])


def frame_db(audio: np.ndarray) -> np.ndarray:
    hop = RATE // 50
    count = audio.size // hop
    power = np.mean(audio[: count * hop].astype(np.float64).reshape(count, hop) ** 2, axis=1)
    result: np.ndarray = 10 * np.log10(power + 1e-10)
    return result


def test_a_sentence_is_cut_in_its_pause() -> None:
    audio = two_words()
    (cut,) = quiet_cuts(audio, RATE)
    assert 0.5 * RATE < cut < 0.7 * RATE


def test_no_cut_too_early_too_late_or_without_a_quiet_moment() -> None:
    assert quiet_cuts(two_words(first_s=FIRST_PIECE_S / 2), RATE) == []  # first piece short
    assert quiet_cuts(two_words(second_s=FIRST_PIECE_S / 2), RATE) == []  # last piece short
    assert quiet_cuts(two_words(pause_s=0.01), RATE) == []  # a click, not a pause
    assert quiet_cuts(vowel(120.0, 2.0), RATE) == []


def test_pieces_sound_as_the_whole_sentence_voiced_at_once() -> None:
    audio = two_words()
    whole = reshape(audio, RATE, SHAPE)
    pieces = list(reshape_pieces(audio, RATE, SHAPE, quiet_cuts(audio, RATE)))
    assert len(pieces) == 2
    joined = np.concatenate(pieces)
    assert joined.size == whole.size == audio.size
    # The pulses restart at the cut, so the waveforms differ; what is heard does not: every
    # frame within 10 dB of the loudest is as loud (the frame of the second vowel's onset,
    # 15 dB down, differs by ~3 dB).
    loud = frame_db(whole) > frame_db(whole).max() - 10
    assert np.max(np.abs(frame_db(joined) - frame_db(whole))[loud]) < 1.0
    second = slice(int(0.8 * RATE), audio.size)
    assert median_pitch(joined[second], RATE) == pytest.approx(
        median_pitch(whole[second], RATE), rel=0.02
    )


def test_a_voiced_sentence_comes_in_pieces_at_one_loudness() -> None:
    audio = two_words()
    tracker, reference = LevelTracker(), LevelTracker()
    sentence = VoicedSentence(audio, RATE, RATE, BUILTIN_PROFILES["marin"], tracker)
    pieces = []
    while (piece := sentence.next_piece()) is not None:
        pieces.append(piece)
    assert sentence.pieces == len(pieces) == 2
    whole = reference.apply(reshape(audio, RATE, BUILTIN_PROFILES["marin"].reshape), RATE)
    joined = np.concatenate(pieces)
    assert abs(joined.size - whole.size) <= 2
    # One gain for the sentence, set from its first piece: as loud as the whole, levelled.
    assert speech_level_db(joined, RATE) == pytest.approx(speech_level_db(whole, RATE), abs=0.5)
    assert tracker.level_db == pytest.approx(reference.level_db, abs=0.5)

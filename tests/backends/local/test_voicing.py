"""The voicing pieces without a model: WORLD reshaping and per-voice loudness.

The source is a synthetic vowel (a glottal-like harmonic series through three formant
resonances, with a slow vibrato), so pitch and formants are known exactly.
"""

from __future__ import annotations

import numpy as np
import pytest

from realtime2.backends.local.loudness import (
    TARGET_DB,
    LevelTracker,
    soft_limit,
    speech_level_db,
)
from realtime2.backends.local.voicing import (
    BUILTIN_PROFILES,
    FEMALE,
    VoiceTuning,
    resolve_profiles,
)
from realtime2.backends.local.world_vocoder import (
    Reshape,
    _fix_octave_jumps,
    reshape,
    scale_f0,
    warp,
)
from tests.support.pitch import median_pitch, spectral_centroid

pytest.importorskip("pyworld")

RATE = 22050
FORMANTS = ((700.0, 110.0), (1200.0, 120.0), (2600.0, 160.0))  # an /a/-like vowel


def vowel(f0: float, seconds: float = 1.0, level: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    contour = f0 * (1.0 + 0.03 * np.sin(2 * np.pi * 3.0 * t))
    phase = 2 * np.pi * np.cumsum(contour) / RATE
    out = np.zeros_like(t)
    for k in range(1, int(5000 / f0)):
        freq = k * f0
        gain = sum(1.0 / (1.0 + ((freq - fc) / bw) ** 2) for fc, bw in FORMANTS) / k
        out += gain * np.sin(k * phase)
    result: np.ndarray = (level * out / np.max(np.abs(out))).astype(np.float32)
    return result


def level_of(audio: np.ndarray) -> float:
    level = speech_level_db(audio, RATE)
    assert level is not None
    return float(level)


def test_pitch_moves_by_the_ratio_in_both_directions() -> None:
    source = vowel(120.0)
    assert median_pitch(source, RATE) == pytest.approx(120.0, rel=0.04)
    up = reshape(source, RATE, Reshape(f0_ratio=1.8))
    down = reshape(source, RATE, Reshape(f0_ratio=0.8))
    assert median_pitch(up, RATE) == pytest.approx(216.0, rel=0.05)
    assert median_pitch(down, RATE) == pytest.approx(96.0, rel=0.05)
    assert up.size == source.size == down.size  # duration is untouched


def test_formants_move_without_the_pitch() -> None:
    source = vowel(120.0)
    plain = reshape(source, RATE, Reshape(tilt_db=0.0001))  # through WORLD, unchanged
    higher = reshape(source, RATE, Reshape(formant_ratio=1.2))
    assert median_pitch(higher, RATE) == pytest.approx(median_pitch(plain, RATE), rel=0.03)
    assert spectral_centroid(higher, RATE) > 1.1 * spectral_centroid(plain, RATE)


def test_a_neutral_shape_leaves_audio_untouched() -> None:
    source = vowel(120.0)
    assert reshape(source, RATE, Reshape()) is source


def test_warp_moves_a_peak_by_the_ratio() -> None:
    spectrum = np.full((2, 513), 1e-6)
    spectrum[:, 100] = 1.0
    warped = warp(spectrum, 1.2)
    assert int(np.argmax(warped[0])) == 120
    assert int(np.argmax(warp(spectrum, 0.9)[1])) == 90


def test_intonation_scales_excursions_around_the_median() -> None:
    f0 = np.array([0.0, 100.0, 200.0, 141.42, 0.0])
    out = scale_f0(f0, 2.0, 0.5)
    assert out[0] == out[-1] == 0.0  # unvoiced stays unvoiced
    assert out[3] == pytest.approx(282.84, rel=1e-3)  # the median itself: times the ratio
    # half an octave above the median became a quarter of an octave
    assert out[2] / out[3] == pytest.approx(2**0.25, rel=1e-3)
    assert out[1] / out[3] == pytest.approx(2**-0.25, rel=1e-3)


def test_isolated_octave_errors_are_folded_back() -> None:
    f0 = np.full(60, 110.0)
    f0[30] = 220.0  # one doubled frame
    f0[10] = 0.0  # an unvoiced frame stays unvoiced
    fixed = _fix_octave_jumps(f0)
    assert fixed[30] == pytest.approx(110.0)
    assert fixed[10] == 0.0


def test_builtin_voices_are_three_female_three_male_and_distinct() -> None:
    assert {"marin", "coral", "sage"} == FEMALE
    for name, profile in BUILTIN_PROFILES.items():
        if name in FEMALE:  # higher pitch *and* a shorter vocal tract
            assert profile.pitch_semitones > 0 and profile.formant_shift > 1.05, name
        else:
            assert profile.pitch_semitones < 0 and profile.formant_shift < 1.05, name
    shapes = {(p.pitch_semitones, p.formant_shift, p.tilt_db) for p in BUILTIN_PROFILES.values()}
    assert len(shapes) == 6


def test_overrides_reach_the_vocoder() -> None:
    profiles = resolve_profiles({"ash": VoiceTuning(formant_shift=1.3, intonation=0.5)})
    shape = profiles["ash"].reshape
    assert (shape.formant_ratio, shape.intonation) == (1.3, 0.5)


def sentence(level: float, spike: float) -> np.ndarray:
    """Speech at `level` with one click of height `spike`: a sentence whose peak lies."""
    audio = vowel(120.0, 1.5, level)
    audio[RATE // 2] = spike
    return audio


def test_one_gain_per_voice_keeps_sentences_level() -> None:
    # Equal speech level, very different peaks: per-sentence peak normalization (the old
    # way) would put them ~9 dB apart; one gain per voice keeps them together.
    first, second, third = sentence(0.3, 0.35), sentence(0.3, 0.95), sentence(0.3, 0.5)
    peak_normalized = [level_of(a * (0.9 / np.max(np.abs(a)))) for a in (first, second)]
    assert abs(peak_normalized[0] - peak_normalized[1]) > 2.0
    tracker = LevelTracker()
    levels = [level_of(tracker.apply(a, RATE)) for a in (first, second, third)]
    assert levels[0] == pytest.approx(TARGET_DB, abs=0.1)
    assert max(levels) - min(levels) < 0.5


def test_a_quieter_sentence_keeps_part_of_its_difference() -> None:
    tracker = LevelTracker()
    loud = level_of(tracker.apply(vowel(120.0, 1.5, 0.4), RATE))
    level_after_one = tracker.level_db
    quiet = level_of(tracker.apply(vowel(120.0, 1.5, 0.2), RATE))
    assert level_after_one is not None
    # 6 dB quieter by nature: 40 % of it is kept, not erased and not a jump
    assert loud - quiet == pytest.approx(0.4 * 6.0, abs=0.3)
    # the voice's level moved by the sentence's share of 30 s (1.5 s: 5 %)
    assert tracker.level_db == pytest.approx(level_after_one - 0.05 * 6.0, abs=0.1)


def test_silence_passes_and_does_not_move_the_level() -> None:
    tracker = LevelTracker()
    tracker.apply(vowel(120.0, 1.0, 0.3), RATE)
    before = tracker.level_db
    silent = np.zeros(RATE, np.float32)
    assert np.all(tracker.apply(silent, RATE) == 0.0)
    assert tracker.level_db == before
    assert speech_level_db(silent, RATE) is None


def test_soft_limit_bends_only_the_peaks() -> None:
    audio = np.array([0.1, -0.5, 0.89, 1.5, -3.0], np.float32)
    limited = soft_limit(audio)
    assert np.all(limited[:3] == audio[:3])
    assert np.all(np.abs(limited) <= 1.0) and limited[3] > 0.9 and limited[4] < -0.9


def test_coarse_aperiodicity_keeps_length_and_pitch() -> None:
    source = vowel(120.0)
    every_frame = reshape(source, RATE, Reshape(f0_ratio=1.5, aperiodicity_every=1))
    every_fourth = reshape(source, RATE, Reshape(f0_ratio=1.5, aperiodicity_every=4))
    assert every_fourth.size == every_frame.size
    assert median_pitch(every_fourth, RATE) == pytest.approx(
        median_pitch(every_frame, RATE), rel=0.02
    )

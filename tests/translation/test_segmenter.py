"""Phrase cutting: at short pauses, and at a quiet point when the speaker runs on."""

from __future__ import annotations

import itertools

import numpy as np

from realtime2.translation.segmenter import Phrase, PhraseSegmenter

RATE, FRAME = 16000, 512  # 32 ms frames


def feed(seg: PhraseSegmenter, pattern: list[tuple[float, int]]) -> list[Phrase]:
    """pattern: (probability, milliseconds); loud frames for speech, quiet for pauses."""
    out: list[Phrase] = []
    for prob, ms in pattern:
        for _ in range(round(ms / 32)):
            level = 0.3 if prob >= 0.5 else 0.001
            out += seg.push(np.full(FRAME, level, np.float32), prob)
    return out


def test_phrases_end_at_short_pauses() -> None:
    seg = PhraseSegmenter(sample_rate=RATE, frame_samples=FRAME, pause_ms=300, max_phrase_s=2.5)
    phrases = feed(seg, [(0.0, 500), (0.9, 1200), (0.1, 400), (0.9, 800), (0.1, 400)])
    assert [p.at_pause for p in phrases] == [True, True]
    first, second = phrases
    # Padding before speech (200 ms) and a short tail are kept.
    assert 250 <= first.start_ms <= 320, first.start_ms
    assert 1700 <= first.end_ms <= 1900, first.end_ms
    assert second.start_ms >= first.end_ms
    assert abs(len(first.audio) / RATE * 1000 - (first.end_ms - first.start_ms)) < 1
    assert seg.flush() == []


def test_long_speech_is_cut_at_its_quietest_frame() -> None:
    seg = PhraseSegmenter(sample_rate=RATE, frame_samples=FRAME, pause_ms=300, max_phrase_s=2.0)
    out: list[Phrase] = []
    for i in range(200):  # 6.4 s of speech with no pause; frame 50 is a word gap
        level = 0.05 if i in (50, 51) else 0.3
        out += seg.push(np.full(FRAME, level, np.float32), 0.9)
    assert len(out) >= 2
    assert not out[0].at_pause
    # Cut inside the quiet frames at ~1.6 s, inside the last second of a 2 s window.
    assert out[0].end_ms == 51 * 32, out[0].end_ms
    assert all(b.start_ms == a.end_ms for a, b in itertools.pairwise(out))
    rest = seg.flush()
    assert len(rest) == 1 and rest[0].at_pause


def test_blips_are_dropped_and_flush_ends_pending_speech() -> None:
    seg = PhraseSegmenter(sample_rate=RATE, frame_samples=FRAME, pause_ms=300)
    assert feed(seg, [(0.9, 64), (0.0, 500)]) == []  # a 64 ms click
    assert feed(seg, [(0.9, 600)]) == []
    tail = seg.flush()
    assert len(tail) == 1 and tail[0].index == 0

"""Early drafts guess only where this process's turn transcripts are quick."""

from __future__ import annotations

from realtime2.engine.transcript_pace import GUESS_MAX_TRANSCRIPT_S, RECENT, TranscriptPace


def test_guessing_is_allowed_until_the_pace_is_known() -> None:
    pace = TranscriptPace()
    pace.record(1.0)
    pace.record(1.0)
    assert pace.typical() is None
    assert pace.quick()


def test_slow_transcripts_stop_guessing_and_quick_ones_bring_it_back() -> None:
    pace = TranscriptPace()
    for _ in range(3):
        pace.record(GUESS_MAX_TRANSCRIPT_S + 0.07)  # the Xeon's ~0.29 s
    assert not pace.quick()
    for _ in range(RECENT):
        pace.record(0.17)  # Zen 5
    assert pace.typical() == 0.17
    assert pace.quick()

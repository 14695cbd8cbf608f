"""Early drafts guess only where this process's turn transcripts are quick."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from realtime2.engine.config import EngineSettings
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


def test_the_operator_can_always_or_never_guess_whatever_the_pace() -> None:
    slow, quick = TranscriptPace("always"), TranscriptPace("never")
    for _ in range(RECENT):
        slow.record(GUESS_MAX_TRANSCRIPT_S + 0.07)
        quick.record(0.1)
    assert slow.guessing() and not slow.quick()
    assert not quick.guessing() and quick.quick()
    auto = TranscriptPace()
    assert auto.guessing()
    for _ in range(RECENT):
        auto.record(GUESS_MAX_TRANSCRIPT_S + 0.07)
    assert not auto.guessing()


def test_the_engines_take_the_mode_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REALTIME2_DRAFT_GUESSES", "never")
    assert EngineSettings().draft_guesses == "never"
    monkeypatch.setenv("REALTIME2_DRAFT_GUESSES", "sometimes")
    with pytest.raises(ValidationError, match="draft_guesses"):
        EngineSettings()

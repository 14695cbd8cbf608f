"""Pacing: first-audio work first, then the rest of a reply only as urgent as playback needs."""

from __future__ import annotations

import pytest

from realtime2.engine.interfaces import AudioChunk, Priority
from realtime2.engine.pacing import DRY_SECONDS, LEAD_SECONDS, Pacing
from tests.support.clock import FakeClock


def seconds_of_audio(seconds: float, rate: int = 24000) -> AudioChunk:
    return AudioChunk(pcm=bytes(int(seconds * rate) * 2), sample_rate=rate)


def test_everything_is_first_audio_work_until_the_first_sentence_and_its_audio() -> None:
    pacing = Pacing(FakeClock(100.0))
    assert pacing.llm.priority is Priority.FIRST_AUDIO
    assert pacing.tts() is Priority.FIRST_AUDIO
    pacing.first_sentence()  # no audio yet: nothing ahead of the listener
    assert pacing.llm.priority is Priority.INTERACTIVE
    assert pacing.tts() is Priority.FIRST_AUDIO


def test_the_rest_waits_while_enough_audio_is_ahead_of_playback() -> None:
    clock = FakeClock(100.0)
    pacing = Pacing(clock)
    pacing.first_sentence()
    pacing.audio(seconds_of_audio(LEAD_SECONDS + 1))
    assert pacing.lead() == LEAD_SECONDS + 1
    assert pacing.llm.priority is Priority.BACKGROUND
    assert pacing.tts() is Priority.BACKGROUND
    clock.now += 2  # two seconds played: the lead is short again
    assert pacing.tts() is Priority.INTERACTIVE
    pacing.audio(seconds_of_audio(0.1))
    assert pacing.llm.priority is Priority.INTERACTIVE


def test_llm_keeps_first_audio_priority_until_its_first_sentence() -> None:
    pacing = Pacing(FakeClock(100.0))
    pacing.audio(seconds_of_audio(10))  # e.g. a recorded draft's audio, before the sentence
    assert pacing.llm.priority is Priority.FIRST_AUDIO
    pacing.first_sentence()
    assert pacing.llm.priority is Priority.BACKGROUND


def test_a_draft_nobody_hears_yet_does_not_run_dry_until_it_plays() -> None:
    clock = FakeClock(100.0)
    pacing = Pacing(clock, heard=False)  # a speculative draft, recorded until adopted
    pacing.first_sentence()
    pacing.audio(seconds_of_audio(DRY_SECONDS + 0.5))
    clock.now += 5.0  # the turn has not ended: nothing of it has played
    assert pacing.lead() == pytest.approx(DRY_SECONDS + 0.5)
    assert pacing.llm.priority is Priority.INTERACTIVE
    pacing.play()  # adopted: it plays from now on
    clock.now += 0.6
    assert pacing.lead() == pytest.approx(DRY_SECONDS - 0.1)
    assert pacing.llm.priority is Priority.FIRST_AUDIO


def test_a_draft_adopted_before_its_first_audio_plays_from_that_audio() -> None:
    clock = FakeClock(100.0)
    pacing = Pacing(clock, heard=False)
    pacing.play()
    clock.now += 1.0  # its first audio comes a second after the adoption
    pacing.audio(seconds_of_audio(2.0))
    assert pacing.lead() == pytest.approx(2.0)
    clock.now += 0.5
    assert pacing.lead() == pytest.approx(1.5)


def test_a_reply_about_to_run_dry_is_first_audio_work_again_as_time_passes() -> None:
    clock = FakeClock(100.0)
    pacing = Pacing(clock)
    pacing.first_sentence()
    pacing.audio(seconds_of_audio(DRY_SECONDS + 1.0))  # the first chunk, ready and playing
    assert pacing.llm.priority is Priority.INTERACTIVE
    assert pacing.tts() is Priority.INTERACTIVE
    clock.now += 1.1  # it has played on; no new audio, no call: the priority is read live
    assert pacing.lead() < DRY_SECONDS
    assert pacing.llm.priority is Priority.FIRST_AUDIO
    assert pacing.tts() is Priority.FIRST_AUDIO
    pacing.audio(seconds_of_audio(1.0))  # the next chunk came in time
    assert pacing.llm.priority is Priority.INTERACTIVE


def test_a_live_priority_cannot_be_set_by_hand() -> None:
    pacing = Pacing(FakeClock(100.0))
    with pytest.raises(TypeError, match="live"):
        pacing.llm.priority = Priority.BACKGROUND  # it would be ignored
    assert pacing.llm.priority is Priority.FIRST_AUDIO

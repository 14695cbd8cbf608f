"""semantic_vad with an end-of-turn model: thresholds, windows, stale answers, fallback.

The model is faked by answering the session's `CheckTurnEnd` commands with a chosen
probability; the real Smart Turn model is tested in tests/backends/local/test_smart_turn.py.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from realtime2.protocol import commands as cmd
from realtime2.protocol.turn_detection import (
    SEMANTIC_WINDOWS_MS,
    TURN_THRESHOLDS,
    UNFINISHED_WORDS,
    TurnDetector,
    VadParams,
    completeness,
)
from realtime2.protocol.turn_end import TURN_AUDIO_MS
from tests.support.fakes import b64, silence, tone
from tests.support.harness import Harness

FRAME_MS = 32.0
DONE = "Can you book me a table for two?"

# --- the detector's arithmetic ------------------------------------------------------------


def _window(eagerness: str, score: float | None, words: str | None = DONE) -> float:
    detector = TurnDetector(VadParams(eagerness=eagerness))  # type: ignore[arg-type]
    if score is not None:
        detector.set_turn_score(score)
    if words is not None:
        detector.set_completeness(completeness(words))
    return detector.required_silence_ms()


@pytest.mark.parametrize("eagerness", ["low", "medium", "auto", "high"])
def test_a_finished_turn_ends_after_the_shortest_window(eagerness: str) -> None:
    shortest, longest = SEMANTIC_WINDOWS_MS[eagerness]
    threshold = TURN_THRESHOLDS[eagerness]
    assert _window(eagerness, threshold) == shortest
    assert _window(eagerness, 0.99) == shortest
    # Finished, says the model; the words are not in yet (they may still veto it): the
    # surer the model, the shorter the wait, never longer than knowing nothing.
    knowing_nothing = shortest + 0.5 * (longest - shortest)
    assert shortest < _window(eagerness, 0.97, None) < _window(eagerness, 0.8, None)
    assert _window(eagerness, threshold, None) <= knowing_nothing
    # Below the threshold the wait grows as the probability falls, up to the longest.
    below = _window(eagerness, threshold - 0.05)
    assert shortest < below < _window(eagerness, threshold / 2) < _window(eagerness, 0.0)
    assert _window(eagerness, 0.0) == longest


def test_eagerness_orders_thresholds_and_windows() -> None:
    assert TURN_THRESHOLDS["high"] < TURN_THRESHOLDS["medium"] < TURN_THRESHOLDS["low"]
    assert TURN_THRESHOLDS["auto"] == TURN_THRESHOLDS["medium"]
    # One probability, three eagernesses: the more eager, the sooner the turn ends.
    p = 0.4
    assert _window("high", p) == 250  # 0.4 clears high's threshold
    assert 250 < _window("medium", p) < _window("low", p)


def test_high_eagerness_ends_a_clearly_finished_question_after_250_ms() -> None:
    assert _window("high", 0.97, "What time is it?") == 250


def test_unfinished_words_overrule_a_model_that_heard_a_finished_turn() -> None:
    assert _window("high", 0.9, "I would like to book a table for two and") > 1000
    assert _window("high", 0.9, "So, um,") > 1000
    # A period is no veto: whisper puts one at a mid-sentence pause too.
    assert _window("high", 0.9, "Book a table.") == 250


def test_without_a_model_the_words_decide_as_before() -> None:
    assert _window("high", None, "What time is it?") == 250
    assert _window("high", None, "Book a table for two and") > 1500
    assert _window("medium", None, None) == 500 + 0.5 * (4000 - 500)  # nothing known yet


def test_talking_again_forgets_the_score_of_the_pause() -> None:
    detector = TurnDetector(VadParams(eagerness="high"))
    for i in range(5):
        detector.feed(0.9, FRAME_MS, (i + 1) * FRAME_MS)
    assert detector.speaking
    detector.feed(0.0, FRAME_MS, 6 * FRAME_MS)
    detector.set_turn_score(0.95)
    detector.set_completeness(completeness(DONE))
    assert detector.required_silence_ms() == 250
    detector.feed(0.9, FRAME_MS, 7 * FRAME_MS)  # speech again: a new pause needs a new check
    assert detector.required_silence_ms() > 1000


# --- the session: checks out, answers in ---------------------------------------------------


def _semantic(eagerness: str = "high", *, turn_model: bool = True) -> Harness:
    h = Harness(turn_model=turn_model)
    h.send(
        {
            "type": "session.update",
            "session": {
                "type": "realtime",
                "audio": {
                    "input": {"turn_detection": {"type": "semantic_vad", "eagerness": eagerness}}
                },
            },
        }
    )
    return h


def _silence_until_stop(
    h: Harness, answer: Callable[[cmd.CheckTurnEnd], None], words: str | None = DONE
) -> int | None:
    """Silence in 20 ms appends until speech_stopped; the ms of silence it took (None: 3 s
    went by). Each CheckTurnEnd is answered as it comes, each partial transcript with
    `words` (at the 200 ms probe: this harness drafts nothing)."""
    for step in range(150):
        h.send({"type": "input_audio_buffer.append", "audio": b64(silence(20))})
        for check in h.take(cmd.CheckTurnEnd):
            answer(check)
        for partial in h.take(cmd.TranscribePartial):
            if words is not None:
                h.session.on_partial_transcript(partial.item_id, words)
        h.drain()
        if h.of("input_audio_buffer.speech_stopped"):
            return (step + 1) * 20
    return None


def test_a_pause_asks_the_model_with_the_turn_audio() -> None:
    h = _semantic()
    h.send({"type": "input_audio_buffer.append", "audio": b64(tone(900))})
    assert not h.take(cmd.CheckTurnEnd)  # no pause yet
    for _ in range(8):  # 160 ms of silence: two quiet VAD frames make a pause
        h.send({"type": "input_audio_buffer.append", "audio": b64(silence(20))})
    (check,) = h.take(cmd.CheckTurnEnd)
    assert check.sample_rate == 16000
    seconds = check.audio.size / check.sample_rate
    assert 0.9 <= seconds <= 0.9 + 0.3 + 0.16  # the turn, its prefix padding, the pause so far
    assert check.item_id == h.of("input_audio_buffer.speech_started")[-1]["item_id"]


def test_long_turns_send_only_the_last_8_seconds() -> None:
    h = _semantic()
    h.send({"type": "input_audio_buffer.append", "audio": b64(tone(11_000))})
    for _ in range(8):
        h.send({"type": "input_audio_buffer.append", "audio": b64(silence(20))})
    (check,) = h.take(cmd.CheckTurnEnd)
    assert check.audio.size == TURN_AUDIO_MS * 16


def test_a_finished_turn_ends_after_250_ms_with_high_eagerness() -> None:
    h = _semantic("high")
    h.send({"type": "input_audio_buffer.append", "audio": b64(tone(900))})
    took = _silence_until_stop(
        h, lambda c: h.session.on_turn_end_score(c.item_id, c.check_id, 0.93), "Book a table."
    )
    # A period alone would wait 425 ms (whisper ends mid-sentence pauses with one too).
    assert took is not None and 250 <= took <= 250 + 2 * FRAME_MS


def test_words_that_trail_off_veto_the_model() -> None:
    h = _semantic("high")
    h.send({"type": "input_audio_buffer.append", "audio": b64(tone(900))})
    took = _silence_until_stop(
        h, lambda c: h.session.on_turn_end_score(c.item_id, c.check_id, 0.93), "Book a table and"
    )
    assert took is None or took > 1000


def test_no_cut_at_a_mid_sentence_pause_the_model_calls_unfinished() -> None:
    h = _semantic("high")
    checks: list[cmd.CheckTurnEnd] = []
    h.send({"type": "input_audio_buffer.append", "audio": b64(tone(900))})
    # A 450 ms pause inside a sentence: the model says "not finished".
    for _ in range(450 // 20):
        h.send({"type": "input_audio_buffer.append", "audio": b64(silence(20))})
        for check in h.take(cmd.CheckTurnEnd):
            checks.append(check)
            h.session.on_turn_end_score(check.item_id, check.check_id, 0.05)
        h.drain()
    # Asked when the voice faded, and (unfinished, it said) again at the pause.
    assert len(checks) == 2
    assert not h.of("input_audio_buffer.speech_stopped")
    # The user goes on and finishes; the second pause is checked afresh.
    h.send({"type": "input_audio_buffer.append", "audio": b64(tone(700))})
    took = _silence_until_stop(h, lambda c: h.session.on_turn_end_score(c.item_id, c.check_id, 0.9))
    assert took is not None and took <= 250 + 2 * FRAME_MS
    assert len(h.of("input_audio_buffer.committed")) == 1  # one turn, not cut in two


def _paused() -> tuple[Harness, cmd.CheckTurnEnd]:
    """A semantic_vad high session 160 ms into a pause after 0.9 s of voice, and its check."""
    h = _semantic("high")
    h.send({"type": "input_audio_buffer.append", "audio": b64(tone(900))})
    for _ in range(8):
        h.send({"type": "input_audio_buffer.append", "audio": b64(silence(20))})
    (check,) = h.take(cmd.CheckTurnEnd)
    return h, check


def test_a_stale_answer_is_dropped() -> None:
    h, first = _paused()
    h.send({"type": "input_audio_buffer.append", "audio": b64(tone(500))})  # talked on
    # The old pause's answer arrives late: it must not end the new pause early.
    h.session.on_turn_end_score(first.item_id, first.check_id, 0.99)
    # The new check is never answered: the words alone decide (a period: 425 ms).
    took = _silence_until_stop(h, lambda c: None, "Book a table.")
    assert took is not None and took >= 425


def test_a_check_is_called_off_when_its_pause_is_over() -> None:
    h, first = _paused()
    assert h.take(cmd.CancelTurnCheck) == []
    h.send({"type": "input_audio_buffer.append", "audio": b64(tone(500))})  # talked on
    assert h.take(cmd.CancelTurnCheck) == [cmd.CancelTurnCheck(first.item_id, first.check_id)]
    # An answered check has nothing to call off when its turn ends.
    took = _silence_until_stop(h, lambda c: h.session.on_turn_end_score(c.item_id, c.check_id, 0.9))
    assert took is not None and h.take(cmd.CancelTurnCheck) == []


def test_a_failed_check_leaves_the_words_to_decide() -> None:
    h = _semantic("high")
    h.send({"type": "input_audio_buffer.append", "audio": b64(tone(900))})

    took = _silence_until_stop(
        h, lambda c: h.session.on_turn_end_failed(c.item_id, c.check_id), "What time is it?"
    )
    assert took is not None and took <= 250 + 2 * FRAME_MS


def test_without_a_model_no_check_is_asked_and_words_decide() -> None:
    h = _semantic("high", turn_model=False)
    h.send({"type": "input_audio_buffer.append", "audio": b64(tone(900))})
    took = _silence_until_stop(h, lambda c: None, "Can you book me a table?")
    assert not h.take(cmd.CheckTurnEnd)
    assert took is not None and took <= PROBE_AND_WINDOW_MS


PROBE_AND_WINDOW_MS = 200 + 250 + 2 * int(FRAME_MS)  # the words come at the 200 ms probe


def test_server_vad_never_asks_the_model() -> None:
    h = Harness(turn_model=True)
    h.send(
        {
            "type": "session.update",
            "session": {
                "type": "realtime",
                "audio": {"input": {"turn_detection": {"type": "server_vad"}}},
            },
        }
    )
    h.send({"type": "input_audio_buffer.append", "audio": b64(tone(900))})
    h.send({"type": "input_audio_buffer.append", "audio": b64(silence(800))})
    assert h.of("input_audio_buffer.speech_stopped")
    assert not h.take(cmd.CheckTurnEnd)


@pytest.mark.parametrize(
    "words",
    [
        "To execute an echo test.",
        "Like a normal PBX.",
        "If the console is busy or unavailable.",
        "In order for this test to work.",
        "Thanks. If you are using a console channel driver instead of a real phone.",
    ],
)
def test_an_opening_clause_without_its_main_clause_is_unfinished(words: str) -> None:
    # Low enough to overrule an end-of-turn model that heard a finished sentence.
    assert completeness(words) <= UNFINISHED_WORDS


@pytest.mark.parametrize(
    "words",
    [
        "If it rains, we stay home.",
        "When does the store open?",
        "To be honest, I liked the film.",
        "Book a table for two.",
        "Before we start, what time is it?",
    ],
)
def test_a_whole_sentence_or_a_question_stays_finished(words: str) -> None:
    assert completeness(words) >= 0.9

"""Early drafts: the turn's draft starts where the voice fades, and its pause confirms it.

The detector's `VoiceFading` comes from probabilities fed by hand; the session's commands
from a fake energy VAD (a tone is 0.95, silence 0.02: every tone that stops fades first).
"""

from __future__ import annotations

from realtime2.protocol import commands as cmd
from realtime2.protocol.turn_detection import (
    FADING,
    SEMANTIC_WINDOWS_MS,
    PauseStarted,
    SpeechResumed,
    SpeechStarted,
    TurnDetector,
    TurnSignal,
    VadParams,
    VoiceFading,
)
from tests.protocol.test_drafts import _append, _transcribing
from tests.protocol.test_turn_end import _semantic
from tests.support.fakes import silence, tone

FRAME_MS = 32.0


def _kinds(probabilities: list[float]) -> list[str]:
    detector = TurnDetector(VadParams())
    signals: list[TurnSignal] = []
    for i, p in enumerate(probabilities):
        signals += detector.feed(p, FRAME_MS, (i + 1) * FRAME_MS)
    return [type(s).__name__ for s in signals]


def test_a_steady_voice_that_falls_fades_before_the_pause() -> None:
    kinds = _kinds([0.95] * 5 + [0.6, 0.1, 0.05, 0.02])
    assert kinds == [
        SpeechStarted.__name__,
        VoiceFading.__name__,
        PauseStarted.__name__,
    ]


def test_a_voice_that_comes_back_up_resumes_and_may_fade_again() -> None:
    kinds = _kinds([0.95] * 5 + [0.7, 0.95, 0.95, 0.5, 0.0, 0.0])
    assert kinds == [
        SpeechStarted.__name__,
        VoiceFading.__name__,
        SpeechResumed.__name__,  # back up to FADING: the fade was not a pause
        VoiceFading.__name__,
        PauseStarted.__name__,
    ]


def test_only_a_voice_that_reached_fading_can_fade() -> None:
    # A soft voice (never at FADING) and the rise of a turn do not fade; the pause comes.
    soft = [FADING - 0.1] * 6 + [0.0, 0.0]
    assert _kinds(soft) == [SpeechStarted.__name__, PauseStarted.__name__]


def test_a_pause_that_ends_resumes_once_and_needs_a_steady_voice_to_fade_again() -> None:
    kinds = _kinds([0.95] * 5 + [0.0, 0.0, 0.95, 0.5, 0.95, 0.0])
    assert kinds == [
        SpeechStarted.__name__,
        VoiceFading.__name__,
        PauseStarted.__name__,
        SpeechResumed.__name__,  # once, although the voice is back at FADING
        VoiceFading.__name__,
        SpeechResumed.__name__,
        VoiceFading.__name__,
    ]


def test_the_pause_confirms_the_early_draft_with_the_audio_up_to_it() -> None:
    h = _transcribing()
    _append(h, silence(200), tone(600), silence(70))
    (early,) = h.take(cmd.PrepareDraft)
    assert early.early and early.reply is not None
    assert h.take(cmd.ConfirmDraft) == []  # no pause yet
    _append(h, silence(40))
    (confirm,) = h.take(cmd.ConfirmDraft)
    assert confirm.draft_id == early.draft_id
    assert len(confirm.audio) > len(early.audio)  # the audio up to the pause
    assert h.take(cmd.PrepareDraft) == []  # the pause made no second draft
    # Only the confirmed transcript reaches the item, and the turn names the draft.
    h.session.on_draft_transcript(early.draft_id, "What time is it?")
    _append(h, silence(500))
    assert h.take(cmd.TranscribeTurn) == []
    (start,) = h.take(cmd.StartResponse)
    assert start.draft_id == early.draft_id
    assert start.request == cmd.draft_request(early.reply.history, "What time is it?")
    completed = h.of("conversation.item.input_audio_transcription.completed")[0]
    assert completed["transcript"] == "What time is it?"


def test_a_session_that_would_not_answer_drafts_at_the_pause_only() -> None:
    h = _transcribing()
    h.send(
        {
            "type": "session.update",
            "session": {
                "type": "realtime",
                "audio": {
                    "input": {"turn_detection": {"type": "server_vad", "create_response": False}}
                },
            },
        }
    )
    _append(h, silence(200), tone(600), silence(70))
    assert h.take(cmd.PrepareDraft) == []  # a transcript gains nothing from a guess
    _append(h, silence(40))
    (draft,) = h.take(cmd.PrepareDraft)
    assert not draft.early and draft.reply is None
    assert h.take(cmd.ConfirmDraft) == []


def test_talking_on_after_the_pause_discards_the_confirmed_early_draft() -> None:
    h = _transcribing()
    _append(h, silence(200), tone(400), silence(150))
    (early,) = h.take(cmd.PrepareDraft)
    (confirm,) = h.take(cmd.ConfirmDraft)
    _append(h, tone(300))
    assert h.take(cmd.DiscardDraft) == [cmd.DiscardDraft(early.draft_id)]
    h.session.on_draft_transcript(confirm.draft_id, "stale words")
    _append(h, silence(600))
    # The second pause drafted again, and the turn waits for that draft's words only.
    drafts = h.take(cmd.PrepareDraft)
    assert len(drafts) == 1 and drafts[0].draft_id != early.draft_id
    h.session.on_draft_transcript(drafts[0].draft_id, "all of it")
    h.drain()
    completed = h.of("conversation.item.input_audio_transcription.completed")[0]
    assert completed["transcript"] == "all of it"


def test_an_estimate_made_at_the_fade_holds_for_its_pause_until_the_voice_comes_back() -> None:
    detector = TurnDetector(VadParams(eagerness="high"))
    at = 0.0

    def feed(*probabilities: float) -> None:
        nonlocal at
        for p in probabilities:
            at += FRAME_MS
            detector.feed(p, FRAME_MS, at)

    feed(*[0.95] * 5, 0.6)  # the fade: the session asks the end-of-turn model now
    detector.set_turn_score(0.99)
    detector.set_completeness(0.95)
    feed(0.5, 0.4)  # still fading, not yet silent: the answer stands
    assert detector.required_silence_ms() == SEMANTIC_WINDOWS_MS["high"][0]
    feed(0.95)  # the voice came back up: it was no pause
    assert detector.required_silence_ms() > SEMANTIC_WINDOWS_MS["high"][0]


def test_semantic_vad_asks_the_turn_model_once_at_a_fade_that_sounds_finished() -> None:
    h = _semantic("high")
    _append(h, silence(200), tone(600), silence(70))
    (check,) = h.take(cmd.CheckTurnEnd)  # at the fade, before the pause
    h.session.on_turn_end_score(check.item_id, check.check_id, 0.99)
    stopped_after = None
    for step in range(100):
        _append(h, silence(20))
        for partial in h.take(cmd.TranscribePartial):
            h.session.on_partial_transcript(partial.item_id, "Can you book me a table?")
        h.drain()
        if h.of("input_audio_buffer.speech_stopped"):
            stopped_after = 70 + (step + 1) * 20
            break
    assert h.take(cmd.CheckTurnEnd) == []  # the pause kept the fade's check
    # The shortest window (250 ms) from the first quiet frame, give or take the VAD's lag.
    assert stopped_after is not None and stopped_after <= SEMANTIC_WINDOWS_MS["high"][0] + 100


def test_a_fade_that_sounds_unfinished_is_asked_again_at_its_pause() -> None:
    h = _semantic("high")
    _append(h, silence(200), tone(600), silence(70))
    (fade,) = h.take(cmd.CheckTurnEnd)
    _append(h, silence(40))  # the pause: the fade's check is still out
    assert h.take(cmd.CheckTurnEnd) == []
    h.session.on_turn_end_score(fade.item_id, fade.check_id, 0.1)
    h.drain()
    (pause,) = h.take(cmd.CheckTurnEnd)  # the pause's own audio, asked once the fade's said no
    assert pause.check_id > fade.check_id and len(pause.audio) > len(fade.audio)


def test_a_fade_check_declined_on_a_busy_machine_is_asked_at_the_pause() -> None:
    h = _semantic("high")
    _append(h, silence(200), tone(600), silence(70))
    (fade,) = h.take(cmd.CheckTurnEnd)
    assert fade.at_fade
    h.session.on_turn_end_failed(fade.item_id, fade.check_id)  # the runner declined it
    h.drain()
    assert h.take(cmd.CheckTurnEnd) == []  # no pause yet
    _append(h, silence(40))
    (pause,) = h.take(cmd.CheckTurnEnd)
    assert not pause.at_fade and len(pause.audio) > len(fade.audio)

"""The early pause: a frame's level starts a pause before Silero's silence does.

Drives `TurnDetector` with chosen probabilities and levels, 32 ms frames, as Silero and the
input buffer give them (`InputAudio` passes each frame's RMS level).
"""

from __future__ import annotations

import numpy as np

from realtime2.engine.interfaces import FloatAudio
from realtime2.protocol import commands as cmd
from realtime2.protocol.turn_detection import (
    DRAFT_AFTER_MS,
    EARLY_PAUSE_AFTER_MS,
    EARLY_PAUSE_DB,
    EARLY_PAUSE_PROBABILITY,
    PauseConfirmed,
    PauseStarted,
    SpeechResumed,
    SpeechStarted,
    SpeechStopped,
    TurnDetector,
    TurnSignal,
    VadParams,
)
from tests.support.fakes import b64, silence, tone
from tests.support.harness import Harness

FRAME_MS = 32.0
VOICE_DB = -20.0
QUIET_DB = VOICE_DB - EARLY_PAUSE_DB - 10.0
FADING = EARLY_PAUSE_PROBABILITY - 0.1  # Silero on its way down, not yet under 0.35


class Feed:
    def __init__(self, *, levels: bool = True) -> None:
        self.detector = TurnDetector(VadParams())
        self.levels = levels
        self.ms = 0.0
        self.log: list[tuple[float, TurnSignal]] = []

    def frames(self, count: int, probability: float, level_db: float) -> list[TurnSignal]:
        out: list[TurnSignal] = []
        for _ in range(count):
            self.ms += FRAME_MS
            level = level_db if self.levels else None
            signals = self.detector.feed(probability, FRAME_MS, self.ms, level)
            self.log.extend((self.ms, s) for s in signals)
            out.extend(signals)
        return out

    def speak(self, ms: float = 480.0) -> None:
        self.frames(int(ms // FRAME_MS), 0.97, VOICE_DB)


def _kinds(signals: list[TurnSignal]) -> list[type]:
    return [type(s) for s in signals]


def test_a_quiet_fading_frame_starts_the_pause_before_silero_is_silent() -> None:
    feed = Feed()
    feed.speak()
    assert any(isinstance(s, SpeechStarted) for _, s in feed.log)
    voice_end = feed.ms
    signals = feed.frames(1, FADING, QUIET_DB)
    assert signals == [PauseStarted(int(voice_end), early=True)]
    # Silero's silence follows: it confirms the pause (no second one), and the turn ends
    # after the usual window, counted from Silero's silence, as without levels.
    assert feed.frames(2, 0.5, QUIET_DB) == []
    silent_from = feed.ms
    rest = feed.frames(20, 0.05, QUIET_DB)
    assert rest[0] == PauseConfirmed(int(voice_end))
    confirmed = next(ms for ms, s in feed.log if isinstance(s, PauseConfirmed))
    assert confirmed - silent_from >= DRAFT_AFTER_MS
    assert _kinds(rest) == [PauseConfirmed, SpeechStopped]
    stopped = next(ms for ms, s in feed.log if isinstance(s, SpeechStopped))
    assert stopped - silent_from >= 500


def test_without_levels_the_pause_starts_in_silero_silence() -> None:
    feed = Feed(levels=False)
    feed.speak()
    assert feed.frames(3, FADING, QUIET_DB) == []  # still speech to Silero
    silent_from = feed.ms
    signals = feed.frames(2, 0.05, QUIET_DB)
    assert signals == [PauseStarted(int(silent_from), early=False)]
    assert feed.ms - silent_from >= DRAFT_AFTER_MS


def test_voice_coming_back_resumes_an_early_pause() -> None:
    feed = Feed()
    feed.speak()
    assert _kinds(feed.frames(1, FADING, QUIET_DB)) == [PauseStarted]
    assert feed.frames(1, FADING, QUIET_DB) == []  # still quiet: still paused
    assert _kinds(feed.frames(1, FADING, VOICE_DB)) == [SpeechResumed]  # loud again
    feed.speak(320.0)
    assert _kinds(feed.frames(1, FADING, QUIET_DB)) == [PauseStarted]
    assert _kinds(feed.frames(1, 0.95, QUIET_DB)) == [SpeechResumed]  # Silero sure again


def test_a_confident_or_loud_frame_is_no_pause() -> None:
    feed = Feed()
    feed.speak()
    assert feed.frames(3, 0.95, QUIET_DB) == []  # quiet, but Silero hears speech
    assert feed.frames(3, FADING, VOICE_DB - EARLY_PAUSE_DB + 5) == []  # a soft consonant


def test_no_early_pause_before_the_voice_level_is_known() -> None:
    feed = Feed()
    feed.speak(EARLY_PAUSE_AFTER_MS - 2 * FRAME_MS)
    assert feed.frames(1, FADING, QUIET_DB) == []


def test_silero_silence_after_an_early_pause_then_speech_resumes_once() -> None:
    feed = Feed()
    feed.speak()
    feed.frames(1, FADING, QUIET_DB)
    assert _kinds(feed.frames(3, 0.05, QUIET_DB)) == [PauseConfirmed]
    assert _kinds(feed.frames(1, 0.9, VOICE_DB)) == [SpeechResumed]
    assert feed.frames(3, 0.97, VOICE_DB) == []


# --- the session: an early pause is drafted, and checked once Silero confirms it ---------


def _fading_vad(frame: FloatAudio) -> float:
    """Like the harness's energy VAD, but a faint frame is Silero on its way down."""
    rms = float(np.sqrt(np.mean(np.square(frame))))
    return 0.95 if rms > 0.02 else FADING if rms > 0.0005 else 0.02


def _semantic_session() -> Harness:
    h = Harness(turn_model=True, speculative=True)
    h.vad.speech_probability = _fading_vad  # type: ignore[method-assign]
    h.send(
        {
            "type": "session.update",
            "session": {
                "type": "realtime",
                "audio": {
                    "input": {"turn_detection": {"type": "semantic_vad", "eagerness": "high"}}
                },
            },
        }
    )
    return h


def _append(h: Harness, audio: FloatAudio) -> None:
    for start in range(0, audio.size, 480):  # 20 ms appends at 24 kHz
        h.send({"type": "input_audio_buffer.append", "audio": b64(audio[start : start + 480])})


def test_the_session_drafts_an_early_pause_and_checks_it_once_confirmed() -> None:
    h = _semantic_session()
    _append(h, tone(900))
    assert not h.take(cmd.PrepareDraft)
    _append(h, tone(160, amplitude=0.004))  # the voice fades: ~35 dB under it
    (draft,) = h.take(cmd.PrepareDraft)
    assert not h.take(cmd.CheckTurnEnd)  # a gap between words, as far as anyone knows
    assert draft.audio.size / 16000 >= 0.9
    _append(h, silence(160))  # Silero's silence: the pause is confirmed
    (check,) = h.take(cmd.CheckTurnEnd)
    assert check.item_id == h.of("input_audio_buffer.speech_started")[-1]["item_id"]
    assert not h.take(cmd.PrepareDraft)  # the early pause's draft goes on


def test_the_session_drops_an_early_pause_draft_when_the_voice_comes_back() -> None:
    h = _semantic_session()
    _append(h, tone(900))
    _append(h, tone(160, amplitude=0.004))
    (draft,) = h.take(cmd.PrepareDraft)
    _append(h, tone(200))
    (discard,) = h.take(cmd.DiscardDraft)
    assert discard.draft_id == draft.draft_id
    assert not h.take(cmd.CheckTurnEnd)


def test_no_early_pause_when_the_session_says_no_core_is_spare() -> None:
    asked: list[bool] = []

    def busy() -> bool:
        asked.append(True)
        return False

    feed = Feed()
    feed.detector = TurnDetector(VadParams(), early_pauses=busy)
    feed.speak()
    assert not asked  # only asked at a would-be early pause
    assert feed.frames(2, FADING, QUIET_DB) == []
    assert asked
    silent_from = feed.ms
    assert feed.frames(2, 0.05, QUIET_DB) == [PauseStarted(int(silent_from), early=False)]

"""Turn detection from VAD probabilities: `server_vad` and `semantic_vad`.

Pure state machine over audio time (milliseconds of input audio, not wall-clock), so a
test can drive it with any probability sequence. Hysteresis as in Silero's own iterator:
speech starts at `threshold` and only counts as silence below `threshold - 0.15`.

`semantic_vad` ends a turn after a silence window that depends on how finished the turn
sounds. With an end-of-turn model (`engine.interfaces.TurnModel`, Smart Turn) the session
asks it at the start of each pause and `set_turn_score` gives its probability: below the
eagerness's threshold the window grows towards the longest as the probability falls; at or
above it the turn ends after the shortest window (250 ms for "high") once the words agree,
and before they come after a window that shrinks as the model grows surer. The words
(`set_completeness`, from the draft's or a partial transcript) are a second opinion that
can only lengthen the wait: a turn ending on "and", "the" or a comma is not finished,
whatever the model heard. Waiting for them costs little, since the reply cannot start
before the transcript it answers. Without a model the words decide alone: the session
asks for a partial transcript once the user pauses (`SilenceProbe`).

Both modes also report the *start* of a pause (`PauseStarted`, a couple of frames into the
silence) and a pause that ends in more speech (`SpeechResumed`). The session uses them to
draft the reply speculatively while the silence window runs, and to throw the draft away
when the user keeps talking. Before that, `VoiceFading` reports the first frame of a steady
voice falling under `FADING`: most pauses begin so, ~0.13 s before `PauseStarted` (median
on the shipped human speech), so the draft can begin there on a guess that the pause then
confirms. A voice that comes back up to `FADING` without a pause is `SpeechResumed` too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

Eagerness = Literal["low", "medium", "high", "auto"]

MIN_SPEECH_MS: Final = 60  # shorter bursts (clicks, pops) do not start a turn
HYSTERESIS: Final = 0.15
PROBE_AFTER_MS: Final = 200  # pause length after which semantic VAD asks for a transcript
# Pause length that starts a speculative draft. Two 32 ms Silero frames: one quiet frame is
# common inside a word (stops, plosives), and a wasted draft costs a whisper run (~0.4 s
# of CPU); every millisecond waited here is a millisecond less of head start.
DRAFT_AFTER_MS: Final = 60
# Speech probability under which a steady voice is fading: Silero stays above it inside
# words, and at the end of a phrase takes ~0.1 s more to fall through `threshold - 0.15`.
# On the shipped human speech (tests/support/speech_data) 281 fades came with 71 pauses;
# 21 of 24 turns' transcripts up to the fade had the words of those up to the pause.
FADING: Final = 0.9
# (shortest, longest) silence window per eagerness; the longest match OpenAI's documented
# maximum timeouts (8 s, 4 s, 2 s).
SEMANTIC_WINDOWS_MS: Final[dict[str, tuple[int, int]]] = {
    "high": (250, 2000),
    "medium": (500, 4000),
    "auto": (500, 4000),
    "low": (1000, 8000),
}
UNKNOWN_COMPLETENESS: Final = 0.5
# At or above this the words are a finished question (`completeness` gives "?" 0.95): the
# turn ends after the eagerness's shortest window (250 ms for "high"), not the linear
# interpolation (337 ms). A final "." scores 0.9 and keeps the interpolated window (425 ms
# for "high"): whisper also ends a sentence paused in the middle with a period, and the
# read passage in tests/support/speech_data pauses up to ~0.4 s inside sentences.
FINISHED: Final = 0.95
# End-of-turn model probability at or above which a pause ends the turn after the shortest
# window, per eagerness (Smart Turn's own cut is 0.5). Chosen on the shipped human speech
# (tests/support/speech_data), see docs/engine.md "Turn detection".
TURN_THRESHOLDS: Final[dict[str, float]] = {
    "high": 0.3,
    "medium": 0.5,
    "auto": 0.5,
    "low": 0.7,
}
# Words this unfinished (a trailing "and", "the", a comma: `completeness` ≤ 0.15) overrule a
# model that heard a finished turn.
UNFINISHED_WORDS: Final = 0.2


@dataclass(frozen=True)
class SpeechStarted:
    start_ms: int  # where speech began (padding not included)


@dataclass(frozen=True)
class SilenceProbe:
    """Semantic VAD: the user paused; a completeness estimate would help now."""


@dataclass(frozen=True)
class PauseStarted:
    """The user went quiet long enough to draft a reply; the turn may still go on."""

    end_ms: int  # end of the voiced audio so far


@dataclass(frozen=True)
class VoiceFading:
    """A steady voice fell under `FADING`: perhaps the start of a pause, perhaps not."""


@dataclass(frozen=True)
class SpeechResumed:
    """The user spoke again after a `PauseStarted` (or the voice came back up after a
    `VoiceFading`): the pause was not the end of the turn."""


@dataclass(frozen=True)
class SpeechStopped:
    end_ms: int  # end of the audio that belongs to the turn (trailing silence included)


TurnSignal = (
    SpeechStarted | SilenceProbe | VoiceFading | PauseStarted | SpeechResumed | SpeechStopped
)


@dataclass
class VadParams:
    threshold: float = 0.5
    silence_duration_ms: int = 500
    eagerness: Eagerness | None = None  # set for semantic_vad


class TurnDetector:
    def __init__(self, params: VadParams) -> None:
        self.params = params
        self.probability = 0.0  # the last frame's speech probability
        self.speaking = False
        self._speech_run_ms = 0.0
        self._run_start_ms = 0.0
        self._silence_ms = 0.0
        self._probed = False
        self._paused = False  # PauseStarted was reported for the current pause
        # The voice's course since it last rose: "rising" (not yet at `FADING`), "steady"
        # (reached it), "fading" (`VoiceFading` reported, the voice has not come back up).
        self._voice = "rising"
        self._completeness = UNKNOWN_COMPLETENESS
        self._turn_score: float | None = None  # the end-of-turn model's, for this pause
        self._words_known = False  # `set_completeness` was told about this pause

    def reset(self) -> None:
        self.speaking = False
        self._speech_run_ms = 0.0
        self._silence_ms = 0.0
        self._probed = False
        self._paused = False
        self._voice = "rising"
        self._fresh_pause()

    def _fresh_pause(self) -> None:
        """A new pause (or none yet): what was said about the last one no longer holds."""
        self._completeness = UNKNOWN_COMPLETENESS
        self._turn_score = None
        self._words_known = False

    def required_silence_ms(self) -> float:
        if self.params.eagerness is None:
            return float(self.params.silence_duration_ms)
        shortest, longest = SEMANTIC_WINDOWS_MS[self.params.eagerness]
        words = self._completeness
        if self._turn_score is not None:
            threshold = TURN_THRESHOLDS[self.params.eagerness]
            score = self._turn_score
            if self._words_known and words <= UNFINISHED_WORDS:
                score = min(score, words)
            if score < threshold:
                return shortest + (1.0 - score / threshold) * (longest - shortest)
            if self._words_known:
                return float(shortest)
            # "Finished", says the model, but the words may still veto it (a trailing "and"):
            # until they come (a busy CPU transcribes slowly) the surer the model, the
            # shorter the wait, and never longer than knowing nothing at all.
            by_model = shortest + (1.0 - score) * (longest - shortest)
            return min(by_model, shortest + (1.0 - UNKNOWN_COMPLETENESS) * (longest - shortest))
        if words >= FINISHED:
            return float(shortest)
        return shortest + (1.0 - words) * (longest - shortest)

    def set_completeness(self, score: float) -> None:
        """How finished the words of the turn so far look (`completeness`)."""
        self._completeness = min(1.0, max(0.0, score))
        self._words_known = True

    def set_turn_score(self, probability: float) -> None:
        """The end-of-turn model's probability that the turn is complete, for this pause."""
        self._turn_score = min(1.0, max(0.0, probability))

    def feed(self, probability: float, frame_ms: float, frame_end_ms: float) -> list[TurnSignal]:
        """One VAD frame of `frame_ms` ending at `frame_end_ms` of session audio."""
        self.probability = probability
        threshold = self.params.threshold
        if not self.speaking:
            if probability >= threshold:
                if self._speech_run_ms == 0.0:
                    self._run_start_ms = frame_end_ms - frame_ms
                self._speech_run_ms += frame_ms
                if self._speech_run_ms >= MIN_SPEECH_MS:
                    self.speaking = True
                    self._silence_ms = 0.0
                    self._probed = False
                    self._paused = False
                    self._voice = "rising"
                    self._fresh_pause()
                    return [SpeechStarted(int(self._run_start_ms))]
            else:
                self._speech_run_ms = 0.0
            return []
        signals: list[TurnSignal] = []
        if probability >= FADING:
            if self._voice == "fading" and not self._paused:
                signals.append(SpeechResumed())  # it only faded: back to full voice
            self._voice = "steady"
        elif self._voice == "steady" and not self._paused:
            self._voice = "fading"
            signals.append(VoiceFading())
        if probability >= threshold - HYSTERESIS:
            # Talking again: a new pause needs a fresh estimate. A fading voice is not
            # talking again: what was said of the fade (asked then) holds for its pause.
            fading = self._voice == "fading" and not self._paused
            if self._paused:
                signals.append(SpeechResumed())
                # A new fade needs the voice steady first.
                self._voice = "steady" if probability >= FADING else "rising"
            self._silence_ms = 0.0
            self._probed = False
            self._paused = False
            if not fading:
                self._fresh_pause()
            return signals
        self._silence_ms += frame_ms
        if not self._paused and self._silence_ms >= DRAFT_AFTER_MS:
            self._paused = True
            signals.append(PauseStarted(int(frame_end_ms - self._silence_ms)))
        if (
            self.params.eagerness is not None
            and not self._probed
            and self._silence_ms >= PROBE_AFTER_MS
        ):
            self._probed = True
            signals.append(SilenceProbe())
        if self._silence_ms >= self.required_silence_ms():
            self.speaking = False
            self._speech_run_ms = 0.0
            self._paused = False
            signals.append(SpeechStopped(int(frame_end_ms)))
        return signals


# --- how finished does a partial transcript sound? ------------------------------------

_TRAILING_WORDS: Final = frozenset(
    {
        "um",
        "uh",
        "uhm",
        "erm",
        "er",
        "hmm",
        "mm",
        "like",
        "and",
        "but",
        "or",
        "so",
        "because",
        "cause",
        "the",
        "a",
        "an",
        "to",
        "of",
        "with",
        "for",
        "in",
        "on",
        "at",
        "if",
        "then",
        "that",
        "which",
        "who",
        "my",
        "your",
        "our",
        "their",
        "is",
        "are",
        "was",
        "were",
        "i",
        "we",
        "you",
        "he",
        "she",
        "it",
        "about",
        "from",
        "than",
        "as",
        "well",
    }
)
_WORD = re.compile(r"[a-z']+")
# A sentence that opens with a subordinate or infinitive clause ("If the console is busy",
# "To execute an echo test", "Like a normal PBX") is unfinished until its main clause comes,
# which nearly always follows a comma; whisper ends such a fragment with a period all the
# same, and Smart Turn hears the falling pitch of a finished sentence (p 0.8-0.97 at such
# pauses in tests/support/speech_data). A question ("When does it open?") is not caught: "?"
# is checked first.
_OPENERS: Final = frozenset(
    {
        "if",
        "when",
        "whenever",
        "while",
        "although",
        "though",
        "because",
        "since",
        "unless",
        "until",
        "after",
        "before",
        "once",
        "like",
        "to",
    }
)
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+")


def _opens_without_main_clause(text: str) -> bool:
    """The last sentence opens with a subordinate clause and has no comma yet."""
    sentence = _SENTENCE_BREAK.split(text)[-1]
    words = _WORD.findall(sentence.lower())
    if not words or "," in sentence:
        return False
    return words[0] in _OPENERS or words[:2] == ["in", "order"]


def completeness(text: str) -> float:
    """0 (clearly unfinished) … 1 (a complete thought), from the words heard so far."""
    stripped = text.strip()
    if not stripped:
        return UNKNOWN_COMPLETENESS
    if stripped.endswith(("...", "…", ",", "-", "—", ";", ":")):
        return 0.15
    if stripped.endswith(("?", "!")):
        return 0.95  # before the word check: "What time is it?" is finished
    words = _WORD.findall(stripped.lower())
    last = words[-1] if words else ""
    if last in _TRAILING_WORDS:
        return 0.1
    if _opens_without_main_clause(stripped):
        return 0.15
    if stripped.endswith("."):
        # Very short utterances ("Okay.") are often the start of something longer.
        return 0.9 if len(words) >= 3 else 0.7
    return 0.55

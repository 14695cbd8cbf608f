"""Live transcription: a turn's words sent as deltas while the user is still speaking.

While a turn is spoken, the session asks for a hypothesis of the turn so far every
`interval_ms` of new audio (a `TranscribePartial` with `live=True`, background work for the
CPU gate) and commits the words the last `agree` hypotheses agree on (local agreement, as
whisper_streaming does: the longest common prefix of successive hypotheses). Each
hypothesis is decoded *after* the committed words (`prefix`: the STT continues the
committed text, it never rewrites it), and so is the final transcript of the turn, which
is why deltas only ever append and `completed` is their concatenation.

Whisper sees at most 30 s, so a long turn is cut into chunks at pauses: when the user
pauses after `CHUNK_CLOSE_MS` of a chunk, the chunk's transcript up to the pause (the
speculative draft's, when there is one, else a closing request) is committed whole, and
the next chunk starts at the pause with the text so far as its prompt. Later requests
and the final pass transcribe only the open chunk.

At most one live request per turn is outstanding: under load each answer comes later, so
there are fewer, later partials, never a growing queue. `delay` (the SDK's
`audio.input.transcription.delay`) trades latency for stability: how much new audio
between hypotheses, and how many must agree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final, Literal

Delay = Literal["minimal", "low", "medium", "high", "xhigh"]


@dataclass(frozen=True)
class LiveProfile:
    interval_ms: int  # new audio between two hypotheses
    agree: int  # hypotheses that must agree on a word before it is sent


PROFILES: Final[dict[str, LiveProfile]] = {
    "minimal": LiveProfile(500, 2),
    "low": LiveProfile(750, 2),
    "medium": LiveProfile(1000, 2),
    "high": LiveProfile(1500, 2),
    "xhigh": LiveProfile(2000, 3),
}
DEFAULT_DELAY: Final = "medium"
CHUNK_CLOSE_MS: Final = 8000  # a pause after this much of a chunk closes it
CHUNK_MAX_MS: Final = 20000  # no pause came: close the chunk where the audio is
PROMPT_CHARS: Final = 200  # text of closed chunks given to the STT as context
MIN_AUDIO_MS: Final = 300  # no hypothesis of less
# How long a due hypothesis waits while the voice is fading (under `FADING`): longer than
# a pause takes to be noticed, short enough for a soft speaker's words to keep coming (see
# `LiveTurn.due`).
FADING_WAIT_MS: Final = 400

_STRIP = re.compile(r"[^\w']+")


def profile(delay: str | None) -> LiveProfile:
    return PROFILES[delay or DEFAULT_DELAY]


def _key(word: str) -> str:
    return _STRIP.sub("", word.lower())


def join(head: str, tail: str) -> str:
    """Two pieces of transcript as one text (a space between them when both have words)."""
    head, tail = head.strip(), tail.strip()
    return f"{head} {tail}" if head and tail else head or tail


def continuation(sent: str, text: str) -> str:
    """What `text` adds after the already sent `sent`, such that `sent + result` is the
    transcript: `text`'s own rest when it starts with `sent`, else its words after as
    many words as `sent` has (a decoder that did not keep the prefix exactly)."""
    if text.startswith(sent):
        return text[len(sent) :]
    words = text.split()[len(sent.split()) :]
    rest = " ".join(words)
    return (" " + rest if sent else rest) if rest else ""


class LocalAgreement:
    """Commits the words the last `agree` hypotheses agree on (case and punctuation aside)."""

    def __init__(self, agree: int) -> None:
        self.agree = max(1, agree)
        self.committed: list[str] = []
        self._history: list[list[str]] = []

    def feed(self, hypothesis: list[str]) -> list[str]:
        """A hypothesis of the whole chunk (committed words first); the newly committed words."""
        self._history = [*self._history, hypothesis][-self.agree :]
        if len(self._history) < self.agree:
            return []
        agreed = 0
        for words in zip(*self._history, strict=False):
            if len({_key(w) for w in words}) != 1:
                break
            agreed += 1
        if agreed <= len(self.committed):
            return []
        new = hypothesis[len(self.committed) : agreed]
        self.committed.extend(new)
        return new


@dataclass(frozen=True)
class LiveRequest:
    id: int
    chunk: int  # which chunk it transcribes
    end_ms: int  # audio end it covers
    close: bool  # commit its whole text and start a new chunk at `end_ms`


@dataclass
class LiveTurn:
    """The live transcript of one turn (item) while it is spoken."""

    item_id: str
    chunk_start_ms: int
    profile: LiveProfile
    head: str = ""  # text of the closed chunks (all sent)
    chunk: int = 0
    last_end_ms: int = 0  # audio end of the last hypothesis asked for
    outstanding: LiveRequest | None = None
    close_at: int | None = None  # close the chunk at this pause
    heard: str = ""  # the turn's words by the latest hypothesis (agreed or not)
    agreement: LocalAgreement = field(init=False)
    _ids: int = 0

    def __post_init__(self) -> None:
        self.agreement = LocalAgreement(self.profile.agree)
        self.last_end_ms = self.chunk_start_ms

    @property
    def prefix(self) -> str:
        """The open chunk's committed words: every decode of the chunk continues them."""
        return " ".join(self.agreement.committed)

    @property
    def sent(self) -> str:
        return join(self.head, self.prefix)

    def context(self, prompt: str | None) -> str | None:
        """The STT prompt for the open chunk: the client's, then the text so far."""
        return join(prompt or "", self.head[-PROMPT_CHARS:]) or None

    def due(self, now_ms: int, *, fading: bool = False) -> bool:
        """A hypothesis should be asked for now. `fading`: the voice is fading (the last VAD
        frame's speech probability is under `FADING`), and a hypothesis then waits up to
        `FADING_WAIT_MS`: it would likely still run when the pause is noticed (~0.15 s
        later), beside the draft's transcript of the same audio, which then took up to twice
        as long (two whisper runs share the CPU's cache)."""
        waited = now_ms - self.last_end_ms - self.profile.interval_ms
        return (
            self.outstanding is None
            and waited >= 0
            and now_ms - self.chunk_start_ms >= MIN_AUDIO_MS
            and (not fading or waited >= FADING_WAIT_MS)
        )

    def request(self, end_ms: int) -> LiveRequest:
        self._ids += 1
        close = self.close_at is not None or end_ms - self.chunk_start_ms >= CHUNK_MAX_MS
        if self.close_at is not None:
            end_ms = self.close_at
        self.outstanding = LiveRequest(self._ids, self.chunk, end_ms, close)
        self.last_end_ms = end_ms
        return self.outstanding

    def answered(self, request_id: int) -> LiveRequest | None:
        """The outstanding request if `request_id` names it (then it is no longer out)."""
        request = self.outstanding
        if request is None or request.id != request_id:
            return None
        self.outstanding = None
        return request if request.chunk == self.chunk else None

    def hypothesis(self, chunk_text: str) -> str:
        """A hypothesis of the open chunk; returns the delta to send (may be empty)."""
        before = self.sent
        self.agreement.feed(chunk_text.split())
        self.heard = join(self.head, chunk_text)
        return self.sent[len(before) :]

    def close(self, chunk_text: str, end_ms: int) -> str:
        """The open chunk's final text up to `end_ms`; returns the delta to send."""
        before = self.sent
        text = join(self.head, self.prefix + continuation(self.prefix, chunk_text))
        self.head = text
        self.chunk += 1
        self.chunk_start_ms = max(self.chunk_start_ms, end_ms)
        self.last_end_ms = self.chunk_start_ms
        self.close_at = None
        self.agreement = LocalAgreement(self.profile.agree)
        self.heard = text
        return text[len(before) :]

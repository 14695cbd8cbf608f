"""How urgent the rest of a spoken reply is: what a listener waits for goes first.

A `Pace` tells the speaking path (`engine.speaking`) which priority its LLM stream and each
sentence's synthesis run at, and hears of its progress (the first sentence, each chunk of
audio). `Pacing` is the pace of a reply someone is listening to as it streams; `Steady`
keeps fixed priorities, for a reply returned whole (the pipeline) or one that is first-audio
work throughout (a translated phrase).

Pacing: until a reply's first audio exists, all of its work (the LLM up to the first sentence, that
sentence's synthesis) is first-audio work. After that, the reply only has to stay ahead of
playback, which runs in real time while synthesis runs ~5x faster: once `LEAD_SECONDS` of
audio are ready beyond what the listener has heard, the rest of the reply drops to
background priority, so another session's first audio overtakes it; when the lead runs
short, it is interactive again. When it is about to run out (`DRY_SECONDS`), the reply is
first-audio work again: a reply that stops mid-sentence is heard like one that starts late.
A speculative draft's audio is not heard until the session adopts the draft (`play`): till
then none of it has played, so its lead is all it has voiced.
The LLM's priority is read live (`Urgency(live=...)`), since the lead shrinks with time
alone. Sans-I/O: the caller reports audio and reads priorities.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from realtime2.engine.interfaces import AudioChunk, Priority, Urgency

# Audio ready ahead of the listener beyond which the rest of a reply can wait.
LEAD_SECONDS = 3.0
# Audio ready ahead of the listener under which the rest of a reply is first-audio work:
# the next chunk takes a few LLM tokens and its synthesis (~0.3 s on two Zen 4 cores), after
# another session's step in progress (a prompt's catch-up: up to ~0.3 s). The first chunk,
# two or three words, is ~0.5 s of audio: without this, 5–14 of 96 replies of four
# sessions on human speech had a gap, with it 3–5; with 0.4 s, 9 (Zen 4, bench/README.md
# "Replies that run dry").
DRY_SECONDS = 0.6


class Pace(Protocol):
    llm: Urgency  # handed to the LLM stream; its owner keeps it current

    def first_sentence(self) -> None:
        """The LLM has produced the reply's first complete sentence."""
        ...

    def audio(self, chunk: AudioChunk) -> None:
        """A chunk of the reply's audio is ready."""
        ...

    def tts(self) -> Priority:
        """Priority for synthesising the next sentence."""
        ...


class Pacing:
    """The pace of a reply heard as it streams: from its first chunk, or (`heard=False`, a
    speculative draft recorded until the session adopts it) from `play()` on."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, *, heard: bool = True) -> None:
        self._clock = clock
        # Handed to the LLM stream, which reads it between tokens on its worker thread;
        # the fields it reads are each replaced by a single assignment on the event loop.
        self.llm = Urgency(Priority.FIRST_AUDIO, live=self._llm_priority)
        self._heard = heard
        self._has_audio = False
        self._playing_since: float | None = None  # when the listener began to hear it
        self._audio_seconds = 0.0
        self._first_sentence_out = False

    def lead(self) -> float:
        """Seconds of audio ready beyond what the listener has heard (all of it, while
        nobody hears it yet)."""
        if self._playing_since is None:
            return self._audio_seconds
        return self._audio_seconds - (self._clock() - self._playing_since)

    def play(self) -> None:
        """The listener hears the reply from now on (a draft adopted): its audio so far
        plays from this moment, what comes later as it comes."""
        self._heard = True
        if self._has_audio and self._playing_since is None:
            self._playing_since = self._clock()

    def first_sentence(self) -> None:
        """The LLM has produced the first sentence: its rest is no longer first-audio work."""
        self._first_sentence_out = True

    def audio(self, chunk: AudioChunk) -> None:
        self._has_audio = True
        if self._heard and self._playing_since is None:
            self._playing_since = self._clock()
        self._audio_seconds += len(chunk.pcm) / 2 / chunk.sample_rate

    def tts(self) -> Priority:
        """Priority for synthesising the next sentence."""
        if not self._has_audio:
            return Priority.FIRST_AUDIO
        return self._later()

    def _llm_priority(self) -> Priority:
        return self._later() if self._first_sentence_out else Priority.FIRST_AUDIO

    def _later(self) -> Priority:
        if not self._has_audio:
            # The first sentence is out, its audio not yet: its synthesis goes first (and
            # may take the LLM's core for a second thread: `CpuGate.claim`).
            return Priority.INTERACTIVE
        lead = self.lead()
        if lead < DRY_SECONDS:
            return Priority.FIRST_AUDIO
        return Priority.BACKGROUND if lead >= LEAD_SECONDS else Priority.INTERACTIVE


class Steady:
    """Fixed priorities: the LLM at `llm`; synthesis at first-audio priority until the first
    audio, then at `later`."""

    def __init__(self, *, llm: Priority, later: Priority) -> None:
        self.llm = Urgency(llm)
        self._later = later
        self._heard = False

    def first_sentence(self) -> None:
        pass

    def audio(self, chunk: AudioChunk) -> None:
        self._heard = True

    def tts(self) -> Priority:
        return self._later if self._heard else Priority.FIRST_AUDIO

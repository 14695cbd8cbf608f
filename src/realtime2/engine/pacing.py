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
short, it is interactive again. Sans-I/O: the caller reports audio and reads priorities.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from realtime2.engine.interfaces import AudioChunk, Priority, Urgency

# Audio ready ahead of the listener beyond which the rest of a reply can wait.
LEAD_SECONDS = 3.0


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
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.llm = Urgency(Priority.FIRST_AUDIO)  # handed to the LLM stream; kept current
        self._first_audio_at: float | None = None
        self._audio_seconds = 0.0
        self._first_sentence_out = False

    def lead(self) -> float:
        """Seconds of audio ready beyond what has played since the first chunk."""
        if self._first_audio_at is None:
            return 0.0
        return self._audio_seconds - (self._clock() - self._first_audio_at)

    def first_sentence(self) -> None:
        """The LLM has produced the first sentence: its rest is no longer first-audio work."""
        self._first_sentence_out = True
        self._update()

    def audio(self, chunk: AudioChunk) -> None:
        if self._first_audio_at is None:
            self._first_audio_at = self._clock()
        self._audio_seconds += len(chunk.pcm) / 2 / chunk.sample_rate
        self._update()

    def tts(self) -> Priority:
        """Priority for synthesising the next sentence."""
        if self._first_audio_at is None:
            return Priority.FIRST_AUDIO
        return self._later()

    def _later(self) -> Priority:
        return Priority.BACKGROUND if self.lead() >= LEAD_SECONDS else Priority.INTERACTIVE

    def _update(self) -> None:
        if self._first_sentence_out:
            self.llm.priority = self._later()


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

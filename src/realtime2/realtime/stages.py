"""Where one spoken turn's time went: the stage timings of every answered turn.

A turn's reply is worked out by one draft (started when the user pauses) or one response
(started at `speech_stopped`). Each gets a `WorkClock`, set as the job observer
(`engine.scheduler.JOB_OBSERVER`) of its tasks, so every model job it submits reports when
it was queued, started and ended: the first STT job is the draft's transcript, the first LLM
job's end the first LLM text, the first TTS job's queueing the first sentence sent to the
TTS. A draft records its reply in a `TimedDraftOut`, which also notes when its first
sentence and its first audio chunk were ready. The `StageTracker` watches the session's
events for `speech_stopped` and the first reply audio handed to the transport, and pairs the
turn with the clock of the draft it adopted (or of its response).

`TurnStages.breakdown()` gives each stage in seconds relative to `speech_stopped` (negative:
done inside the silence window, before the turn was confirmed), plus the time jobs waited
for a CPU core or their model (`gate_wait_s`) and each model's busy time up to first audio.
All times are `time.perf_counter()`.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from realtime2.engine.interfaces import AudioChunk
from realtime2.realtime.drafts import DraftOut


@dataclass
class WorkClock:
    """The model jobs of one draft or response, as they happen (written from worker threads:
    each field is set once, by a single assignment)."""

    started: float = field(default_factory=time.perf_counter)  # the draft/response began
    paused: float | None = None  # an early draft's pause came (it began at the fade)
    first_job: float | None = None  # the first model job started running
    stt_done: float | None = None
    first_llm: float | None = None  # first LLM slice done: the first text exists
    first_sentence: float | None = None  # first sentence (or clause) sent to the TTS
    first_tts: float | None = None  # first chunk of reply audio ready (drafts only)
    jobs: list[tuple[str, float, float, float]] = field(default_factory=list)
    closed: bool = False  # the turn's first audio was sent: later jobs are not kept

    def observe(
        self, model: str, priority: int, queued: float, started: float, ended: float
    ) -> None:
        del priority
        if self.closed:
            return
        self.jobs.append((model, queued, started, ended))
        if self.first_job is None:
            self.first_job = started
        if model == "stt" and self.stt_done is None:
            self.stt_done = ended
        elif model == "llm" and self.first_llm is None:
            self.first_llm = ended
        elif model.startswith("tts") and self.first_sentence is None:
            self.first_sentence = queued  # a response's first sentence reached the TTS

    def until(self, end: float) -> tuple[float, dict[str, float]]:
        """Time jobs waited (queue + CPU gate) and each model's busy time, before `end`."""
        waited = 0.0
        busy: dict[str, float] = {}
        for model, queued, started, ended in list(self.jobs):
            if started >= end:
                continue
            if queued:
                waited += started - queued
            key = "tts" if model.startswith("tts") else model
            busy[key] = busy.get(key, 0.0) + min(ended, end) - started
        return waited, busy


class TimedDraftOut(DraftOut):
    """A draft's recording that also stamps its clock with the first sentence and audio."""

    def __init__(self, clock: WorkClock) -> None:
        super().__init__()
        self.clock = clock

    def sentence(self, text: str) -> None:
        self.clock.first_sentence = self.clock.first_sentence or time.perf_counter()
        super().sentence(text)

    def audio(self, chunk: AudioChunk) -> None:
        self.clock.first_tts = self.clock.first_tts or time.perf_counter()
        super().audio(chunk)


@dataclass
class TurnStages:
    """One answered turn: when each stage happened (perf_counter seconds)."""

    speech_stopped: float
    first_audio: float
    path: str  # "draft" (a speculative draft adopted) or "plain"
    work: WorkClock | None

    def breakdown(self) -> dict[str, Any]:
        """Stages in seconds from `speech_stopped` (negative: inside the silence window)."""
        stop = self.speech_stopped

        def rel(at: float | None) -> float | None:
            return None if at is None else round(at - stop, 4)

        w = self.work
        waited, busy = w.until(self.first_audio) if w is not None else (0.0, {})
        return {
            "path": self.path,
            "pause_detected": (
                rel(w.paused or w.started) if w is not None and self.path == "draft" else None
            ),
            "work_started": rel(w.started) if w is not None else None,
            "first_job_started": rel(w.first_job) if w is not None else None,
            "stt_done": rel(w.stt_done) if w is not None else None,
            "first_llm_text": rel(w.first_llm) if w is not None else None,
            "first_sentence": rel(w.first_sentence) if w is not None else None,
            "first_tts_chunk": rel(w.first_tts) if w is not None else None,
            "first_audio_sent": rel(self.first_audio),
            "gate_wait_s": round(waited, 4),
            "busy_s": {k: round(v, 4) for k, v in busy.items()},
        }


class StageTracker:
    """Pairs each turn (speech_stopped → first reply audio) with the work that answered it."""

    KEEP = 256  # the latest turns kept (a 60-minute session has ~200)

    def __init__(self, on_turn: Callable[[TurnStages], None] | None = None) -> None:
        self.turns: deque[TurnStages] = deque(maxlen=self.KEEP)
        self._on_turn = on_turn
        self._clocks: dict[str, WorkClock] = {}  # by draft or response id
        self._stopped: float | None = None
        self._work: WorkClock | None = None
        self._path = "plain"

    def clock(self, key: str) -> WorkClock:
        """A new clock for the draft or response `key` (kept until claimed or `drop`)."""
        clock = self._clocks[key] = WorkClock()
        while len(self._clocks) > 16:  # never claimed (cancelled drafts): forget the oldest
            self._clocks.pop(next(iter(self._clocks)))
        return clock

    def drop(self, key: str) -> None:
        self._clocks.pop(key, None)

    def paused(self, draft_id: str) -> None:
        """The early draft `draft_id`'s pause came."""
        clock = self._clocks.get(draft_id)
        if clock is not None:
            clock.paused = time.perf_counter()

    def again(self, draft_id: str) -> WorkClock:
        """The draft's reply starts again on its transcript, just done: a new clock for it
        (the old one's reply stages were the dropped reply's), keeping when the work began."""
        old = self._clocks.get(draft_id) or WorkClock()
        clock = self._clocks[draft_id] = WorkClock(
            started=old.started, paused=old.paused, first_job=old.first_job
        )
        clock.stt_done = time.perf_counter()
        return clock

    def adopted(self, draft_id: str) -> None:
        self._claim(draft_id, "draft")

    def responding(self, response_id: str) -> None:
        self._claim(response_id, "plain")

    def _claim(self, key: str, path: str) -> None:
        clock = self._clocks.pop(key, None)
        if self._stopped is not None and self._work is None and clock is not None:
            self._work, self._path = clock, path

    def events(self, events: Iterable[dict[str, Any]]) -> None:
        for event in events:
            kind = event.get("type")
            if kind == "input_audio_buffer.speech_stopped":
                self._stopped, self._work, self._path = time.perf_counter(), None, "plain"
            elif kind == "input_audio_buffer.speech_started":
                self._stopped, self._work = None, None
            elif self._stopped is not None and kind in (
                "response.output_audio.delta",
                "output_audio_buffer.started",
            ):
                turn = TurnStages(self._stopped, time.perf_counter(), self._path, self._work)
                if self._work is not None:
                    self._work.closed = True  # a long reply's later jobs are not kept
                self._stopped, self._work = None, None
                self.turns.append(turn)
                if self._on_turn is not None:
                    self._on_turn(turn)

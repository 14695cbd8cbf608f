"""`SessionRunner`: one `RealtimeSession` driven by real engines, for any transport.

Transport adapters use five calls and one stream:

    runner = SessionRunner(engines, model="gpt-realtime", kind="realtime", audio_out="events")
    runner.start()                              # session.created is queued
    await runner.feed_text(message)             # each client text message
    await runner.feed_audio(pcm16, rate)        # WebRTC: decoded track audio
    async for event in runner.events(): ...     # dicts to json.dumps; ends when closed
    async for frame in runner.audio_out(): ...  # media_track only: PlayAudio(pcm16, rate)
    await runner.close()                        # client gone: cancels all engine work

A WebSocket adapter is two tasks: one reads frames into `feed_text`, one writes `events()`
to the socket; when either ends it calls `close()`. `runner.closed` (an `asyncio.Event`)
is set when the session ends by itself (60-minute expiry), so the adapter can close the
socket. A WebRTC adapter (`audio_out="media_track"`) feeds the inbound track into
`feed_audio`, plays `audio_out()`, and carries `feed_text`/`events()` over the
`oai-events` data channel.

Back-pressure: engine output waits while more than `max_queued_events` events are unsent,
so a slow client slows synthesis instead of growing memory; client input waits likewise.

Speculative drafts (`PrepareDraft`) run here too, in `realtime.draft_runner`: the session asks
for one when the user pauses, and names it in the `StartResponse` of that turn.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import asdict, replace
from typing import Any, Final, Protocol, TypeVar

from realtime2.engine.capabilities import UnsupportedRequestError
from realtime2.engine.interfaces import (
    ContextLengthExceededError,
    Engines,
    EngineUnavailableError,
    Priority,
)
from realtime2.engine.scheduler import JOB_OBSERVER
from realtime2.observability import metrics
from realtime2.observability.tracing import SessionTracer
from realtime2.protocol import commands as cmd
from realtime2.protocol.limits import ConversationLimits
from realtime2.protocol.live_transcription import join
from realtime2.protocol.session import AudioOut, RealtimeSession, TurnTiming
from realtime2.protocol.session_config import SessionType
from realtime2.realtime.draft_runner import DraftRunner
from realtime2.realtime.mcp.client import McpClient
from realtime2.realtime.mcp.run import McpRunner
from realtime2.realtime.mcp.settings import McpSettings
from realtime2.realtime.prompt_warming import PromptWarmer
from realtime2.realtime.respond import LiveOut, run_response
from realtime2.realtime.stages import StageTracker, TurnStages, WorkClock
from realtime2.realtime.stt_input import transcribe
from realtime2.realtime.turn_checks import TurnChecks

log = logging.getLogger(__name__)

DEFAULT_MAX_QUEUED: Final = 512
MAX_TIMER_SLEEP: Final = 0.25

T = TypeVar("T")


class RateLimits(Protocol):
    """The caller's limits (`rate_limits.updated`), kept by the layer that knows them."""

    def current(self) -> list[dict[str, Any]]:
        """The limits now, cheaply (called before every input the session gets)."""
        ...

    async def refresh(self) -> None:
        """Re-read what `current` cannot know alone (the account's balance)."""
        ...


class SessionRunner:
    def __init__(
        self,
        engines: Engines,
        *,
        model: str | None = None,
        kind: SessionType = "realtime",
        audio_out: AudioOut = "events",
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        max_queued_events: int = DEFAULT_MAX_QUEUED,
        max_session_seconds: float | None = None,
        speculative: bool = True,
        limits: ConversationLimits | None = None,
        rate_limits: RateLimits | None = None,
        mcp: McpClient | None = None,
    ) -> None:
        """`mcp`: the MCP client of `type: "mcp"` tools (default: the operator's
        `REALTIME2_MCP_*` settings, `realtime.mcp.settings`)."""
        self.engines = engines
        self._rate_limits = rate_limits
        vad = engines.vad
        extra: dict[str, Any] = {}
        if max_session_seconds is not None:
            extra["max_session_seconds"] = max_session_seconds
        self.session = RealtimeSession(
            vad=vad.new_stream(),
            vad_rate=vad.capabilities.sample_rate,
            vad_frame_samples=vad.capabilities.frame_samples,
            clock=clock,
            wall_clock=wall_clock,
            model=model,
            kind=kind,
            audio_out=audio_out,
            speculative=speculative,
            limits=replace(limits or ConversationLimits(), images=engines.llm.capabilities.vision),
            token_cap=engines.llm.capabilities.max_output_tokens,
            live_transcription=engines.stt.capabilities.streaming,
            turn_model=engines.turn is not None,
            **extra,
        )
        self.closed = asyncio.Event()
        self._max_queued = max_queued_events
        self._out: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._audio: asyncio.Queue[cmd.PlayAudio | None] = asyncio.Queue()
        self._space = asyncio.Event()
        self._space.set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._responses: dict[str, asyncio.Task[None]] = {}
        self.live_hypotheses = 0  # live transcription hypotheses decoded
        # Where each answered turn's time went (realtime.stages), also as metrics.
        self.stages = StageTracker(on_turn=self._turn_done)
        self.drafts = DraftRunner(
            engines,
            self.session,
            self.stages,
            spawn=self._spawn,
            flush=self._flush,
            pump=self._pump,
            responses=self._responses,
        )
        # The session's `tracing`: OpenTelemetry spans per session and turn.
        self.tracing = SessionTracer(self.session.id, str(self.session.settings.data.get("model")))
        self._partial: asyncio.Task[None] | None = None
        self._timer: asyncio.Task[None] | None = None
        self._ended = False
        self._logprobs_refused = False  # said once per session (see `_transcribe`)
        self.prompts = PromptWarmer(engines.llm, self._spawn)
        self.mcp = McpRunner(self.session, mcp or McpSettings().client(), self._spawn, self._flush)
        # semantic_vad's end-of-turn checks, on the engines' turn model (None: words only).
        self.turn_checks = (
            TurnChecks(engines.turn, self.session, self._spawn, self._flush)
            if engines.turn is not None
            else None
        )

    @property
    def turn_timings(self) -> list[TurnTiming]:
        return self.session.turn_timings

    @property
    def turn_stages(self) -> list[TurnStages]:
        return list(self.stages.turns)

    # For tests and benchmarks: drafts started, and how many of them a turn used.
    @property
    def drafts_prepared(self) -> int:
        return self.drafts.prepared

    @property
    def drafts_adopted(self) -> int:
        return self.drafts.adopted

    @property
    def drafts_audio_ready(self) -> int:
        """Adopted with audio already synthesised."""
        return self.drafts.audio_ready

    # --- transport API -----------------------------------------------------------------

    def start(self) -> None:
        self._flush()
        if self._rate_limits is not None:
            self._spawn(self._refresh_rate_limits())
        self._timer = asyncio.get_running_loop().create_task(self._run_timer())

    async def feed_text(self, text: str | bytes) -> None:
        await self._wait_for_space()
        self._current_rate_limits()
        self.session.receive_text(text)
        self._flush()

    async def feed_audio(self, pcm: bytes, sample_rate: int) -> None:
        await self._wait_for_space()
        self._current_rate_limits()
        self.session.receive_audio(pcm, sample_rate)
        self._flush()

    def tick(self) -> None:
        self._current_rate_limits()
        self.session.tick()
        self._flush()

    def _current_rate_limits(self) -> None:
        """Any response this input creates reports the limits as they are now."""
        if self._rate_limits is not None:
            self.session.set_rate_limits(self._rate_limits.current())

    async def _refresh_rate_limits(self) -> None:
        assert self._rate_limits is not None
        try:
            await self._rate_limits.refresh()
        except Exception:  # a report is not worth a session: keep the last known
            log.warning("rate limits refresh failed in session %s", self.session.id)
        self._current_rate_limits()

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        while (item := await self._out.get()) is not None:
            if self._out.qsize() <= self._max_queued:
                self._space.set()
            yield item

    async def audio_out(self) -> AsyncIterator[cmd.PlayAudio]:
        while (frame := await self._audio.get()) is not None:
            yield frame

    async def close(self) -> None:
        """Stop everything now; safe to call more than once and from any task."""
        self.session.close()
        self._flush()
        await self._stop_tasks()
        self.tracing.close()

    def _turn_done(self, turn: TurnStages) -> None:
        metrics.turn_stages(turn)
        self.tracing.turn(self.session.settings.data.get("tracing"), turn)

    # --- plumbing ------------------------------------------------------------------------

    async def _wait_for_space(self) -> None:
        while self._out.qsize() > self._max_queued and not self._ended:
            self._space.clear()
            await self._space.wait()

    async def _pump(self) -> None:
        self._flush()
        await self._wait_for_space()

    def _flush(self) -> None:
        """Queue the session's events and execute its commands (never blocks).

        Loops because executing a command can feed the session synchronously (adopting a
        draft replays its recorded output), which makes new events.
        """
        while True:
            events, commands = self.session.events_to_send(), self.session.commands()
            if self._ended or not (events or commands):
                return
            for event in events:
                self._out.put_nowait(event)
                if event["type"] == "response.done" and self._rate_limits is not None:
                    self._spawn(self._refresh_rate_limits())  # credits used by it
            self.stages.events(events)
            self.tracing.events(events)
            for command in commands:
                self._execute(command)

    def _execute(self, command: cmd.Command) -> None:
        if isinstance(command, cmd.TranscribeTurn):
            self._spawn(self._transcribe(command))
        elif isinstance(command, cmd.TranscribePartial) and command.live:
            self._spawn(self._transcribe_live(command))  # the session keeps one per turn
        elif isinstance(command, cmd.TranscribePartial):
            if self._partial is not None:
                self._partial.cancel()
            self._partial = self._spawn(self._transcribe_partial(command))
        elif isinstance(command, cmd.CheckTurnEnd):
            if self.turn_checks is not None:
                self.turn_checks.submit(command)
        elif isinstance(command, cmd.CancelTurnCheck):
            if self.turn_checks is not None:
                self.turn_checks.cancel(command.check_id)
        elif isinstance(command, cmd.StartResponse):
            if not self.drafts.adopt(command):
                clock = self.stages.clock(command.response_id)
                self.stages.responding(command.response_id)
                self._responses[command.response_id] = self._spawn(self._respond(command), clock)
        elif isinstance(command, cmd.PrepareDraft):
            self.drafts.prepare(command)
        elif isinstance(command, cmd.ConfirmDraft):
            self.drafts.confirm(command)
        elif isinstance(command, cmd.DiscardDraft):
            self.drafts.discard(command)
        elif isinstance(command, cmd.CancelResponse):
            task = self._responses.pop(command.response_id, None)
            if task is not None:
                task.cancel()
            self.mcp.cancel(command.response_id)
        elif isinstance(command, cmd.ListMcpTools | cmd.CallMcpTool):
            self.mcp.execute(command)
        elif isinstance(command, cmd.PlayAudio):
            self._audio.put_nowait(command)
        elif isinstance(command, cmd.ClearAudio):
            self._drop_audio(command.response_id)
        elif isinstance(command, cmd.WarmPrompt):
            self.prompts.warm(command)
        elif isinstance(command, cmd.CloseSession):
            self._end(command.reason)

    def _spawn(
        self, coro: Coroutine[Any, Any, T], clock: WorkClock | None = None
    ) -> asyncio.Task[T]:
        """Run `coro` as a task of this session; with `clock`, its model jobs report to it."""
        context = contextvars.copy_context()  # never the draft's clock of a caller
        context.run(JOB_OBSERVER.set, clock.observe if clock is not None else None)
        task = asyncio.get_running_loop().create_task(coro, context=context)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _drop_audio(self, response_id: str) -> None:
        kept = []
        while not self._audio.empty():
            frame = self._audio.get_nowait()
            if frame is not None and frame.response_id != response_id:
                kept.append(frame)
        for frame in kept:
            self._audio.put_nowait(frame)

    def _end(self, reason: str) -> None:
        if self._ended:
            return
        self._ended = True
        log.info("realtime session %s ended (%s)", self.session.id, reason)
        self._out.put_nowait(None)
        self._audio.put_nowait(None)
        self._space.set()
        self.closed.set()
        current = asyncio.current_task()
        for task in [*self._tasks, self._timer]:
            if task is not None and task is not current:
                task.cancel()

    async def _stop_tasks(self) -> None:
        tasks = [t for t in [*self._tasks, self._timer] if t is not None]
        current = asyncio.current_task()
        tasks = [t for t in tasks if t is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run_timer(self) -> None:
        while not self._ended:
            deadline = self.session.next_deadline()
            wait = MAX_TIMER_SLEEP if deadline is None else deadline - self.session.clock()
            await asyncio.sleep(min(MAX_TIMER_SLEEP, max(0.0, wait)))
            self.tick()

    # --- engine work -----------------------------------------------------------------------

    async def _transcribe(self, c: cmd.TranscribeTurn) -> None:
        if self.tracing.enabled:  # this task's own context: its STT job joins the turn's trace
            JOB_OBSERVER.set(self.tracing.observe)
        stt = self.engines.stt
        # An STT without logprobs is never asked (its transcribe may not take the flag); the
        # client hears once that its `include` gets no log-probabilities here.
        extra: dict[str, Any] = (
            {"logprobs": True} if c.logprobs and stt.capabilities.logprobs else {}
        )
        if c.logprobs and not extra and not self._logprobs_refused:
            self._logprobs_refused = True
            self.session.on_unsupported(
                "unsupported_parameter",
                f"The transcription model here ({stt.name}) gives no log-probabilities: "
                "transcripts come without them.",
                "session.include",
            )
        try:
            result = await transcribe(
                stt,
                c.audio,
                c.sample_rate,
                prefix=c.prefix,
                language=c.language,
                prompt=c.prompt,
                priority=Priority.INTERACTIVE,
                **extra,
            )
        except TimeoutError:
            log.warning("transcription timed out in session %s", self.session.id)
            self.session.on_transcript_failed(
                c.item_id, "transcription_timeout", "Transcription took too long."
            )
        except EngineUnavailableError as exc:
            self.session.on_transcript_failed(c.item_id, exc.code, "Transcription unavailable.")
        except Exception:
            log.exception("transcription failed in session %s", self.session.id)
            self.session.on_transcript_failed(
                c.item_id, "transcription_failed", "Transcription failed."
            )
        else:
            scores = getattr(result, "logprobs", None)
            self.session.on_transcript_done(
                c.item_id,
                join(c.head, result.text),
                result.audio_seconds,
                None if scores is None else [asdict(t) | {"bytes": list(t.bytes)} for t in scores],
            )
        self._flush()

    async def _transcribe_partial(self, c: cmd.TranscribePartial) -> None:
        try:
            result = await transcribe(
                self.engines.stt,
                c.audio,
                c.sample_rate,
                language=c.language,
                priority=Priority.INTERACTIVE,
            )
        except Exception:
            # Only a hint for semantic VAD: without it the turn ends at the default window.
            log.warning("partial transcription failed in session %s", self.session.id)
            return
        self.session.on_partial_transcript(c.item_id, result.text)
        self._flush()

    async def _transcribe_live(self, c: cmd.TranscribePartial) -> None:
        """A live hypothesis: background work, unless semantic VAD is waiting for it."""
        try:
            # Bounded: the turn asks for its next hypothesis only once this one is answered.
            result = await transcribe(
                self.engines.stt,
                c.audio,
                c.sample_rate,
                prefix=c.prefix,
                language=c.language,
                prompt=c.prompt,
                priority=Priority.INTERACTIVE if c.urgent else Priority.BACKGROUND,
            )
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("live transcription failed in session %s", self.session.id)
            self.session.on_live_failed(c.item_id, c.request_id)
        else:
            self.live_hypotheses += 1
            self.session.on_live_transcript(c.item_id, c.request_id, result.text.strip())
        self._flush()

    async def _respond(self, c: cmd.StartResponse) -> None:
        try:
            await run_response(self.engines, LiveOut(self.session, c.response_id), c, self._pump)
        except asyncio.CancelledError:
            raise
        except EngineUnavailableError as exc:
            self.session.on_response_failed(c.response_id, exc.code, "An engine is unavailable.")
        except UnsupportedRequestError as exc:  # e.g. a speed the TTS cannot speak at
            self.session.on_response_failed(
                c.response_id, "unsupported_request", str(exc), "invalid_request_error"
            )
        except ContextLengthExceededError as exc:  # truncation "disabled"
            self.session.on_response_failed(
                c.response_id, "context_length_exceeded", str(exc), "invalid_request_error"
            )
        except Exception:
            log.exception("response failed in session %s", self.session.id)
            self.session.on_response_failed(c.response_id, "engine_error", "The response failed.")
        finally:
            if self._responses.get(c.response_id) is asyncio.current_task():
                self._responses.pop(c.response_id)  # (a next pass after MCP calls has its own)
            self._flush()

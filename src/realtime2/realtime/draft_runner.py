"""Running a session's speculative drafts: started at a pause, adopted or dropped.

The session asks for a draft (`PrepareDraft`) when the user pauses, drops it
(`DiscardDraft`) when the user goes on, and names it in the turn's `StartResponse` when the
silence window completes. A draft is two tasks (see `drafts.RunningDraft`): the transcript,
which the committed item may be waiting for, and the reply, recorded until adopted. So the
transcript outlives its reply: a barge-in after the commit cancels the reply, never the
transcript (the reply awaits it shielded).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, Final, Protocol, TypeVar

from realtime2.engine.capabilities import UnsupportedRequestError
from realtime2.engine.interfaces import (
    ContextLengthExceededError,
    Engines,
    EngineUnavailableError,
    Priority,
)
from realtime2.protocol import commands as cmd
from realtime2.protocol.live_transcription import join
from realtime2.protocol.session import RealtimeSession
from realtime2.realtime.drafts import RunningDraft
from realtime2.realtime.respond import LiveOut, Pump, run_response
from realtime2.realtime.stages import StageTracker, TimedDraftOut, WorkClock
from realtime2.realtime.stt_input import transcribe

log = logging.getLogger(__name__)

MAX_DRAFTS: Final = 4  # normally one; a bound in case the session never claims some

T = TypeVar("T")


class Spawn(Protocol):
    """Runs `coro` as a task of the session; its model jobs report to `clock`."""

    def __call__(self, coro: Coroutine[Any, Any, T], clock: WorkClock) -> asyncio.Task[T]: ...


class DraftRunner:
    def __init__(
        self,
        engines: Engines,
        session: RealtimeSession,
        stages: StageTracker,
        *,
        spawn: Spawn,
        flush: Callable[[], None],
        pump: Pump,
        responses: dict[str, asyncio.Task[None]],
    ) -> None:
        """`responses`: the runner's running responses, which an adopted draft joins."""
        self._engines = engines
        self._session = session
        self._stages = stages
        self._spawn = spawn
        self._flush = flush
        self._pump = pump
        self._responses = responses
        self.running: dict[str, RunningDraft] = {}
        # For tests and benchmarks: drafts started, and how many of them a turn used.
        self.prepared = 0
        self.adopted = 0
        self.audio_ready = 0  # adopted with audio already synthesised

    def prepare(self, c: cmd.PrepareDraft) -> None:
        while len(self.running) >= MAX_DRAFTS:
            # Never the transcript: the session may be waiting for it (a committed turn).
            oldest = next(iter(self.running))
            self.running.pop(oldest).cancel(keep_transcript=True)
        self.prepared += 1
        clock = self._stages.clock(c.draft_id)
        draft = RunningDraft(c, out=TimedDraftOut(clock))
        draft.transcript = self._spawn(self._transcript(draft), clock)
        if c.reply is not None:
            draft.reply = self._spawn(self._reply(draft), clock)
        self.running[c.draft_id] = draft

    def discard(self, c: cmd.DiscardDraft) -> None:
        draft = self.running.pop(c.draft_id, None)
        self._stages.drop(c.draft_id)
        if draft is not None:
            draft.cancel(keep_transcript=c.keep_transcript)

    def adopt(self, c: cmd.StartResponse) -> bool:
        """Use the named draft's work for this response if it answered the same request."""
        draft = self.running.pop(c.draft_id, None) if c.draft_id is not None else None
        if draft is None:
            return False
        if not draft.matches(c):
            draft.cancel(keep_transcript=True)
            return False
        assert draft.reply is not None
        draft.response_id = c.response_id
        draft.live_pump = self._pump
        self._stages.adopted(draft.id)
        self.adopted += 1
        self.audio_ready += draft.out.audio_ready
        if not draft.reply.done():
            self._responses[c.response_id] = draft.reply
        draft.out.attach(LiveOut(self._session, c.response_id))  # replays what is ready
        return True

    async def _transcript(self, draft: RunningDraft) -> str | None:
        c = draft.command
        stt = self._engines.stt
        try:
            result = await transcribe(
                stt,
                c.audio,
                c.sample_rate,
                prefix=c.prefix,
                language=c.language,
                prompt=c.prompt,
                # The first stage of the turn's first audio; a transcript-only draft (a
                # transcription session's) has no audio to come: it must not starve others.
                priority=Priority.FIRST_AUDIO if c.reply is not None else Priority.INTERACTIVE,
            )
        except TimeoutError:
            log.warning("draft transcription timed out in session %s", self._session.id)
            self._session.on_draft_failed(
                c.draft_id, "transcription_timeout", "Transcription took too long."
            )
            self._flush()
            return None
        except asyncio.CancelledError:
            # Only a discarded draft's transcript or a closing session's is cancelled; were a
            # committed item ever waiting for it, it gets a failed transcript instead of
            # holding every later response of the session forever (a no-op otherwise).
            self._session.on_draft_failed(
                c.draft_id, "transcription_cancelled", "Transcription was cancelled."
            )
            self._flush()
            raise
        except Exception as exc:
            code = exc.code if isinstance(exc, EngineUnavailableError) else "transcription_failed"
            if not isinstance(exc, EngineUnavailableError):
                log.exception("draft transcription failed in session %s", self._session.id)
            self._session.on_draft_failed(c.draft_id, code, "Transcription failed.")
            self._flush()
            return None
        draft.text = join(c.head, result.text)
        if c.reply is None:  # a transcript-only draft has nothing left to claim
            self.running.pop(c.draft_id, None)
        # The session may claim the draft (StartResponse) during this flush.
        self._session.on_draft_transcript(c.draft_id, draft.text)
        self._flush()
        return draft.text

    async def _reply(self, draft: RunningDraft) -> None:
        reply = draft.command.reply
        assert reply is not None
        assert draft.transcript is not None
        # Shielded: cancelling the reply (a barge-in after the commit) must not cancel the
        # transcript it waits for, which the committed item still needs.
        text = await asyncio.shield(draft.transcript)
        if text is None:
            return
        start = cmd.StartResponse(
            draft.id,
            cmd.draft_request(reply.history, text),
            reply.voice,
            reply.modality,
            reply.speed,
        )
        try:
            await run_response(self._engines, draft.out, start, draft.pump)
        except asyncio.CancelledError:
            raise
        except EngineUnavailableError as exc:
            draft.out.failed(exc.code, "An engine is unavailable.")
        except UnsupportedRequestError as exc:
            draft.out.failed("unsupported_request", str(exc), "invalid_request_error")
        except ContextLengthExceededError as exc:
            draft.out.failed("context_length_exceeded", str(exc), "invalid_request_error")
        except Exception:
            log.exception("draft response failed in session %s", self._session.id)
            draft.out.failed("engine_error", "The response failed.")
        finally:
            if draft.response_id is not None:
                self._responses.pop(draft.response_id, None)
                self._flush()

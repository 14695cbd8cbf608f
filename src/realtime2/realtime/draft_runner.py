"""Running a session's speculative drafts: started at a pause, adopted or dropped.

The session asks for a draft (`PrepareDraft`) when the user pauses, drops it
(`DiscardDraft`) when the user goes on, and names it in the turn's `StartResponse` when the
silence window completes. A draft is two tasks (see `drafts.RunningDraft`): the transcript,
which the committed item may be waiting for, and the reply, recorded until adopted. So the
transcript outlives its reply: a barge-in after the commit cancels the reply, never the
transcript (the reply awaits it shielded).

An early draft (`PrepareDraft.early`, asked for where the voice began to fade) transcribes
nothing of its own until its pause confirms it (`ConfirmDraft`). Meanwhile, when a core is
idle, it guesses: it transcribes the audio up to the fade and starts the reply on those
words. The confirmed transcript (of the audio up to the pause) is the one reported; when it
is not the guess's text, the reply begun on the guess is dropped and starts again from it,
so a reply is only ever adopted for the words the turn's item gets. On the shipped human
speech 21 of 24 turns' guesses had the words of the pause's transcript, which then comes
~0.13 s later.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any, Final, Protocol, TypeVar

from realtime2.engine.capabilities import UnsupportedRequestError
from realtime2.engine.interfaces import (
    ContextLengthExceededError,
    Engines,
    EngineUnavailableError,
    Priority,
    Transcript,
)
from realtime2.engine.scheduler import process_gate
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
        self.guessed = 0  # early drafts that began their reply on a guess
        self.guesses_kept = 0  # ... whose guess was the confirmed transcript

    def _guessing_pays(self) -> bool:
        """A guess costs a transcription that the confirmation may throw away: worth it on
        an idle core of this machine, not at an upstream's price or another session's
        expense (a busy gate: the pause's draft runs as if there were no fade), and only
        where transcripts are quick or the operator says so (engine/transcript_pace.py)."""
        return (
            self._engines.stt.capabilities.local
            and self._engines.transcript_pace.guessing()
            and process_gate().has_idle_core
        )

    def confirm(self, c: cmd.ConfirmDraft) -> None:
        """The early draft's pause came: its transcript may now be made."""
        draft = self.running.get(c.draft_id)
        if draft is None or draft.confirmation is None or draft.confirmation.done():
            return
        self._stages.paused(c.draft_id)
        draft.confirmation.set_result(c)

    def prepare(self, c: cmd.PrepareDraft) -> None:
        while len(self.running) >= MAX_DRAFTS:
            # Never the transcript: the session may be waiting for it (a committed turn).
            oldest = next(iter(self.running))
            self.running.pop(oldest).cancel(keep_transcript=True)
        self.prepared += 1
        clock = self._stages.clock(c.draft_id)
        draft = RunningDraft(c, out=TimedDraftOut(clock))
        if c.early:
            draft.confirmation = asyncio.get_running_loop().create_future()
            if c.reply is not None and self._guessing_pays():
                draft.guess = self._spawn(self._guess(c), clock)
                self.guessed += 1
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

    async def _transcribe(
        self, c: cmd.PrepareDraft | cmd.ConfirmDraft, priority: Priority
    ) -> Transcript:
        return await transcribe(
            self._engines.stt,
            c.audio,
            c.sample_rate,
            prefix=c.prefix,
            language=c.language,
            prompt=c.prompt,
            priority=priority,
        )

    async def _guess(self, c: cmd.PrepareDraft) -> str | None:
        """The words up to the fade, for the reply to begin on; None if they failed."""
        try:
            result = await self._transcribe(c, Priority.FIRST_AUDIO)
        except asyncio.CancelledError:
            raise
        except Exception:  # the confirmed transcript decides; its failure is reported
            log.debug("an early draft's guess failed in session %s", self._session.id)
            return None
        return join(c.head, result.text)

    async def _transcript(self, draft: RunningDraft) -> str | None:
        c: cmd.PrepareDraft | cmd.ConfirmDraft = draft.command
        # The first stage of the turn's first audio; a transcript-only draft (a
        # transcription session's) has no audio to come: it must not starve others.
        first = draft.command.reply is not None
        try:
            if draft.confirmation is not None:
                c = await draft.confirmation
            started = time.perf_counter()
            result = await self._transcribe(
                c, Priority.FIRST_AUDIO if first else Priority.INTERACTIVE
            )
            if first:
                self._engines.transcript_pace.record(time.perf_counter() - started)
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
        if draft.guess is not None:
            self._check_guess(draft, draft.text)
        if draft.command.reply is None:  # a transcript-only draft has nothing left to claim
            self.running.pop(c.draft_id, None)
        # The session may claim the draft (StartResponse) during this flush.
        self._session.on_draft_transcript(c.draft_id, draft.text)
        self._flush()
        return draft.text

    def _check_guess(self, draft: RunningDraft, text: str) -> None:
        """The confirmed transcript is `text`: keep the reply begun on the guess if it
        answers the same words, else start it again on `text` (before the session hears
        of `text`, so it can never adopt the guess's reply)."""
        guess = draft.guess
        assert guess is not None
        if guess.done() and not guess.cancelled() and guess.result() == text:
            self.guesses_kept += 1
            return
        guess.cancel()
        draft.guess = None
        if draft.reply is None:
            return
        draft.reply.cancel()
        clock = self._stages.again(draft.id)
        draft.out = TimedDraftOut(clock)
        draft.reply = self._spawn(self._reply(draft, text), clock)

    async def _reply(self, draft: RunningDraft, text: str | None = None) -> None:
        """Run the draft's reply to `text`, or to its guess, or else its transcript."""
        reply = draft.command.reply
        assert reply is not None
        assert draft.transcript is not None
        out = draft.out  # a reply started again gets a new one
        # Shielded: cancelling the reply (a barge-in after the commit) must not cancel the
        # transcript it waits for, which the committed item still needs.
        if text is None and draft.guess is not None:
            text = await asyncio.shield(draft.guess)
        if text is None:
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
            await run_response(self._engines, out, start, draft.pump, out.pace)
        except asyncio.CancelledError:
            raise
        except EngineUnavailableError as exc:
            out.failed(exc.code, "An engine is unavailable.")
        except UnsupportedRequestError as exc:
            out.failed("unsupported_request", str(exc), "invalid_request_error")
        except ContextLengthExceededError as exc:
            out.failed("context_length_exceeded", str(exc), "invalid_request_error")
        except Exception:
            log.exception("draft response failed in session %s", self._session.id)
            out.failed("engine_error", "The response failed.")
        finally:
            if draft.response_id is not None:
                self._responses.pop(draft.response_id, None)
                self._flush()

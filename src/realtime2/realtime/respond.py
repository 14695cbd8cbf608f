"""One response, executed: LLM token stream → sentences → TTS → the session.

Text replies stream token deltas straight through. Spoken replies go through the one
speaking path (`engine.speaking`) with the LLM and the TTS overlapping: the LLM keeps
generating while earlier sentences are being synthesised. Work up to the first audio runs
at `Priority.FIRST_AUDIO` so it jumps the shared queues; the rest follows `Pacing`
(background while enough audio is ready ahead of playback). Every engine iterator is
closed explicitly on exit, so cancelling the task stops the model work at once.

Output goes to a `ResponseOut`: `LiveOut` feeds the session at once; a speculative draft
(`realtime.drafts`) records it until the session adopts the draft.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import aclosing
from typing import Protocol

from realtime2.engine.interfaces import (
    AudioChunk,
    Engines,
    LLMDone,
    Priority,
    TextDelta,
    TokenUsage,
    ToolCallDelta,
)
from realtime2.engine.pacing import Pacing
from realtime2.engine.speaking import Sentence, SentenceTTS, SpeechEvent, speak
from realtime2.protocol.commands import StartResponse
from realtime2.protocol.session import RealtimeSession

Pump = Callable[[], Awaitable[None]]


class ResponseOut(Protocol):
    """Where a response's output goes, in order."""

    def text(self, text: str) -> None: ...
    def sentence(self, text: str) -> None: ...
    def audio(self, chunk: AudioChunk) -> None: ...
    def tool_call(self, call_id: str, name: str, arguments_delta: str) -> None: ...
    def done(self, finish_reason: str, usage: TokenUsage) -> None: ...
    def failed(self, code: str, message: str, error_type: str = "server_error") -> None: ...


class LiveOut:
    """Straight into the session, under the response's id."""

    def __init__(self, session: RealtimeSession, response_id: str) -> None:
        self.session = session
        self.rid = response_id

    def text(self, text: str) -> None:
        self.session.on_response_text(self.rid, text)

    def sentence(self, text: str) -> None:
        self.session.on_response_sentence(self.rid, text)

    def audio(self, chunk: AudioChunk) -> None:
        self.session.on_response_audio(self.rid, chunk)

    def tool_call(self, call_id: str, name: str, arguments_delta: str) -> None:
        self.session.on_response_tool_call(self.rid, call_id, name, arguments_delta)

    def done(self, finish_reason: str, usage: TokenUsage) -> None:
        self.session.on_response_done(self.rid, finish_reason, usage)

    def failed(self, code: str, message: str, error_type: str = "server_error") -> None:
        self.session.on_response_failed(self.rid, code, message, error_type)


async def run_response(
    engines: Engines,
    out: ResponseOut,
    command: StartResponse,
    pump: Pump,
    pace: Pacing | None = None,
) -> None:
    """Stream the reply into `out`; raises on engine failure (the caller reports it).
    A spoken reply keeps `pace` (default: heard from its first audio on)."""
    if command.modality == "text":
        done = await _write(engines, out, command, pump)
    else:

        async def emit(event: SpeechEvent) -> None:
            if isinstance(event, Sentence):
                out.sentence(event.text)
            elif isinstance(event, AudioChunk):
                out.audio(event)
            elif isinstance(event, ToolCallDelta):
                out.tool_call(event.call_id, event.name, event.arguments_delta)
            await pump()

        stream = SentenceTTS(engines.tts).stream(
            voice=command.voice, pace=Pacing() if pace is None else pace, speed=command.speed
        )
        done = await speak(engines.llm, command.request, stream, emit)
    done = done or LLMDone("stop", TokenUsage())
    out.done(done.finish_reason, done.usage)
    await pump()


async def _write(
    engines: Engines, out: ResponseOut, command: StartResponse, pump: Pump
) -> LLMDone | None:
    """A text reply: token deltas straight through."""
    done = None
    stream = engines.llm.stream(command.request, priority=Priority.INTERACTIVE)
    async with aclosing(stream) as events:  # type: ignore[type-var]
        async for ev in events:
            if isinstance(ev, TextDelta):
                out.text(ev.text)
            elif isinstance(ev, ToolCallDelta):
                out.tool_call(ev.call_id, ev.name, ev.arguments_delta)
            elif isinstance(ev, LLMDone):
                done = ev
            await pump()
    return done

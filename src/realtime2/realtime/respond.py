"""One response, executed: LLM token stream → sentences → TTS → the session.

Text replies stream token deltas straight through. Spoken replies run the LLM and the TTS
concurrently: the LLM keeps generating while earlier sentences are being synthesised. Work
up to the first audio runs at `Priority.FIRST_AUDIO` so it jumps the shared queues; the
rest follows `Pacing` (background while enough audio is ready ahead of playback).
Every engine iterator is closed explicitly on exit, so cancelling the task stops the
model work at once instead of whenever the generator is garbage-collected.

Output goes to a `ResponseOut`: `LiveOut` feeds the session at once; a speculative draft
(`realtime.drafts`) records it until the session adopts the draft.
"""

from __future__ import annotations

import asyncio
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
    Urgency,
)
from realtime2.engine.sentences import SentenceChunker
from realtime2.protocol.commands import StartResponse
from realtime2.protocol.session import RealtimeSession
from realtime2.realtime.pacing import Pacing

Pump = Callable[[], Awaitable[None]]


class ResponseOut(Protocol):
    """Where a response's output goes, in order."""

    def text(self, text: str) -> None: ...
    def sentence(self, text: str) -> None: ...
    def audio(self, chunk: AudioChunk) -> None: ...
    def tool_call(self, call_id: str, name: str, arguments_delta: str) -> None: ...
    def done(self, finish_reason: str, usage: TokenUsage) -> None: ...
    def failed(self, code: str, message: str) -> None: ...


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

    def failed(self, code: str, message: str) -> None:
        self.session.on_response_failed(self.rid, code, message)


async def run_response(
    engines: Engines, out: ResponseOut, command: StartResponse, pump: Pump
) -> None:
    """Stream the reply into `out`; raises on engine failure (the caller reports it)."""
    result: list[LLMDone] = []
    if command.modality == "text":
        await _generate(engines, out, command, pump, result, Priority.INTERACTIVE, on_text=None)
    else:
        sentences: asyncio.Queue[str | None] = asyncio.Queue()
        chunker = SentenceChunker()
        pacing = Pacing()

        async def on_text(text: str) -> None:
            for sentence in chunker.feed(text):
                sentences.put_nowait(sentence)
                pacing.first_sentence()

        async def produce() -> None:
            try:
                await _generate(engines, out, command, pump, result, pacing.llm, on_text=on_text)
                for sentence in chunker.flush():
                    sentences.put_nowait(sentence)
            finally:
                sentences.put_nowait(None)

        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(produce())
                group.create_task(_speak(engines, out, command, pump, sentences, pacing))
        except ExceptionGroup as group:
            # Report the engine's own error, not the task group wrapping it.
            raise group.exceptions[0] from None
    done = result[0] if result else LLMDone("stop", TokenUsage())
    out.done(done.finish_reason, done.usage)
    await pump()


async def _generate(
    engines: Engines,
    out: ResponseOut,
    command: StartResponse,
    pump: Pump,
    result: list[LLMDone],
    priority: Priority | Urgency,
    *,
    on_text: Callable[[str], Awaitable[None]] | None,
) -> None:
    stream = engines.llm.stream(command.request, priority=priority)
    async with aclosing(stream) as events:  # type: ignore[type-var]
        async for ev in events:
            if isinstance(ev, TextDelta):
                if on_text is None:
                    out.text(ev.text)
                else:
                    await on_text(ev.text)
            elif isinstance(ev, ToolCallDelta):
                out.tool_call(ev.call_id, ev.name, ev.arguments_delta)
            elif isinstance(ev, LLMDone):
                result.append(ev)
            await pump()


async def _speak(
    engines: Engines,
    out: ResponseOut,
    command: StartResponse,
    pump: Pump,
    sentences: asyncio.Queue[str | None],
    pacing: Pacing,
) -> None:
    while (sentence := await sentences.get()) is not None:
        out.sentence(sentence)
        await pump()
        audio = engines.tts.synthesize(sentence, voice=command.voice, priority=pacing.tts())
        async with aclosing(audio) as chunks:  # type: ignore[type-var]
            async for chunk in chunks:
                pacing.audio(chunk)
                out.audio(chunk)
                await pump()

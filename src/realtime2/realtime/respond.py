"""One response, executed: LLM token stream → sentences → TTS → the session.

Text replies stream token deltas straight through. Spoken replies run the LLM and the TTS
concurrently: the LLM keeps generating while earlier sentences are being synthesised, and
the first sentence is synthesised at `Priority.FIRST_AUDIO` so it jumps the shared queue.
Every engine iterator is closed explicitly on exit, so cancelling the task stops the
model work at once instead of whenever the generator is garbage-collected.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import aclosing

from realtime2.engine.interfaces import (
    Engines,
    LLMDone,
    Priority,
    TextDelta,
    TokenUsage,
    ToolCallDelta,
)
from realtime2.engine.sentences import SentenceChunker
from realtime2.protocol.commands import StartResponse
from realtime2.protocol.session import RealtimeSession

Pump = Callable[[], Awaitable[None]]


async def run_response(
    engines: Engines, session: RealtimeSession, command: StartResponse, pump: Pump
) -> None:
    """Stream the reply into `session`; raises on engine failure (the caller reports it)."""
    rid = command.response_id
    result: list[LLMDone] = []
    if command.modality == "text":
        await _generate(engines, session, command, pump, result, on_text=None)
    else:
        sentences: asyncio.Queue[str | None] = asyncio.Queue()
        chunker = SentenceChunker()

        async def on_text(text: str) -> None:
            for sentence in chunker.feed(text):
                sentences.put_nowait(sentence)

        async def produce() -> None:
            try:
                await _generate(engines, session, command, pump, result, on_text=on_text)
                for sentence in chunker.flush():
                    sentences.put_nowait(sentence)
            finally:
                sentences.put_nowait(None)

        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(produce())
                group.create_task(_speak(engines, session, command, pump, sentences))
        except ExceptionGroup as group:
            # Report the engine's own error, not the task group wrapping it.
            raise group.exceptions[0] from None
    done = result[0] if result else LLMDone("stop", TokenUsage())
    session.on_response_done(rid, done.finish_reason, done.usage)
    await pump()


async def _generate(
    engines: Engines,
    session: RealtimeSession,
    command: StartResponse,
    pump: Pump,
    result: list[LLMDone],
    *,
    on_text: Callable[[str], Awaitable[None]] | None,
) -> None:
    rid = command.response_id
    stream = engines.llm.stream(command.request, priority=Priority.INTERACTIVE)
    async with aclosing(stream) as events:  # type: ignore[type-var]
        async for ev in events:
            if isinstance(ev, TextDelta):
                if on_text is None:
                    session.on_response_text(rid, ev.text)
                else:
                    await on_text(ev.text)
            elif isinstance(ev, ToolCallDelta):
                session.on_response_tool_call(rid, ev.call_id, ev.name, ev.arguments_delta)
            elif isinstance(ev, LLMDone):
                result.append(ev)
            await pump()


async def _speak(
    engines: Engines,
    session: RealtimeSession,
    command: StartResponse,
    pump: Pump,
    sentences: asyncio.Queue[str | None],
) -> None:
    rid = command.response_id
    priority = Priority.FIRST_AUDIO
    while (sentence := await sentences.get()) is not None:
        session.on_response_sentence(rid, sentence)
        await pump()
        audio = engines.tts.synthesize(sentence, voice=command.voice, priority=priority)
        async with aclosing(audio) as chunks:  # type: ignore[type-var]
            async for chunk in chunks:
                session.on_response_audio(rid, chunk)
                await pump()
        priority = Priority.INTERACTIVE

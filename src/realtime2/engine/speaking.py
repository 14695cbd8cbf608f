"""One speaking path: an LLM's text stream → sentences → TTS audio, paced.

`SentenceTTS` wraps any TTS and a sentence chunker and is itself a TTS, the way
livekit-agents' `tts/stream_adapter.py` is: `synthesize()` speaks a whole text as the wrapped
TTS would; `stream()` takes text as it is written (`push_text`, `end_input`) and speaks it
sentence by sentence, each sentence one TTS job at the priority its `Pace` gives
(`engine.pacing`). `speak()` drives such a stream from an LLM stream and hands every event
(text and tool-call deltas, sentences, audio, the LLM's end) to the caller in order. The
realtime session, the pipeline and translation all speak through it; none names a vendor.

`overlap=True` keeps the LLM generating while earlier sentences are synthesised (a reply
that is played as it streams); `overlap=False` reads the LLM only between sentences, so the
LLM and the TTS never share the cores (a reply returned whole, a short translated phrase).
Every engine iterator is closed explicitly on exit, so cancelling the caller stops the
model work at once instead of whenever a generator is garbage-collected.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import Protocol

from realtime2.engine.capabilities import UnsupportedRequestError
from realtime2.engine.interfaces import (
    LLM,
    TTS,
    AudioChunk,
    LLMDone,
    LLMEvent,
    LLMRequest,
    Priority,
    TextDelta,
    TTSCapabilities,
)
from realtime2.engine.pacing import Pace
from realtime2.engine.sentences import SentenceChunker


@dataclass(frozen=True)
class Sentence:
    """A chunk of the reply about to be synthesised (its transcript)."""

    text: str


SpeechEvent = LLMEvent | Sentence | AudioChunk
Emit = Callable[[SpeechEvent], Awaitable[None]]


class TextFilter(Protocol):
    """Cleans the LLM's text before it is shown and spoken (see `TranslationFilter`)."""

    done: bool  # the rest of the reply is to be dropped: stop reading the LLM

    def feed(self, delta: str) -> str: ...

    def finish(self) -> str: ...


class SentenceTTS:
    """A TTS plus a sentence chunker: itself a TTS, and one that streams text in."""

    def __init__(self, tts: TTS, chunker: Callable[[], SentenceChunker] = SentenceChunker) -> None:
        self.tts = tts
        self.name = tts.name
        self.capabilities = TTSCapabilities(
            streaming=True,
            sample_rate=tts.capabilities.sample_rate,
            voices=tts.capabilities.voices,
            speed=tts.capabilities.speed,
        )
        self._chunker = chunker

    def synthesize(
        self,
        text: str,
        *,
        voice: str,
        priority: Priority = Priority.INTERACTIVE,
        speed: float = 1.0,
    ) -> AsyncIterator[AudioChunk]:
        """A whole text, as the wrapped TTS speaks it."""
        return self.tts.synthesize(text, voice=voice, priority=priority, speed=speed)

    def stream(self, *, voice: str, pace: Pace, speed: float = 1.0) -> SpeechStream:
        """A stream speaking in `voice` at `speed` (`audio.output.speed`).

        A speed other than 1.0 on a TTS that cannot change its speed raises
        `UnsupportedRequestError` naming the field, before anything is spoken.
        """
        if speed != 1.0 and not self.tts.capabilities.speed:
            raise UnsupportedRequestError(
                f"the TTS {self.tts.name!r} cannot change its speed "
                f"(audio.output.speed {speed} needs it; use 1.0)"
            )
        return SpeechStream(self.tts, self._chunker(), voice=voice, pace=pace, speed=speed)


class SpeechStream:
    """Text in as it is written; each completed sentence, then its audio, out."""

    def __init__(
        self, tts: TTS, chunker: SentenceChunker, *, voice: str, pace: Pace, speed: float = 1.0
    ) -> None:
        self.pace = pace
        self.speed = speed
        self._tts = tts
        self._chunker = chunker
        self._voice = voice
        self._pending: deque[str] = deque()
        self._more = asyncio.Event()
        self._ended = False
        self.tts_seconds = 0.0  # time spent waiting for the TTS, for stage timings

    def push_text(self, text: str) -> None:
        for sentence in self._chunker.feed(text):
            self._pending.append(sentence)
            self.pace.first_sentence()
        self._more.set()

    def end_input(self) -> None:
        """No more text: what is left of the last sentence is spoken too."""
        self._pending.extend(self._chunker.flush())
        self._ended = True
        self._more.set()

    async def ready(self) -> AsyncGenerator[Sentence | AudioChunk, None]:
        """Speak the sentences completed so far, without waiting for more text."""
        while self._pending:
            async with aclosing(self._say(self._pending.popleft())) as events:
                async for event in events:
                    yield event

    async def __aiter__(self) -> AsyncGenerator[Sentence | AudioChunk, None]:
        """Speak everything, waiting for text until `end_input`."""
        while True:
            if self._pending:
                async with aclosing(self.ready()) as events:
                    async for event in events:
                        yield event
            elif self._ended:
                return
            else:
                self._more.clear()
                await self._more.wait()

    async def _say(self, sentence: str) -> AsyncGenerator[Sentence | AudioChunk, None]:
        yield Sentence(sentence)
        if self.speed == 1.0:
            audio = self._tts.synthesize(sentence, voice=self._voice, priority=self.pace.tts())
        else:
            audio = self._tts.synthesize(
                sentence, voice=self._voice, priority=self.pace.tts(), speed=self.speed
            )
        async with aclosing(audio) as chunks:  # type: ignore[type-var]
            while True:
                started = time.perf_counter()
                try:
                    chunk = await anext(chunks)
                except StopAsyncIteration:
                    return
                finally:
                    self.tts_seconds += time.perf_counter() - started
                self.pace.audio(chunk)
                yield chunk


async def speak(
    llm: LLM,
    request: LLMRequest,
    stream: SpeechStream,
    emit: Emit,
    *,
    overlap: bool = True,
    text_filter: TextFilter | None = None,
) -> LLMDone | None:
    """Run `request` and speak its text through `stream`, handing each event to `emit`.

    Text deltas (filtered by `text_filter`, if any) are emitted before the sentences they
    complete. Returns the LLM's `LLMDone` (None if it stopped early). Raises what an engine
    raised, after closing both engines' iterators.
    """
    if not overlap:
        return await _speak_in_turn(llm, request, stream, emit, text_filter)
    done: list[LLMDone] = []

    async def produce() -> None:
        await _read_llm(llm, request, stream, emit, text_filter, done, between=None)
        stream.end_input()

    async def say() -> None:
        async with aclosing(aiter(stream)) as events:
            async for event in events:
                await emit(event)

    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(produce())
            group.create_task(say())
    except ExceptionGroup as group:
        # Report the engine's own error, not the task group wrapping it.
        raise group.exceptions[0] from None
    return done[0] if done else None


async def _speak_in_turn(
    llm: LLM,
    request: LLMRequest,
    stream: SpeechStream,
    emit: Emit,
    text_filter: TextFilter | None,
) -> LLMDone | None:
    async def between() -> None:
        async with aclosing(stream.ready()) as events:
            async for event in events:
                await emit(event)

    done: list[LLMDone] = []
    await _read_llm(llm, request, stream, emit, text_filter, done, between=between)
    stream.end_input()
    async with aclosing(aiter(stream)) as events:
        async for event in events:
            await emit(event)
    return done[0] if done else None


async def _read_llm(
    llm: LLM,
    request: LLMRequest,
    stream: SpeechStream,
    emit: Emit,
    text_filter: TextFilter | None,
    done: list[LLMDone],
    *,
    between: Callable[[], Awaitable[None]] | None,
) -> None:
    """Feed the LLM's text into `stream`; `between` runs after each event (in-turn speech)."""
    llm_events = llm.stream(request, priority=stream.pace.llm)
    async with aclosing(llm_events) as events:  # type: ignore[type-var]
        async for event in events:
            if isinstance(event, TextDelta) and text_filter is not None:
                text = text_filter.feed(event.text)
                if text:
                    await _text(stream, emit, text)
            elif isinstance(event, TextDelta):
                await _text(stream, emit, event.text)
            else:
                if isinstance(event, LLMDone):
                    done.append(event)
                await emit(event)
            if between is not None:
                await between()
            if text_filter is not None and text_filter.done:
                break
    if text_filter is not None and (rest := text_filter.finish()):
        await _text(stream, emit, rest)


async def _text(stream: SpeechStream, emit: Emit, text: str) -> None:
    stream.push_text(text)
    await emit(TextDelta(text))

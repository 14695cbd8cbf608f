"""The one speaking path: LLM text → sentences → TTS, with pacing, in either overlap mode."""

from __future__ import annotations

import asyncio

import pytest

from realtime2.engine.interfaces import (
    TTS,
    AudioChunk,
    LLMDone,
    LLMRequest,
    Priority,
    TextDelta,
    ToolCallDelta,
)
from realtime2.engine.pacing import Pacing, Steady
from realtime2.engine.speaking import Sentence, SentenceTTS, SpeechEvent, speak
from realtime2.translation.pipeline import TranslationFilter
from tests.support.fakes import FakeLLM, FakeTTS

REQUEST = LLMRequest(messages=[])


def kinds(events: list[SpeechEvent]) -> list[str]:
    names = {TextDelta: "text", Sentence: "sentence", AudioChunk: "audio", LLMDone: "done"}
    return [names.get(type(e), type(e).__name__) for e in events]


async def run(
    llm: FakeLLM, tts: FakeTTS, *, overlap: bool, **kwargs: object
) -> tuple[list[SpeechEvent], LLMDone | None]:
    events: list[SpeechEvent] = []

    async def emit(event: SpeechEvent) -> None:
        events.append(event)

    pace = Steady(llm=Priority.INTERACTIVE, later=Priority.INTERACTIVE)
    stream = SentenceTTS(tts).stream(voice="marin", pace=pace)
    done = await speak(llm, REQUEST, stream, emit, overlap=overlap, **kwargs)  # type: ignore[arg-type]
    return events, done


def test_the_adapter_is_itself_a_tts() -> None:
    tts = FakeTTS()
    adapter = SentenceTTS(tts)
    assert isinstance(adapter, TTS)
    assert adapter.capabilities.streaming
    assert adapter.capabilities.sample_rate == tts.capabilities.sample_rate
    assert adapter.capabilities.voices == tts.capabilities.voices


async def test_in_turn_speech_reads_the_llm_only_between_sentences() -> None:
    llm = FakeLLM(script=("Hi there. ", "How can ", "I help?"))
    tts = FakeTTS()
    events, done = await run(llm, tts, overlap=False)
    assert kinds(events) == [
        "text", "sentence", "audio", "audio", "text", "text", "done", "sentence", "audio", "audio"
    ]  # fmt: skip
    assert [e.text for e in events if isinstance(e, Sentence)] == ["Hi there.", "How can I help?"]
    assert done is not None and done.finish_reason == "stop"
    # First audio jumps the queues; after it, the steady priority.
    assert [c[2] for c in tts.calls] == [Priority.FIRST_AUDIO, Priority.INTERACTIVE]
    assert llm.closed == 1


async def test_overlapping_speech_speaks_every_sentence_in_order() -> None:
    llm = FakeLLM(script=("One. ", "Two. ", ToolCallDelta("c1", "f", "{}"), "Three"))
    tts = FakeTTS(delay=0.01)
    events, done = await run(llm, tts, overlap=True)
    sentences = [e.text for e in events if isinstance(e, Sentence)]
    assert sentences == ["One.", "Two.", "Three"]
    assert sum(isinstance(e, AudioChunk) for e in events) == 6
    assert sum(isinstance(e, ToolCallDelta) for e in events) == 1
    assert done is not None and done.finish_reason == "tool_calls"
    # Each sentence's audio follows it; the LLM's events interleave (it runs ahead).
    spoken = [k for k in kinds(events) if k in ("sentence", "audio")]
    assert spoken == ["sentence", "audio", "audio"] * 3


async def test_pacing_sets_the_llm_and_tts_priorities() -> None:
    seen: list[Priority] = []

    class Recording(FakeLLM):
        async def stream(self, request, *, priority=Priority.INTERACTIVE):  # type: ignore[no-untyped-def, override]
            async for event in super().stream(request, priority=priority):
                seen.append(priority.priority)  # an Urgency its owner keeps current
                yield event

    tts = FakeTTS()
    pacing = Pacing()
    stream = SentenceTTS(tts).stream(voice="marin", pace=pacing)

    async def emit(event: SpeechEvent) -> None:
        pass

    await speak(Recording(script=("A first sentence. ", "More")), REQUEST, stream, emit)
    assert seen[0] is Priority.FIRST_AUDIO
    assert seen[-1] is Priority.INTERACTIVE
    assert tts.calls[0][2] is Priority.FIRST_AUDIO


async def test_a_text_filter_cleans_what_is_shown_and_spoken_and_can_stop_the_llm() -> None:
    llm = FakeLLM(script=("Translation: Bonjour à tous", " les amis.\n", "Chatter."))
    events, _ = await run(llm, FakeTTS(), overlap=False, text_filter=TranslationFilter())
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert text == "Bonjour à tous les amis."
    assert [e.text for e in events if isinstance(e, Sentence)] == ["Bonjour à tous les amis."]
    assert llm.closed == 1


async def test_cancelling_closes_the_engines() -> None:
    llm = FakeLLM(script=("One. ", "Two. ", "Three. "), delay=0.05)
    tts = FakeTTS(delay=0.05)

    async def emit(event: SpeechEvent) -> None:
        pass

    stream = SentenceTTS(tts).stream(voice="marin", pace=Pacing())
    task = asyncio.create_task(speak(llm, REQUEST, stream, emit))
    await asyncio.sleep(0.12)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert llm.running == 0 and tts.running == 0


async def test_an_engine_error_is_raised_as_itself() -> None:
    class Broken(FakeTTS):
        async def synthesize(self, text, *, voice, priority=Priority.INTERACTIVE):  # type: ignore[no-untyped-def, override]
            raise RuntimeError("tts down")
            yield  # pragma: no cover

    async def emit(event: SpeechEvent) -> None:
        pass

    stream = SentenceTTS(Broken()).stream(voice="marin", pace=Pacing())
    with pytest.raises(RuntimeError, match="tts down"):
        await speak(FakeLLM(), REQUEST, stream, emit)

"""Deterministic fake engines (VAD, STT, LLM, TTS, end of turn, `fake_engines`) and test audio.

The fake clock is `tests.support.clock.FakeClock`."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from realtime2.engine.interfaces import (
    AudioChunk,
    Engines,
    FloatAudio,
    LLMCapabilities,
    LLMDone,
    LLMEvent,
    LLMRequest,
    Priority,
    STTCapabilities,
    TextDelta,
    TokenUsage,
    ToolCallDelta,
    Transcript,
    TTSCapabilities,
    TurnModelCapabilities,
    VADCapabilities,
)

VAD_RATE = 16000
VAD_FRAME = 512


class EnergyVADStream:
    """Speech probability from frame loudness: a tone is speech, zeros are silence."""

    def __init__(self) -> None:
        self.frames = 0
        self.resets = 0

    def speech_probability(self, frame: FloatAudio) -> float:
        assert frame.shape == (VAD_FRAME,), frame.shape
        self.frames += 1
        rms = float(np.sqrt(np.mean(np.square(frame))))
        return 0.95 if rms > 0.02 else 0.02

    def reset(self) -> None:
        self.resets += 1


class FakeVAD:
    name = "fake-energy"
    capabilities = VADCapabilities(sample_rate=VAD_RATE, frame_samples=VAD_FRAME)

    def new_stream(self) -> EnergyVADStream:
        return EnergyVADStream()


def tone(ms: int, rate: int = 24000, amplitude: float = 0.3) -> FloatAudio:
    t = np.arange(rate * ms // 1000) / rate
    return (amplitude * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def silence(ms: int, rate: int = 24000) -> FloatAudio:
    return np.zeros(rate * ms // 1000, dtype=np.float32)


def pcm16(x: FloatAudio) -> bytes:
    return bytes(np.clip(np.round(x * 32768), -32768, 32767).astype("<i2").tobytes())


def b64(x: FloatAudio) -> str:
    return base64.b64encode(pcm16(x)).decode()


# --- engines ---------------------------------------------------------------------------


class FakeSTT:
    name = "fake-stt"
    capabilities = STTCapabilities(streaming=False, sample_rate=VAD_RATE, languages=("en",))

    def __init__(self, text: str = "hello there.", delay: float = 0.0) -> None:
        self.text = text
        self.delay = delay
        self.calls: list[tuple[int, Priority]] = []

    async def transcribe(
        self,
        audio: FloatAudio,
        *,
        language: str | None = None,
        prompt: str | None = None,
        priority: Priority = Priority.INTERACTIVE,
    ) -> Transcript:
        self.calls.append((len(audio), priority))
        await asyncio.sleep(self.delay)
        return Transcript(self.text, "en", len(audio) / VAD_RATE)


class FakeStreamingSTT:
    """A streaming STT (it continues a `prefix`) for live transcription: `words_per_s` of
    `text` are heard per second of audio; a hypothesis (BACKGROUND) garbles its last word,
    as whisper does with a word cut off mid-way, and any other call hears the audio whole.
    It counts how many hypotheses (BACKGROUND calls) run at once (`max_running`)."""

    name = "fake-streaming-stt"
    capabilities = STTCapabilities(streaming=True, sample_rate=VAD_RATE, languages=("en",))

    def __init__(self, text: str, *, words_per_s: float = 2.0, delay: float = 0.0) -> None:
        self.words = text.split()
        self.words_per_s = words_per_s
        self.delay = delay
        self.calls: list[tuple[float, Priority, str | None]] = []  # seconds, priority, prefix
        self.running = 0
        self.max_running = 0

    async def transcribe(
        self,
        audio: FloatAudio,
        *,
        language: str | None = None,
        prompt: str | None = None,
        priority: Priority = Priority.INTERACTIVE,
        logprobs: bool = False,
        prefix: str | None = None,
    ) -> Transcript:
        seconds = len(audio) / VAD_RATE
        self.calls.append((seconds, priority, prefix))
        hypothesis = priority == Priority.BACKGROUND
        self.running += hypothesis
        self.max_running = max(self.max_running, self.running)
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.running -= hypothesis
        done = len(prompt.split()) if prompt else 0  # closed chunks' words come as the prompt
        heard = self.words[done : done + int(seconds * self.words_per_s)]
        if priority == Priority.BACKGROUND and heard:
            heard = [*heard[:-1], heard[-1][:2] + "~"]
        kept = prefix.split() if prefix else []
        text = " ".join([*kept, *heard[len(kept) :]])
        return Transcript(text, "en", seconds)


@dataclass
class FakeLLM:
    """Replies with `script` (text pieces, or ToolCallDelta), one delta per step."""

    script: Sequence[str | ToolCallDelta] = ("Hi there. ", "How can ", "I help?")
    delay: float = 0.0
    name: str = "fake-llm"
    capabilities: LLMCapabilities = field(
        default_factory=lambda: LLMCapabilities(streaming=True, tools=True, context_tokens=2048)
    )
    requests: list[LLMRequest] = field(default_factory=list)
    running: int = 0
    closed: int = 0

    async def stream(
        self, request: LLMRequest, *, priority: Priority = Priority.INTERACTIVE
    ) -> AsyncIterator[LLMEvent]:
        self.requests.append(request)
        self.running += 1
        try:
            tool = False
            for piece in self.script:
                await asyncio.sleep(self.delay)
                if isinstance(piece, ToolCallDelta):
                    tool = True
                    yield piece
                else:
                    yield TextDelta(piece)
            yield LLMDone("tool_calls" if tool else "stop", TokenUsage(12, len(self.script), 4))
        finally:
            self.running -= 1
            self.closed += 1


class FakeTTS:
    """100 ms of tone per sentence at 22.05 kHz, in two chunks."""

    name = "fake-tts"
    capabilities = TTSCapabilities(
        streaming=True, sample_rate=22050, voices=("marin", "cedar"), speed=True
    )

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.calls: list[tuple[str, str, Priority]] = []
        self.speeds: list[float] = []
        self.running = 0

    async def synthesize(
        self,
        text: str,
        *,
        voice: str,
        priority: Priority = Priority.INTERACTIVE,
        speed: float = 1.0,
    ) -> AsyncIterator[AudioChunk]:
        if voice not in self.capabilities.voices:
            raise ValueError(f"unknown voice {voice}")
        self.calls.append((text, voice, priority))
        self.speeds.append(speed)
        self.running += 1
        try:
            for _ in range(2):
                await asyncio.sleep(self.delay)
                yield AudioChunk(pcm16(tone(round(50 / speed), 22050)), 22050)
        finally:
            self.running -= 1


class FakeTurnModel:
    """An end-of-turn model that answers `probability` after `delay` seconds, and records
    each check (its audio and priority) and how many ran at once."""

    name = "fake-turn"
    capabilities = TurnModelCapabilities(sample_rate=16000, max_seconds=8.0)

    def __init__(self, probability: float = 0.9, delay: float = 0.0) -> None:
        self.probability = probability
        self.delay = delay
        self.calls: list[tuple[FloatAudio, Priority]] = []
        self.running = 0
        self.max_running = 0

    async def end_of_turn(
        self, audio: FloatAudio, *, priority: Priority = Priority.FIRST_AUDIO
    ) -> float:
        self.calls.append((audio, priority))
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.running -= 1
        return self.probability


def fake_engines(**kwargs: object) -> Engines:
    return Engines(
        vad=FakeVAD(),
        stt=kwargs.get("stt", FakeSTT()),  # type: ignore[arg-type]
        llm=kwargs.get("llm", FakeLLM()),  # type: ignore[arg-type]
        tts=kwargs.get("tts", FakeTTS()),  # type: ignore[arg-type]
        turn=kwargs.get("turn"),  # type: ignore[arg-type]
    )

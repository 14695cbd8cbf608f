"""One Starter Voice turn: speech (or text) in → transcript → reply text → reply speech.

Vendor-free: it sees only the engine interfaces, and speaks through the one speaking path
(`engine.speaking`). Each stage is timed so the endpoint can
report it and the benchmark can break the latency down.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from realtime2.engine.interfaces import (
    AudioChunk,
    ChatMessage,
    Engines,
    FloatAudio,
    LLMRequest,
    Priority,
    TextDelta,
)
from realtime2.engine.pacing import Steady
from realtime2.engine.speaking import SentenceTTS, SpeechEvent, speak

DEFAULT_INSTRUCTIONS = (
    "You are a helpful voice assistant. Answer in one to three short spoken sentences, "
    "without lists, markdown or emoji."
)
# About 25 s of speech at most: a spoken answer, not an essay (the small model rambles).
REPLY_MAX_TOKENS = 100


@dataclass(frozen=True)
class TurnInput:
    audio: FloatAudio | None  # mono at the STT's rate
    text: str
    history: list[ChatMessage]
    instructions: str
    voice: str


@dataclass
class TurnResult:
    transcript: str
    user_text: str
    assistant_text: str
    pcm: bytes  # s16le mono reply audio
    sample_rate: int
    input_seconds: float
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def output_seconds(self) -> float:
        return len(self.pcm) / 2 / self.sample_rate


class NothingToAnswerError(ValueError):
    """The audio held no speech and there was no text to fall back on."""


async def run_turn(engines: Engines, turn: TurnInput) -> TurnResult:
    timings: dict[str, float] = {}
    transcript = ""
    input_seconds = 0.0
    if turn.audio is not None and turn.audio.size:
        input_seconds = turn.audio.size / engines.stt.capabilities.sample_rate
        started = time.perf_counter()
        result = await engines.stt.transcribe(turn.audio, priority=Priority.INTERACTIVE)
        timings["stt"] = time.perf_counter() - started
        transcript = result.text.strip()
    # Audio wins; the text field is the fallback when the audio holds no speech.
    user_text = transcript or turn.text.strip()
    if not user_text:
        raise NothingToAnswerError("the audio contains no recognisable speech and no text was sent")

    request = LLMRequest(
        messages=[
            ChatMessage("system", turn.instructions.strip() or DEFAULT_INSTRUCTIONS),
            *turn.history,
            ChatMessage("user", user_text),
        ],
        max_tokens=REPLY_MAX_TOKENS,
    )
    reply: list[str] = []
    audio: list[bytes] = []
    rate = engines.tts.capabilities.sample_rate
    started = time.perf_counter()

    async def emit(event: SpeechEvent) -> None:
        if isinstance(event, TextDelta):
            if not reply:
                timings["llm_first_token"] = time.perf_counter() - started
            reply.append(event.text)
        elif isinstance(event, AudioChunk):
            if not audio:
                timings["first_audio"] = time.perf_counter() - started
            audio.append(_at_rate(event.pcm, event.sample_rate, rate))

    # The LLM waits while a sentence is synthesised: the reply is returned whole, so the
    # two never share the cores and the timings below split cleanly.
    pace = Steady(llm=Priority.INTERACTIVE, later=Priority.INTERACTIVE)
    stream = SentenceTTS(engines.tts).stream(voice=turn.voice, pace=pace)
    await speak(engines.llm, request, stream, emit, overlap=False)
    total = time.perf_counter() - started
    timings["tts"] = stream.tts_seconds
    timings["llm"] = total - stream.tts_seconds
    return TurnResult(
        transcript=transcript,
        user_text=user_text,
        assistant_text="".join(reply).strip(),
        pcm=b"".join(audio),
        sample_rate=rate,
        input_seconds=input_seconds,
        timings=timings,
    )


def _at_rate(pcm: bytes, src: int, dst: int) -> bytes:
    if src == dst:
        return pcm
    from realtime2.audio.pcm import float_to_pcm16, pcm16_to_float
    from realtime2.audio.resample import resample

    return float_to_pcm16(resample(pcm16_to_float(pcm), src, dst))

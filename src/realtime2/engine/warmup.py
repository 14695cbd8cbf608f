"""One real inference per engine before the process says it is ready.

Loading a model is not the same as being able to answer: the first inference allocates
compute buffers, compiles kernels, starts worker threads, and on some machines is where a
native library faults. Running it at start-up means `/readyz` only says ready once every
engine has answered, a broken engine is found before any user is connected, and the first
user's turn takes no cold path. Each step goes through the same interface (and the same
workers) a session uses.
"""

from __future__ import annotations

import numpy as np

from realtime2.audio.resample import resample
from realtime2.engine.interfaces import (
    LLM,
    STT,
    TTS,
    VAD,
    Calibrating,
    ChatMessage,
    FloatAudio,
    LLMDone,
    LLMRequest,
    Priority,
    ThreadCalibrating,
    TurnModel,
)

WARMUP_SENTENCE = "Hello, I am ready when you are."
WARMUP_PROMPT = "Say hello in three words."


class WarmupError(RuntimeError):
    """An engine loaded but could not complete its first inference."""


def warm_vad(vad: VAD) -> None:
    frame = np.zeros(vad.capabilities.frame_samples, np.float32)
    probability = vad.new_stream().speech_probability(frame)
    if not 0.0 <= probability <= 1.0:
        raise WarmupError(f"VAD returned probability {probability} for silence")


async def warm_turn(model: TurnModel | None) -> None:
    """One end-of-turn check on a second of silence ("none" configured: nothing to warm)."""
    if model is None:
        return
    audio = np.zeros(model.capabilities.sample_rate, np.float32)
    probability = await model.end_of_turn(audio)
    if not 0.0 <= probability <= 1.0:
        raise WarmupError(f"end-of-turn model returned probability {probability}")


async def warm_tts(tts: TTS) -> FloatAudio:
    """Speak the warm-up sentence in every voice (both scheduling lanes), and let the TTS
    time its thread settings; return one rendition as float32 at the TTS's rate, for the
    STT warm-up."""
    speech: FloatAudio | None = None
    for index, voice in enumerate(tts.capabilities.voices):
        priority = Priority.FIRST_AUDIO if index % 2 == 0 else Priority.INTERACTIVE
        pieces = [
            np.frombuffer(chunk.pcm, np.int16).astype(np.float32) / 32768.0
            async for chunk in tts.synthesize(WARMUP_SENTENCE, voice=voice, priority=priority)
        ]
        if not pieces or not sum(piece.size for piece in pieces):
            raise WarmupError(f"TTS produced no audio for voice {voice}")
        if speech is None:
            speech = np.concatenate(pieces)
    if speech is None:
        raise WarmupError("TTS has no voices")
    if isinstance(tts, ThreadCalibrating):
        await tts.calibrate_threads()
    return speech


async def warm_stt(stt: STT, speech: FloatAudio | None, speech_rate: int) -> str:
    """Transcribe the TTS's warm-up sentence (one second of silence without a TTS)."""
    rate = stt.capabilities.sample_rate
    audio = np.zeros(rate, np.float32) if speech is None else resample(speech, speech_rate, rate)
    transcript = await stt.transcribe(audio, priority=Priority.INTERACTIVE)
    if speech is not None and isinstance(stt, Calibrating):
        await stt.calibrate(audio)  # on speech only: silence decodes no words
    return transcript.text


async def warm_llm(llm: LLM) -> None:
    request = LLMRequest(messages=[ChatMessage("user", WARMUP_PROMPT)], max_tokens=4)
    done: LLMDone | None = None
    async for event in llm.stream(request, priority=Priority.INTERACTIVE):
        if isinstance(event, LLMDone):
            done = event
    if done is None or done.usage.output_tokens < 1:
        raise WarmupError("LLM generated no tokens")

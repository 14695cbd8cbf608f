"""How soon can a reply's first audio come after the voice ends, on this CPU, at best?

    .venv/bin/python -m bench.chain_floor [--turns 24]

A spoken reply's first audio needs, one after another: the pause noticed (the VAD's lag
behind the voice, then `DRAFT_AFTER_MS` of quiet), the turn's transcript, the LLM's first
chunk (`engine.sentences`) and that chunk's first synthesized audio. This runs each stage
alone on the machine, on the shipped human turns (tests/support/human_speech.py), with the
server's models and settings:

- the VAD and turn detector (`protocol.input_audio`, `server_vad` 500 ms) over the turn
  streamed in 20 ms appends at 24 kHz, as `bench.realtime_latency` sends it: where the
  voice fades (`VoiceFading`) and where the pause is noticed (`PauseStarted`), measured
  from the last voiced 10 ms of the recording (`voiced_end`);
- the transcript of the audio up to the pause (`FIRST_AUDIO`, whisper's short window);
- the LLM's first chunk for that transcript, with the prompt warmed up to its last three
  words as live transcription would have it (`PromptWarming`), borrowing the idle core as
  in the server;
- the TTS's first audio for that chunk (voice `marin`).

Their sum from the pause is the shortest chain a draft begun at the pause can run, and
from the fade the shortest a guess begun at the fade can (were its transcript the pause's:
it must be confirmed, bench/README.md "Early drafts"). `semantic_vad` high cannot end a
turn before 250 ms of quiet, counted from the pause's first quiet frame, so its end of
voice → first audio is at best the later of that and the chain. In the server the stages
share the two cores with Smart Turn checks, live hypotheses and other sessions, so real
figures (`bench.realtime_latency`) are higher: this is the floor a design on these models
cannot go under on this CPU, whatever its scheduling.

Prints per-turn figures and medians; writes bench/results/chain_floor.json.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from tests.support.human_speech import HumanTurn, human_turns

from bench.report import machine, median, percentile, print_table, write_json
from realtime2.engine.interfaces import (
    ChatMessage,
    Engines,
    FloatAudio,
    LLMRequest,
    Priority,
    PromptWarming,
    TextDelta,
)
from realtime2.engine.registry import build_engines
from realtime2.engine.sentences import SentenceChunker
from realtime2.protocol.input_audio import InputAudio
from realtime2.protocol.session_config import DEFAULT_INSTRUCTIONS
from realtime2.protocol.turn_detection import (
    DRAFT_AFTER_MS,
    SEMANTIC_WINDOWS_MS,
    PauseStarted,
    SpeechResumed,
    TurnDetector,
    VadParams,
    VoiceFading,
)
from realtime2.realtime.stt_input import stt_audio

RATE = 24000  # what clients send (and `bench.realtime_latency`)
APPEND_MS = 20
LEAD_MS, TAIL_MS = 300, 900
WARM_ALL_BUT = 3  # words of the turn live transcription has not agreed on at the pause
VOICE = "marin"


@dataclass
class TurnFloor:
    name: str
    fade_s: float | None  # the last VoiceFading before the pause, after the voice ended
    pause_s: float  # PauseStarted noticed, after the voice ended
    stt_s: float
    llm_first_chunk_s: float
    tts_first_audio_s: float
    first_chunk: str

    @property
    def chain_s(self) -> float:
        return self.stt_s + self.llm_first_chunk_s + self.tts_first_audio_s

    @property
    def from_pause_s(self) -> float:
        return self.pause_s + self.chain_s

    @property
    def from_fade_s(self) -> float | None:
        return None if self.fade_s is None else self.fade_s + self.chain_s

    @property
    def turn_end_high_s(self) -> float:
        """`semantic_vad` high ends the turn 250 ms after its first quiet frame at best."""
        shortest_ms = SEMANTIC_WINDOWS_MS["high"][0]
        return self.pause_s + (shortest_ms - DRAFT_AFTER_MS) / 1000

    @property
    def semantic_high_s(self) -> float:
        """End of voice → first audio with `semantic_vad` high, the draft begun at the pause."""
        return max(self.turn_end_high_s, self.from_pause_s)

    @property
    def semantic_high_guess_s(self) -> float | None:
        """The same with the reply begun on the fade's guess, were no confirmation needed."""
        fade = self.from_fade_s
        return None if fade is None else max(self.turn_end_high_s, fade)


def _pause_points(engines: Engines, turn: HumanTurn) -> tuple[float | None, float, FloatAudio]:
    """Seconds after the voice's end when it faded and when the pause was noticed, and the
    analysis-rate audio up to the pause (what the draft transcribes)."""
    caps = engines.vad.capabilities
    audio = InputAudio(engines.vad.new_stream(), caps.sample_rate, caps.frame_samples)
    audio.set_detector(TurnDetector(VadParams()))
    pcm = np.concatenate(
        [
            np.zeros(RATE * LEAD_MS // 1000, np.int16),
            np.frombuffer(turn.pcm, np.int16),
            np.zeros(RATE * TAIL_MS // 1000, np.int16),
        ]
    )
    voice_end_s = (RATE * LEAD_MS // 1000 + turn.voiced_end) / RATE
    step = RATE * APPEND_MS // 1000
    fade: float | None = None
    last: tuple[float | None, float, FloatAudio] | None = None  # the pause no voice followed
    for start in range(0, pcm.size, step):
        sent = min(pcm.size, start + step)
        for signal in audio.append(pcm[start:sent].astype(np.float32) / 32768.0, RATE):
            at = sent / RATE - voice_end_s  # when this append went out, after the voice
            if isinstance(signal, VoiceFading):
                fade = at
            elif isinstance(signal, SpeechResumed):
                fade, last = None, None
            elif isinstance(signal, PauseStarted):
                # (Before the voice's end where the VAD heard the last "voiced" frames, a
                # breath or a murmur above the amplitude floor, as no speech.)
                last = (fade, at, audio.peek(0).copy())
    if last is None:
        raise RuntimeError(f"turn {turn.name}: no pause after the voice")
    return last


async def _first_chunk(engines: Engines, text: str) -> tuple[float, str]:
    """Seconds from the request to the LLM's first speakable chunk, and the chunk."""
    system = ChatMessage("system", DEFAULT_INSTRUCTIONS)
    words = text.split()
    if isinstance(engines.llm, PromptWarming) and len(words) > WARM_ALL_BUT:
        agreed = " ".join(words[:-WARM_ALL_BUT])
        await engines.llm.warm(LLMRequest([system, ChatMessage("user", agreed)]))
    chunker = SentenceChunker()
    request = LLMRequest([system, ChatMessage("user", text)], max_tokens=48)
    started = time.perf_counter()
    async for event in engines.llm.stream(request, priority=Priority.FIRST_AUDIO):
        if isinstance(event, TextDelta) and (chunks := chunker.feed(event.text)):
            return time.perf_counter() - started, chunks[0]
    return time.perf_counter() - started, " ".join(chunker.flush())


async def _first_audio(engines: Engines, text: str) -> float:
    started = time.perf_counter()
    first: float | None = None
    async for _ in engines.tts.synthesize(text, voice=VOICE, priority=Priority.FIRST_AUDIO):
        first = first or time.perf_counter() - started  # the rest is synthesized, untimed
    assert first is not None, "the TTS spoke nothing"
    return first


async def measure(engines: Engines, turn: HumanTurn) -> TurnFloor:
    fade, pause, audio = _pause_points(engines, turn)
    samples = stt_audio(engines.stt, audio, engines.vad.capabilities.sample_rate)
    started = time.perf_counter()
    transcript = await engines.stt.transcribe(samples, language="en", priority=Priority.FIRST_AUDIO)
    stt_s = time.perf_counter() - started
    llm_s, chunk = await _first_chunk(engines, transcript.text or turn.text)
    tts_s = await _first_audio(engines, chunk or "Okay.")
    return TurnFloor(turn.name, fade, pause, stt_s, llm_s, tts_s, chunk)


def _summary(floors: list[TurnFloor]) -> dict[str, Any]:
    def stat(values: list[float]) -> dict[str, float]:
        return {"median": round(median(values), 4), "p95": round(percentile(values, 95), 4)}

    fades = [f.from_fade_s for f in floors if f.from_fade_s is not None]
    return {
        "fade_s": stat([f.fade_s for f in floors if f.fade_s is not None]),
        "pause_s": stat([f.pause_s for f in floors]),
        "stt_s": stat([f.stt_s for f in floors]),
        "llm_first_chunk_s": stat([f.llm_first_chunk_s for f in floors]),
        "tts_first_audio_s": stat([f.tts_first_audio_s for f in floors]),
        "chain_s": stat([f.chain_s for f in floors]),
        "voice_to_audio_from_pause_s": stat([f.from_pause_s for f in floors]),
        "voice_to_audio_from_fade_s": stat(fades),
        "semantic_high_turn_end_s": stat([f.turn_end_high_s for f in floors]),
        "semantic_high_voice_to_audio_s": stat([f.semantic_high_s for f in floors]),
        "semantic_high_from_unconfirmed_guess_s": stat(
            [g for f in floors if (g := f.semantic_high_guess_s) is not None]
        ),
    }


async def main_async(turns: int) -> dict[str, Any]:
    engines = build_engines()
    chosen = human_turns(RATE)[:turns]
    for turn in chosen[:2]:  # warm every model's first-call paths
        await measure(engines, turn)
    floors = [await measure(engines, turn) for turn in chosen]
    rows = [
        (
            f.name,
            f.fade_s if f.fade_s is not None else "-",
            f.pause_s,
            f.stt_s,
            f.llm_first_chunk_s,
            f.tts_first_audio_s,
            f.from_pause_s,
            f.semantic_high_s,
            f.first_chunk,
        )
        for f in floors
    ]
    print_table(
        "each stage alone, s (fade / pause: after the voice's end)",
        (
            "turn",
            "fade",
            "pause",
            "STT",
            "LLM chunk",
            "TTS audio",
            "voice→audio",
            "sem-high",
            "chunk",
        ),
        rows,
    )
    summary = _summary(floors)
    print_table(
        "medians / p95 (s)",
        ("figure", "median", "p95"),
        [(k, v["median"], v["p95"]) for k, v in summary.items()],
    )
    return {"turns": [asdict(f) for f in floors], "summary": summary}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=24, help="shipped human turns to run")
    args = parser.parse_args()
    load = os.getloadavg()
    print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    result = asyncio.run(main_async(args.turns))
    path = write_json("chain_floor", {"load_average_at_start": list(load), **result})
    print(f"wrote {path} ({machine()['cpu']})")


if __name__ == "__main__":
    main()

"""Per-stage latency of the embedded engine for one ~3 s spoken question.

    .venv/bin/python -m bench.engine_stages [--runs 5]

Median over several warm runs of: STT time, LLM first-token and full-reply time, TTS
first-sentence and full time, with real-time factors (processing time / audio time).
Prints a table and writes bench/results/engine_stages.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

from tests.support.speech import speech

from realtime2.engine.config import EngineSettings
from realtime2.engine.interfaces import ChatMessage, Engines, LLMRequest, TextDelta
from realtime2.engine.registry import build_engines

QUESTION = "What is the weather usually like in London in the spring?"
SYSTEM = "You are a helpful voice assistant. Answer in two short sentences."
RESULTS = Path(__file__).resolve().parent / "results" / "engine_stages.json"


async def one_run(engines: Engines, audio: Any) -> dict[str, float]:
    out: dict[str, float] = {}
    started = time.perf_counter()
    transcript = await engines.stt.transcribe(audio, language="en")
    out["stt_s"] = time.perf_counter() - started

    request = LLMRequest(
        [ChatMessage("system", SYSTEM), ChatMessage("user", transcript.text)], max_tokens=60
    )
    started = time.perf_counter()
    reply: list[str] = []
    async for event in engines.llm.stream(request):
        if isinstance(event, TextDelta):
            out.setdefault("llm_first_token_s", time.perf_counter() - started)
            reply.append(event.text)
    out["llm_full_s"] = time.perf_counter() - started
    out["llm_tokens"] = float(len(reply))

    text = "".join(reply).strip() or "I am not sure."
    started = time.perf_counter()
    audio_seconds = 0.0
    async for chunk in engines.tts.synthesize(text, voice="marin"):
        out.setdefault("tts_first_sentence_s", time.perf_counter() - started)
        audio_seconds += chunk.duration_s
    out["tts_full_s"] = time.perf_counter() - started
    out["tts_audio_s"] = audio_seconds
    return out


async def main(runs: int) -> dict[str, Any]:
    started = time.perf_counter()
    engines = build_engines(EngineSettings())
    load_s = time.perf_counter() - started
    audio = speech(QUESTION, 16000)
    audio_s = audio.size / 16000
    await one_run(engines, audio)  # warm-up, not counted
    samples = [await one_run(engines, audio) for _ in range(runs)]
    median = {key: statistics.median(s[key] for s in samples) for key in samples[0]}
    median["stt_rtf"] = median["stt_s"] / audio_s
    median["llm_tokens_per_s"] = median["llm_tokens"] / max(median["llm_full_s"], 1e-9)
    median["tts_rtf"] = median["tts_full_s"] / max(median["tts_audio_s"], 1e-9)
    return {
        "question_audio_s": round(audio_s, 3),
        "runs": runs,
        "load_s": round(load_s, 3),
        "median": {k: round(v, 4) for k, v in median.items()},
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_avg_1m": os.getloadavg()[0],
        },
    }


def print_table(result: dict[str, Any]) -> None:
    m = result["median"]
    rows = [
        ("question audio", f"{result['question_audio_s']:.2f} s"),
        ("models load (all)", f"{result['load_s']:.2f} s"),
        ("STT", f"{m['stt_s'] * 1000:.0f} ms  (RTF {m['stt_rtf']:.3f})"),
        ("LLM first token", f"{m['llm_first_token_s'] * 1000:.0f} ms"),
        ("LLM full reply", f"{m['llm_full_s'] * 1000:.0f} ms  ({m['llm_tokens_per_s']:.0f} tok/s)"),
        ("TTS first sentence", f"{m['tts_first_sentence_s'] * 1000:.0f} ms"),
        ("TTS full", f"{m['tts_full_s'] * 1000:.0f} ms  (RTF {m['tts_rtf']:.3f})"),
    ]
    load = result["machine"]["load_avg_1m"]
    print(f"engine stages, median of {result['runs']} runs (load avg {load:.1f})")
    for name, value in rows:
        print(f"  {name:<20} {value}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    result = asyncio.run(main(args.runs))
    print_table(result)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")

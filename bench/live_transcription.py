"""Live transcription: words arriving while the person is still speaking (issue 16).

    .venv/bin/python -m bench.live_transcription                    # 1 session, 1 passage
    .venv/bin/python -m bench.live_transcription --sessions 4 --minutes 2
    .venv/bin/python -m bench.live_transcription --delay xhigh      # steadier, later words
    .venv/bin/python -m bench.live_transcription --live off         # the old path (baseline)

and that spoken turns' first audio holds with input transcription live (it is on in
bench.realtime_latency's sessions; REALTIME2_STT_LIVE=false turns it off for the baseline):

    REALTIME2_STT_LIVE=true .venv/bin/python -m bench.realtime_latency --sessions 4
    REALTIME2_STT_LIVE=false .venv/bin/python -m bench.realtime_latency --sessions 4

Each session opens `/v1/realtime?intent=transcription` (model `gpt-realtime-whisper`,
server VAD with a 2 s silence window, so a read passage is one turn) and streams recorded
human speech at real-time pace, 20 ms per append: the first ~39 s of the Asterisk read
passage in tests/support/speech_data (its sentences `instruct-01`..`05`), repeated with a
3 s gap until `--minutes` of audio have been sent. Per passage (turn) it reports:

- `first`: the first voiced audio sent → the first transcription delta received;
- `early`: the share of the final transcript's words that arrived as deltas before the
  last voiced audio was sent;
- `cadence`: median gap between deltas while speaking;
- `lag`: for each delta, when it arrived minus when its last word was spoken (word times
  spread evenly over the voiced span): median and max per turn; the 2-minute run shows
  whether it grows;
- `wer`: the `completed` transcript against the passage's text, next to the same STT
  transcribing the whole passage at once (`batch`);
- `cpu/s`: this process's CPU seconds (server and clients) per second of audio sent, all
  sessions together.

Results go to `bench/results/live_transcription.json`, keyed by sessions, delay and mode,
with the load average at the start.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tests.support.human_speech import human_turns
from tests.support.wer import normalize, wer

from bench.common import RATE, LiveServer, Talker, live_server, new_key

PASSAGE = ("instruct-01", "instruct-02", "instruct-03", "instruct-04", "instruct-05")
RESULTS = Path(__file__).resolve().parent / "results" / "live_transcription.json"
GAP_MS = 3000  # silence between passages: longer than the 2 s window, so each is a turn
SILENCE_MS = 2000


@dataclass
class Turn:
    first_delta_s: float | None
    early_share: float
    cadence_s: float | None
    lag_median_s: float | None
    lag_max_s: float | None
    wer: float
    deltas: int
    words: int
    concat_ok: bool  # completed == the deltas joined
    hypotheses: int = 0  # live hypotheses decoded during the turn


@dataclass
class SessionResult:
    turns: list[Turn] = field(default_factory=list)


def passage() -> tuple[bytes, str, int, int]:
    """The passage at 24 kHz: pcm, reference text, first and last voiced sample."""
    turns = {t.name: t for t in human_turns(RATE)}
    pcm = b"".join(turns[name].pcm for name in PASSAGE)
    text = " ".join(turns[name].text for name in PASSAGE)
    samples = np.abs(np.frombuffer(pcm, dtype="<i2").astype(np.int32))
    voiced = np.flatnonzero(samples > 500)
    return pcm, text, int(voiced[0]), int(voiced[-1]) + 1


async def batch_transcript(live: LiveServer, pcm: bytes) -> str:
    """The same STT on the whole passage at once (faster-whisper's own long-audio path)."""
    from realtime2.audio.resample import resample

    stt = live.services.engines.engines.stt
    audio = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
    audio = resample(audio, RATE, stt.capabilities.sample_rate)
    result = await stt.transcribe(audio, language="en")
    return str(result.text)


async def run_session(
    live: LiveServer,
    index: int,
    args: argparse.Namespace,
    pcm: bytes,
    text: str,
    span: tuple[int, int],
) -> SessionResult:
    _, key = await new_key(live.services, credits=10_000_000)
    out = SessionResult()
    async with Talker.open(live.ws_url + "?intent=transcription", key) as talker:
        created = talker.events[await talker.wait_for("session.created")][1]
        runner = next(r for r in live.runners if r.session.id == created["session"]["id"])
        if args.live == "off":
            runner.session.turns._live_capable = False
        transcription: dict[str, Any] = {"model": "gpt-realtime-whisper", "language": "en"}
        if args.delay:
            transcription["delay"] = args.delay
        await talker.send(
            {
                "type": "session.update",
                "session": {
                    "type": "transcription",
                    "audio": {
                        "input": {
                            "transcription": transcription,
                            "turn_detection": {
                                "type": "server_vad",
                                "silence_duration_ms": SILENCE_MS,
                            },
                        }
                    },
                },
            }
        )
        await talker.wait_for("session.updated")
        await asyncio.sleep(random.Random(index).uniform(0, 3.0) if args.sessions > 1 else 0)
        gap = b"\0" * (RATE * GAP_MS // 1000 * 2)
        passes = max(1, round(args.minutes * 60 / (len(pcm) / 2 / RATE + GAP_MS / 1000)))
        for _ in range(passes):
            mark = len(talker.events)
            before = runner.live_hypotheses
            started = time.perf_counter()
            await talker.stream(pcm + gap)
            done = await talker.wait_for(
                "conversation.item.input_audio_transcription.completed", mark, limit_s=300
            )
            turn = measure(talker.events[mark : done + 1], started, text, span)
            turn.hypotheses = runner.live_hypotheses - before
            out.turns.append(turn)
    return out


def measure(
    events: list[tuple[float, dict[str, Any]]], started: float, text: str, span: tuple[int, int]
) -> Turn:
    voice_start = started + span[0] / RATE
    voice_end = started + span[1] / RATE
    deltas = [
        (at, e["delta"])
        for at, e in events
        if e["type"] == "conversation.item.input_audio_transcription.delta"
    ]
    completed = events[-1][1]["transcript"]
    words = len(completed.split())
    early = sum(len(d.split()) for at, d in deltas if at <= voice_end)
    times = [at for at, _ in deltas if at <= voice_end]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    lags: list[float] = []
    count = 0
    for at, delta in deltas:
        count += len(delta.split())
        spoken = voice_start + (voice_end - voice_start) * min(1.0, count / max(1, words))
        lags.append(at - spoken)
    return Turn(
        first_delta_s=deltas[0][0] - voice_start if deltas else None,
        early_share=early / max(1, words),
        cadence_s=statistics.median(gaps) if gaps else None,
        lag_median_s=statistics.median(lags) if lags else None,
        lag_max_s=max(lags) if lags else None,
        wer=wer(text, completed),
        deltas=len(deltas),
        words=words,
        concat_ok="".join(d for _, d in deltas) == completed,
    )


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    pcm, text, first, last = passage()
    load = os.getloadavg()
    async with live_server(speculative=not args.no_speculative) as live:
        batch = await batch_transcript(live, pcm)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        results = await asyncio.gather(
            *(run_session(live, i, args, pcm, text, (first, last)) for i in range(args.sessions))
        )
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        hypotheses = sum(r.live_hypotheses for r in live.runners)
    turns = [t for r in results for t in r.turns]
    audio_s = len(turns) * len(pcm) / 2 / RATE
    return {
        "sessions": args.sessions,
        "delay": args.delay or "default",
        "live": args.live,
        "load_at_start": [round(x, 2) for x in load],
        "passage_s": round(len(pcm) / 2 / RATE, 2),
        "passage_words": len(normalize(text)),
        "batch_wer": round(wer(text, batch), 4),
        "cpu_per_audio_s": round(cpu / audio_s, 3),
        "wall_s": round(wall, 1),
        "hypotheses": hypotheses,
        "turns": [asdict(t) for t in turns],
        "per_session_turns": [[asdict(t) for t in r.turns] for r in results],
    }


def _med(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def _f(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def report(result: dict[str, Any]) -> None:
    turns = result["turns"]
    print(
        f"sessions={result['sessions']} delay={result['delay']} live={result['live']} "
        f"load at start={result['load_at_start']} passage={result['passage_s']} s "
        f"({result['passage_words']} words)"
    )
    print("s/turn  first  early  cadence  lag(med)  lag(max)  wer    deltas  hyps  concat")
    labelled = [
        (f"{i}/{j}", t)
        for i, session in enumerate(result["per_session_turns"])
        for j, t in enumerate(session)
    ]
    for label, t in labelled:
        print(
            f"{label:>6}  {_f(t['first_delta_s']):>5}  {t['early_share']:>5.0%}  "
            f"{_f(t['cadence_s']):>7}  {_f(t['lag_median_s']):>8}  {_f(t['lag_max_s']):>8}  "
            f"{t['wer']:.3f}  {t['deltas']:>6}  {t['hypotheses']:>4}  {t['concat_ok']}"
        )
    print(
        f"median: first {_f(_med([t['first_delta_s'] for t in turns]))} s, early "
        f"{_f(_med([t['early_share'] for t in turns]))}, wer "
        f"{_f(_med([t['wer'] for t in turns]), 3)} (batch {result['batch_wer']:.3f}), "
        f"cpu/s {result['cpu_per_audio_s']}, hypotheses {result['hypotheses']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=1)
    parser.add_argument("--minutes", type=float, default=0.0, help="0: one passage")
    parser.add_argument("--delay", choices=["minimal", "low", "medium", "high", "xhigh"])
    parser.add_argument("--live", choices=["on", "off"], default="on")
    parser.add_argument("--no-speculative", action="store_true", help="drafts off")
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args()
    result = asyncio.run(bench(args))
    report(result)
    if not args.no_save:
        RESULTS.parent.mkdir(exist_ok=True)
        saved = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        key = f"{args.sessions}x-{result['delay']}-{args.live}" + (
            f"-{args.minutes:g}min" if args.minutes else ""
        )
        saved[key] = result
        RESULTS.write_text(json.dumps(saved, indent=1) + "\n")


if __name__ == "__main__":
    main()

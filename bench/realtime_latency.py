"""Spoken-turn latency of `/v1/realtime` with the embedded engines, over real WebSockets.

    .venv/bin/python -m bench.realtime_latency                 # 1 session, 10 turns
    .venv/bin/python -m bench.realtime_latency --sessions 4    # 4 sessions talking at once
    .venv/bin/python -m bench.realtime_latency --no-speculative  # drafts off (the old path)
    .venv/bin/python -m bench.realtime_latency --threads 1     # one CPU thread per model
    .venv/bin/python -m bench.realtime_latency --storyteller   # + a neighbour's long replies
    .venv/bin/python -m bench.realtime_latency --sessions 8 --listen  # users hear replies out
    .venv/bin/python -m bench.realtime_latency --speech human  # recorded human speech
    .venv/bin/python -m bench.realtime_latency --speech human --vad semantic-high
    .venv/bin/python -m bench.realtime_latency --speech human --vad semantic-medium --turns 24
    REALTIME2_TURN_BACKEND=none .venv/bin/python -m bench.realtime_latency --speech human \
        --vad semantic-high   # semantic_vad by the transcript's words only (no turn model)

Each session streams speech (Piper questions, or with `--speech human` the recordings of
real people shipped in tests/support/speech_data: a read passage cut at its sentence ends,
questions, LibriVox and JFK clips) at 24 kHz pcm16 in real time in 20 ms chunks, followed
by silence, and waits for the spoken reply. Per turn it measures, on the client:

- `stop→audio`: `input_audio_buffer.speech_stopped` received → first
  `response.output_audio.delta` received (the server's own turn latency);
- `voice→audio`: the chunk holding the last voiced sample sent → first audio delta (what a
  user hears: includes the 500 ms VAD silence window);
- `voice→stop`: the last voiced chunk sent → `speech_stopped` received: how long turn
  detection took to end the turn (the silence window and the VAD's lag), whatever the
  reply then takes; on a busy machine the figure that compares turn detectors.

With human speech it also counts cut-offs: a `speech_stopped` that arrived before the
turn's last voice was sent (the turn ended mid-sentence, at a pause inside it), and names
the turn model `semantic_vad` used (`REALTIME2_TURN_BACKEND`: Smart Turn, or none) with the
number of end-of-turn checks it ran.

From the server it reads every turn's stage timings (`realtime.stages`: pause detected,
first job started, STT done, first LLM text, first sentence, first TTS chunk ready, first
audio sent, CPU-gate waits, model busy time), in seconds from `speech_stopped` (negative:
inside the silence window), and prints their medians.

It also checks that every session was charged exactly its elapsed whole seconds × rate,
prints a table and merges the figures, keyed by session count and mode, into
`bench/results/realtime_latency.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import time
from typing import Any

from bench.common import (
    INSTRUCTIONS,
    QUESTIONS,
    RATE,
    LiveServer,
    Talker,
    TurnResult,
    live_server,
    new_key,
)
from bench.human import human_turn, stage_rows, stage_summary
from bench.report import RESULTS, machine, median, percentile, print_table, write_bar_chart

CREDITS = 100_000
TURN_DETECTION: dict[str, dict[str, Any]] = {
    "server": {"type": "server_vad", "silence_duration_ms": 500},
    "semantic-high": {"type": "semantic_vad", "eagerness": "high"},
    "semantic-medium": {"type": "semantic_vad", "eagerness": "medium"},
    "semantic-low": {"type": "semantic_vad", "eagerness": "low"},
}


async def run_session(
    server: LiveServer,
    index: int,
    turns: int,
    chunk_ms: int,
    listen: bool = False,
    speech: str = "piper",
    vad: str = "server",
) -> dict[str, Any]:
    from tests.support.human_speech import human_turns
    from tests.support.speech import speech_pcm16

    services = server.services
    user_id, key = await new_key(services, CREDITS)
    rate = services.settings.resolved_rates()["realtime-mini"]
    await asyncio.sleep(index * 0.37)  # sessions out of lockstep, as real users are
    results: list[TurnResult] = []
    opened = time.monotonic()
    async with Talker.open(
        server.ws_url + "?model=realtime-mini", key, chunk_ms=chunk_ms
    ) as talker:
        await talker.wait_for("session.created")
        await talker.send(
            {
                "type": "session.update",
                "session": {
                    "type": "realtime",
                    "instructions": INSTRUCTIONS,
                    "audio": {
                        "input": {
                            "transcription": {"model": "whisper-1"},
                            "turn_detection": TURN_DETECTION[vad],
                        }
                    },
                },
            }
        )
        await talker.wait_for("session.updated")
        recorded = await asyncio.to_thread(human_turns, RATE) if speech == "human" else []
        # semantic_vad waits up to 2/4/8 s (high/medium/low) when the turn sounds unfinished.
        tail_ms = {"semantic-high": 2300, "semantic-medium": 4300, "semantic-low": 8300}.get(
            vad, 900
        )
        for turn in range(turns):
            try:
                if speech == "human":
                    said = recorded[(turn + 5 * index) % len(recorded)]
                    results.append(await human_turn(talker, said, tail_ms=tail_ms, listen=listen))
                    continue
                question = QUESTIONS[(turn + index) % len(QUESTIONS)]
                pcm = await asyncio.to_thread(speech_pcm16, question, RATE)
                results.append(await talker.spoken_turn(pcm, tail_ms=tail_ms, listen=listen))
            except TimeoutError:
                _write_trail(talker, index, turn)
                raise
    elapsed = time.monotonic() - opened
    charged = await _charged(services, user_id)
    return {
        "session": index,
        "turns": results,
        "elapsed": elapsed,
        "charged": charged,
        "rate": rate,
    }


def _write_trail(talker: Talker, session: int, turn: int) -> None:
    """A turn got no reply in time: keep the session's event trail (audio left out) to see
    where it stopped, in results/stuck_session_<n>.json."""
    start = talker.events[0][0] if talker.events else 0.0
    trail = [
        {"t": round(at - start, 3), **{k: v for k, v in event.items() if k != "delta"}}
        for at, event in talker.events
    ]
    path = RESULTS / f"stuck_session_{session}.json"
    path.write_text(json.dumps({"session": session, "turn": turn, "events": trail}, indent=1))
    print(f"session {session} turn {turn}: no reply in time; its events are in {path}")


STORY = "Tell me a long story about a dragon who learns to bake bread, in at least ten sentences."


async def storyteller(server: LiveServer, stop: asyncio.Event) -> int:
    """A neighbour that keeps asking for long spoken answers; returns how many it got.

    With `--storyteller`, the measured sessions talk while this one's long replies keep the
    LLM and TTS busy: their first audio should be delayed by at most one TTS sentence.
    """
    _, key = await new_key(server.services, CREDITS)
    replies = 0
    async with Talker.open(server.ws_url + "?model=realtime-mini", key) as talker:
        await talker.wait_for("session.created")
        while not stop.is_set():
            mark = len(talker.events)
            await talker.send(
                {
                    "type": "response.create",
                    "response": {"instructions": STORY, "max_output_tokens": 400},
                }
            )
            await talker.wait_for("response.done", mark)
            replies += 1
    return replies


async def _charged(services: Any, user_id: int) -> int:
    """Credits taken once the session's hold is settled (the server settles on close)."""
    deadline = time.monotonic() + 10
    while True:
        balance = await services.ledger.balance(user_id)
        if balance.held == 0 or time.monotonic() > deadline:
            return int(CREDITS - balance.posted)
        await asyncio.sleep(0.05)


def summarize(sessions: list[dict[str, Any]], runners: list[Any]) -> dict[str, Any]:
    stages = [turn.breakdown() for r in runners for turn in getattr(r, "turn_stages", [])]
    stop, voice, ended, bad = [], [], [], 0
    for s in sessions:
        for t in s["turns"]:
            if t.first_audio is None or t.speech_stopped is None or t.status != "completed":
                bad += 1
                continue
            stop.append(t.first_audio - t.speech_stopped)
            voice.append(t.first_audio - t.voice_end_sent)
            ended.append(t.speech_stopped - t.voice_end_sent)
    firsts = [s["turns"][0] for s in sessions if s["turns"]]
    first = [t.first_audio - t.speech_stopped for t in firsts if t.first_audio and t.speech_stopped]
    later = [
        t.first_audio - t.speech_stopped
        for s in sessions
        for t in s["turns"][1:]
        if t.first_audio is not None and t.speech_stopped is not None
    ]
    tokens = [t for s in sessions for t in s["turns"] if t.input_tokens]
    prompt = sum(t.input_tokens for t in tokens)
    cached = sum(t.cached_tokens for t in tokens)
    billing = []
    for s in sessions:
        expected_low = math.ceil(s["elapsed"] - 1.0) * s["rate"]  # server time ⊂ client time
        expected_high = math.ceil(s["elapsed"]) * s["rate"]
        billing.append(
            {
                "session": s["session"],
                "elapsed_s": round(s["elapsed"], 3),
                "charged": s["charged"],
                "rate": s["rate"],
                "ok": expected_low <= s["charged"] <= expected_high,
            }
        )
    return {
        "turns": len(stop),
        "failed_turns": bad,
        "stop_to_audio_s": {"median": median(stop), "p95": percentile(stop, 95), "all": stop},
        "voice_to_audio_s": {"median": median(voice), "p95": percentile(voice, 95), "all": voice},
        "voice_to_stop_s": {"median": median(ended), "p95": percentile(ended, 95), "all": ended},
        "first_turn_stop_to_audio_s": first,
        "later_turns_stop_to_audio_s": {"median": median(later) if later else None},
        "prompt_tokens": prompt,
        "cached_prompt_tokens": cached,
        "drafts_prepared": sum(getattr(r, "drafts_prepared", 0) for r in runners),
        "drafts_adopted": sum(getattr(r, "drafts_adopted", 0) for r in runners),
        "drafts_audio_ready": sum(getattr(r, "drafts_audio_ready", 0) for r in runners),
        # Early drafts that began their reply on the words up to the fade, and those whose
        # guess was the pause's transcript (realtime.draft_runner).
        "draft_guesses": sum(getattr(r.drafts, "guessed", 0) for r in runners),
        "draft_guesses_kept": sum(getattr(r.drafts, "guesses_kept", 0) for r in runners),
        "turn_model": next(
            (r.engines.turn.name for r in runners if getattr(r.engines, "turn", None)), None
        ),
        "turn_checks": sum(
            r.turn_checks.checks for r in runners if getattr(r, "turn_checks", None) is not None
        ),
        # pause start (check sent) → the model's answer in the session
        "turn_check_s": _spread(
            [x for r in runners if getattr(r, "turn_checks", None) for x in r.turn_checks.latencies]
        ),
        # replies with a gap once they started playing, and the median gap of those
        "replies_stalled": sum(1 for s in sessions for t in s["turns"] if t.stall_s > 0.0),
        "stall_s": _spread([t.stall_s for s in sessions for t in s["turns"] if t.stall_s > 0.0]),
        "stalled_turns": [
            [getattr(t, "name", ""), round(t.stall_s, 3)]
            for s in sessions
            for t in s["turns"]
            if t.stall_s > 0.0
        ],
        "cut_offs": sum(getattr(t, "cut_offs", 0) for s in sessions for t in s["turns"]),
        "cut_off_turns": [
            t.name for s in sessions for t in s["turns"] if getattr(t, "cut_offs", 0)
        ],
        "stages": stage_summary(stages),
        "stages_per_turn": stages,
        "billing": billing,
        "billing_ok": all(b["ok"] for b in billing),
    }


def _spread(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"median": None, "p95": None}
    return {"median": median(values), "p95": percentile(values, 95)}


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    async with live_server(speculative=args.speculative) as server:
        if not args.first_turn:
            # One untimed turn warms the models (first decode allocates, caches fill).
            await run_session(server, 99, 1, args.chunk_ms, vad=args.vad)
        server.runners.clear()
        stop = asyncio.Event()
        neighbour = asyncio.ensure_future(storyteller(server, stop)) if args.storyteller else None
        if neighbour is not None:
            await asyncio.sleep(3.0)  # its first long reply is under way
        sessions = await asyncio.gather(
            *(
                run_session(
                    server, i, args.turns, args.chunk_ms, args.listen, args.speech, args.vad
                )
                for i in range(args.sessions)
            )
        )
        stop.set()
        talkers = [
            r
            for r in server.runners
            if getattr(r, "drafts_prepared", 0) or getattr(r, "turn_stages", None)
        ]
        summary = summarize(list(sessions), talkers)
        if neighbour is not None:
            summary["storyteller_replies"] = await neighbour
        return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=1, help="concurrent talking sessions")
    parser.add_argument("--turns", type=int, default=10, help="spoken turns per session")
    parser.add_argument("--chunk-ms", type=int, default=20, help="audio per append event")
    parser.add_argument(
        "--no-speculative", dest="speculative", action="store_false", help="drafts off"
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="REALTIME2_THREADS for every model"
    )
    parser.add_argument(
        "--listen",
        action="store_true",
        help="each user hears the reply out (its audio length) before speaking again",
    )
    parser.add_argument(
        "--first-turn",
        action="store_true",
        help="no untimed turn first: is turn 1 after `/readyz` as fast as the rest?",
    )
    parser.add_argument(
        "--speech",
        choices=("piper", "human"),
        default="piper",
        help="piper: synthetic questions; human: the recordings in tests/support/speech_data",
    )
    parser.add_argument(
        "--vad",
        choices=tuple(TURN_DETECTION),
        default="server",
        help="turn detection: server_vad 500 ms, or semantic_vad with that eagerness",
    )
    parser.add_argument(
        "--storyteller",
        action="store_true",
        help="one more session keeps asking for long spoken answers while the others talk",
    )
    args = parser.parse_args()
    if args.threads is not None:
        os.environ["REALTIME2_THREADS"] = str(args.threads)
    load = os.getloadavg()  # at the start: the machine's other work, not this run's
    print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    summary = asyncio.run(main_async(args))
    mode = "speculative" if args.speculative else "no-speculative"
    if args.speech != "piper":
        mode += f",speech={args.speech}"
    if args.vad != "server":
        mode += f",vad={args.vad}"
        turn_backend = os.environ.get("REALTIME2_TURN_BACKEND")
        if turn_backend:  # e.g. none: the words-only semantic_vad, to compare with the model
            mode += f",turn={turn_backend}"
    if args.threads is not None:
        mode += f",threads={args.threads}"
    if args.storyteller:
        mode += ",storyteller"
    if args.listen:
        mode += ",listen"
    if args.first_turn:
        mode += ",first-turn"
        first, later = summary["first_turn_stop_to_audio_s"], summary["later_turns_stop_to_audio_s"]
        print(f"speech_stopped → first audio: first turn after ready {first}, later turns {later}")
    stop, voice = summary["stop_to_audio_s"], summary["voice_to_audio_s"]
    ended = summary["voice_to_stop_s"]
    print_table(
        f"realtime spoken turns ({args.sessions} session(s), {mode})",
        ["metric", "median s", "p95 s", "turns"],
        [
            ["speech_stopped → first audio", stop["median"], stop["p95"], summary["turns"]],
            ["last voice sent → first audio", voice["median"], voice["p95"], summary["turns"]],
            ["last voice sent → speech_stopped", ended["median"], ended["p95"], summary["turns"]],
        ],
    )
    print(
        f"failed turns: {summary['failed_turns']}, drafts adopted/prepared: "
        f"{summary['drafts_adopted']}/{summary['drafts_prepared']} "
        f"({summary['drafts_audio_ready']} with audio ready at speech_stopped), "
        f"replies begun on a guess at the fade: {summary['draft_guesses']} "
        f"({summary['draft_guesses_kept']} kept), "
        f"cached prompt tokens: {summary['cached_prompt_tokens']}/{summary['prompt_tokens']}, "
        f"billing exact: {summary['billing_ok']}, "
        f"replies with a playback gap: {summary['replies_stalled']} "
        f"(median gap {summary['stall_s']['median']} s), "
        f"cut off mid-turn: {summary['cut_offs']} {summary['cut_off_turns'] or ''}, "
        f"turn model: {summary['turn_model'] or 'none (words)'} "
        f"({summary['turn_checks']} checks, answered in {summary['turn_check_s']['median']} s "
        f"median, {summary['turn_check_s']['p95']} s p95)"
        + (f", storyteller replies: {summary['storyteller_replies']}" if args.storyteller else "")
    )
    st = summary["stages"]
    print_table(
        f"stage breakdown, s from speech_stopped (negative: inside the silence window); "
        f"{st['drafted']}/{st['turns']} drafted, "
        f"{st['audio_ready_at_stop']} with audio ready at speech_stopped",
        ["stage", "median", "p95", "turns"],
        stage_rows(st),
    )
    path = RESULTS / "realtime_latency.json"
    data: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    data.setdefault("runs", {})[f"sessions={args.sessions},{mode}"] = {
        "machine": machine(),
        "load_average_at_start": [round(x, 2) for x in load],
        "turns_per_session": args.turns,
        "chunk_ms": args.chunk_ms,
        **summary,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
    runs = data["runs"]
    chart = write_bar_chart(
        "realtime_latency",
        "speech_stopped → first audio (every recorded run)",
        list(runs),
        {
            "median s": [r["stop_to_audio_s"]["median"] for r in runs.values()],
            "p95 s": [r["stop_to_audio_s"]["p95"] for r in runs.values()],
        },
        "seconds",
    )
    print(f"wrote {path} and {chart.name}")
    if not summary["billing_ok"] or summary["failed_turns"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()

"""Whether one long realtime session's server memory stays flat (apart from its text).

    .venv/bin/python -m bench.long_session [--minutes 60] [--turn-every 20] [--speed 20]

Starts the real server in a subprocess (embedded engines loaded, SQLite in a temporary
directory, the demo account), so its resident memory is read from /proc/PID/status with
nothing of the client mixed in. Opens ONE `/v1/realtime?model=realtime-mini` WebSocket
session, turns input transcription on, limits replies to one short sentence
(`max_output_tokens`), and streams `--minutes` of session audio (24 kHz pcm16 in
`input_audio_buffer.append` events) `--speed` times faster than real time; server_vad
runs on audio time, so the turns are the same as at real time. Every `--turn-every`
seconds of audio is one spoken question (Piper speech, cycling through 10 questions)
followed by silence; after the question's trailing silence the feed pauses until that
turn's `response.done`, then the rest of the slot's silence goes out.

After every turn it samples the server's VmRSS (and VmHWM at the end) and the
conversation's text so far (user transcripts + reply transcripts received). The verdict
is RSS growth from the end of warm-up (the 10-minute mark) to the end, in MB and MB per
hour of session audio, next to the text size. It also checks the session was charged
exactly its elapsed whole wall-clock seconds × rate (billing is by seconds connected, not
by audio time). Exit status is non-zero if growth exceeds `--max-growth-mb`, a turn
failed, or billing was off. Writes `bench/results/long_session.json` and a PNG.

Diagnostics: `--prompt-cache-mb N` sets the server's REALTIME2_LLM_PROMPT_CACHE_MB (0 = no
saved KV caches); `--tracemalloc` runs the server under tracemalloc and prints what Python
allocated between the warm-up mark and the end, by source line (slower; its own overhead
inflates RSS, so do not quote RSS from such a run).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import math
import os
import re
import signal
import subprocess
import tempfile
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from bench.common import INSTRUCTIONS, QUESTIONS, RATE
from bench.idle_sessions import start_server
from bench.report import median, percentile, print_table, write_bar_chart, write_json

ROOT = Path(__file__).resolve().parents[1]
LEAD_MS = 300  # silence before each question
TAIL_MS = 1200  # the question's trailing silence: the 500 ms VAD window and some margin
TURN_LIMIT_S = 120.0  # the most one reply may take (wall time)


# Imported by the server process (PYTHONPATH) with --tracemalloc: SIGUSR1 dumps a snapshot.
SITECUSTOMIZE = """
import gc, os, signal, tracemalloc
_path = os.environ.get("RT2_BENCH_TRACEMALLOC")
if _path:
    tracemalloc.start()
    def _dump(signum, frame, _n=[0]):
        gc.collect()
        _n[0] += 1
        tracemalloc.take_snapshot().dump(f"{_path}.{_n[0]}.tmp")
        os.replace(f"{_path}.{_n[0]}.tmp", f"{_path}.{_n[0]}")
    signal.signal(signal.SIGUSR1, _dump)
"""


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    snapshots: Path | None  # where --tracemalloc snapshots go (None: not tracing)
    dumped: list[Path] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def dump(self) -> None:
        """Ask the server for a tracemalloc snapshot and wait until it is written."""
        if self.snapshots is None:
            return
        path = Path(f"{self.snapshots}.{len(self.dumped) + 1}")
        self.proc.send_signal(signal.SIGUSR1)
        for _ in range(1200):
            if await asyncio.to_thread(path.exists):
                self.dumped.append(path)
                return
            await asyncio.sleep(0.1)
        raise RuntimeError("the server wrote no tracemalloc snapshot")


def traced_growth(before: Path, after: Path, top: int = 12) -> list[dict[str, Any]]:
    """Python allocations that grew between two snapshots, biggest first, by source line."""
    ignore = [tracemalloc.Filter(False, "<frozen importlib._bootstrap*>")]
    old = tracemalloc.Snapshot.load(str(before)).filter_traces(ignore)
    new = tracemalloc.Snapshot.load(str(after)).filter_traces(ignore)
    stats = new.compare_to(old, "lineno")
    return [
        {
            "where": f"{s.traceback[0].filename.split('site-packages/')[-1]}:"
            f"{s.traceback[0].lineno}",
            "mb_diff": round(s.size_diff / 2**20, 3),
            "count_diff": s.count_diff,
            "mb_now": round(s.size / 2**20, 3),
        }
        for s in stats[:top]
    ]


def proc_status_mb(pid: int, field_name: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field_name} for {pid}")


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


@dataclass
class Turn:
    index: int
    question: str
    audio_end_min: float = 0.0  # session audio sent when the turn's slot was done
    wall_s: float = 0.0  # since the session opened
    rss_mb: float = 0.0
    transcript: str = ""
    reply: str = ""
    status: str = ""
    speech_turns: int = 0  # speech_stopped events the question produced (1 is right)
    reply_s: float = 0.0  # end of the trailing silence sent -> response.done
    text_chars: int = 0  # conversation text so far (transcripts + replies)

    @property
    def ok(self) -> bool:
        return self.status in ("completed", "incomplete") and self.speech_turns == 1

    @property
    def heard_right(self) -> bool:
        return words(self.transcript) == words(self.question)


@dataclass
class Client:
    """One realtime session: reads server events as they come, keeps no audio."""

    ws: ClientConnection
    chunk_ms: int
    speed: float
    sent_samples: int = 0
    user_chars: int = 0
    reply_chars: int = 0
    audio_out_bytes: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    transcripts: list[str] = field(default_factory=list)
    done: list[dict[str, Any]] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def read(self) -> None:
        async for message in self.ws:
            ev = json.loads(message)
            kind = ev["type"]
            self.counts[kind] = self.counts.get(kind, 0) + 1
            if kind == "response.output_audio.delta":
                self.audio_out_bytes += len(ev["delta"]) * 3 // 4
            elif kind == "conversation.item.input_audio_transcription.completed":
                self.transcripts.append(ev["transcript"])
                self.user_chars += len(ev["transcript"])
            elif kind == "response.done":
                reply = reply_text(ev["response"])
                self.reply_chars += len(reply)
                self.done.append(ev["response"])
            elif kind == "error":
                self.errors.append(ev["error"])
            self._changed.set()

    def count(self, kind: str) -> int:
        return self.counts.get(kind, 0)

    async def send(self, event: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(event))

    async def until(self, ready: Any, limit_s: float = TURN_LIMIT_S) -> None:
        deadline = time.perf_counter() + limit_s
        while not ready():
            self._changed.clear()
            left = deadline - time.perf_counter()
            if left <= 0:
                raise TimeoutError(f"no reply within {limit_s} s")
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except TimeoutError:
                continue

    async def stream(self, pcm: bytes) -> None:
        """Send `pcm` (24 kHz s16le) `speed` times faster than real time."""
        step = RATE * self.chunk_ms // 1000 * 2
        start = time.perf_counter()
        period = self.chunk_ms / 1000 / self.speed
        for i, offset in enumerate(range(0, len(pcm), step)):
            delay = start + i * period - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            chunk = pcm[offset : offset + step]
            await self.send(
                {"type": "input_audio_buffer.append", "audio": base64.b64encode(chunk).decode()}
            )
            self.sent_samples += len(chunk) // 2

    @property
    def audio_min(self) -> float:
        return self.sent_samples / RATE / 60


def reply_text(response: dict[str, Any]) -> str:
    parts = []
    for item in response.get("output") or []:
        for part in item.get("content") or []:
            text = part.get("transcript") or part.get("text")
            if text:
                parts.append(str(text))
    return " ".join(parts)


def silence(ms: float) -> bytes:
    return b"\0" * (int(RATE * ms / 1000) * 2)


async def talk(
    ws_url: str, key: str, server: Server, args: argparse.Namespace, speech: list[bytes]
) -> tuple[list[Turn], Client, float, float]:
    """The whole session; returns its turns, the client, RSS at open and wall seconds."""
    pid = server.pid
    warm_min = min(args.warmup_minutes, args.minutes / 2)
    slot = silence(args.turn_every * 1000)
    turns: list[Turn] = []
    total_turns = int(args.minutes * 60 // args.turn_every)
    opened = time.monotonic()
    async with connect(
        ws_url, additional_headers={"Authorization": f"Bearer {key}"}, max_size=None
    ) as ws:
        client = Client(ws, args.chunk_ms, args.speed)
        reader = asyncio.create_task(client.read())
        try:
            await client.until(lambda: client.count("session.created") == 1, 30)
            await client.send(
                {
                    "type": "session.update",
                    "session": {
                        "type": "realtime",
                        "instructions": INSTRUCTIONS,
                        "max_output_tokens": args.max_output_tokens,
                        "audio": {"input": {"transcription": {"model": "whisper-1"}}},
                    },
                }
            )
            await client.until(lambda: client.count("session.updated") == 1, 30)
            rss_open = proc_status_mb(pid, "VmRSS")
            for index in range(total_turns):
                question = QUESTIONS[index % len(QUESTIONS)]
                pcm = speech[index % len(speech)]
                turn = Turn(index, question)
                stopped, done = client.count("input_audio_buffer.speech_stopped"), len(client.done)
                spoken = silence(LEAD_MS) + pcm + silence(TAIL_MS)
                await client.stream(spoken)
                sent = time.perf_counter()
                try:
                    # Every response the question started has finished (normally one).
                    await client.until(
                        lambda d=done: (
                            len(client.done) > d
                            and client.count("response.created") == client.count("response.done")
                        )
                    )
                except TimeoutError:
                    turn.status = "timeout"
                else:
                    turn.reply_s = time.perf_counter() - sent
                    turn.status = client.done[-1]["status"]
                    turn.reply = reply_text(client.done[-1])
                turn.speech_turns = client.count("input_audio_buffer.speech_stopped") - stopped
                # The transcript may land after response.done (it is not waited for).
                await client.stream(slot[len(spoken) :])
                turn.transcript = client.transcripts[-1] if client.transcripts else ""
                turn.audio_end_min = client.audio_min
                turn.wall_s = time.monotonic() - opened
                turn.rss_mb = proc_status_mb(pid, "VmRSS")
                turn.text_chars = client.user_chars + client.reply_chars
                turns.append(turn)
                if not server.dumped and turn.audio_end_min >= warm_min - 1e-9:
                    await server.dump()
                if index % 15 == 14 or index == total_turns - 1:
                    print(
                        f"minute {turn.audio_end_min:5.1f}  turn {index + 1:3d}  "
                        f"rss {turn.rss_mb:6.1f} MB  wall {turn.wall_s:5.0f} s  "
                        f"reply {turn.reply_s:.2f} s  load {os.getloadavg()[0]:.2f}",
                        flush=True,
                    )
                if turn.status == "timeout":
                    break
            await server.dump()  # the end, the session still open
        finally:
            reader.cancel()
    elapsed = time.monotonic() - opened
    return turns, client, rss_open, elapsed


async def charged_credits(http: httpx.AsyncClient, key: str, before: int) -> tuple[int, int]:
    """(credits taken, still held) once the session's hold is settled."""
    headers = {"Authorization": f"Bearer {key}"}
    me: dict[str, Any] = {}
    for _ in range(100):
        me = (await http.get("/api/realtime2/me", headers=headers)).json()
        if me["held"] == 0:
            break
        await asyncio.sleep(0.1)
    return before - int(me["balance"]), int(me["held"])


def rate_now() -> int:
    from realtime2.accounts.pricing import DEFAULT_RATES, REALTIME_MINI

    rates = {**DEFAULT_RATES, **json.loads(os.environ.get("REALTIME2_RATES") or "{}")}
    return int(rates[REALTIME_MINI])


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    from tests.support.speech import speech_pcm16

    speech = [await asyncio.to_thread(speech_pcm16, q, RATE) for q in QUESTIONS]
    longest = max(len(s) for s in speech) / 2 / RATE + (LEAD_MS + TAIL_MS) / 1000
    if args.turn_every < longest:
        raise SystemExit(f"--turn-every must be at least {longest:.1f} s (the longest question)")
    loads: list[tuple[float, float, float]] = [os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="rt2-long-") as tmp_name:
        tmp = Path(tmp_name)
        saved = dict(os.environ)
        if args.prompt_cache_mb is not None:
            os.environ["REALTIME2_LLM_PROMPT_CACHE_MB"] = str(args.prompt_cache_mb)
        if args.tracemalloc:
            (tmp / "sitecustomize.py").write_text(SITECUSTOMIZE)
            os.environ["PYTHONPATH"] = os.pathsep.join([str(tmp), str(ROOT)])
            os.environ["RT2_BENCH_TRACEMALLOC"] = str(tmp / "snapshot")
        try:
            proc, key = start_server(tmp, args.port)
        finally:
            os.environ.clear()
            os.environ.update(saved)
        server = Server(proc, tmp / "snapshot" if args.tracemalloc else None)
        ws_url = f"ws://127.0.0.1:{args.port}/v1/realtime?model=realtime-mini"
        http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{args.port}", timeout=30)
        try:
            await asyncio.sleep(2)
            rss_ready = proc_status_mb(proc.pid, "VmRSS")
            headers = {"Authorization": f"Bearer {key}"}
            before = int((await http.get("/api/realtime2/me", headers=headers)).json()["balance"])
            started = time.monotonic()
            turns, client, rss_open, elapsed = await talk(ws_url, key, server, args, speech)
            wall = time.monotonic() - started
            loads.append(os.getloadavg())
            charged, held = await charged_credits(http, key, before)
            rss_end = proc_status_mb(proc.pid, "VmRSS")
            hwm = proc_status_mb(proc.pid, "VmHWM")
            dumped = server.dumped
            traced = traced_growth(dumped[0], dumped[1]) if len(dumped) >= 2 else []
        finally:
            await http.aclose()
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
    rate = rate_now()
    low, high = math.ceil(elapsed - 1.0) * rate, math.ceil(elapsed) * rate
    return {
        "args": vars(args),
        "turns": turns,
        "client": client,
        "rss_ready_mb": rss_ready,
        "rss_open_mb": rss_open,
        "rss_after_close_mb": rss_end,
        "vm_hwm_mb": hwm,
        "wall_s": wall,
        "session_s": elapsed,
        "billing": {
            "elapsed_s": round(elapsed, 3),
            "rate": rate,
            "charged": charged,
            "held_after": held,
            "expected": [low, high],
            "ok": low <= charged <= high and held == 0,
        },
        "loadavg": {"start": loads[0], "end": loads[-1]},
        "traced_growth": traced,
    }


def at_minute(turns: list[Turn], minute: float) -> Turn:
    """The first turn whose slot ended at or after `minute` of session audio."""
    return next((t for t in turns if t.audio_end_min >= minute - 1e-9), turns[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=60, help="session audio to stream")
    parser.add_argument("--turn-every", type=float, default=20, help="seconds of audio per turn")
    parser.add_argument("--speed", type=float, default=20, help="times faster than real time")
    parser.add_argument("--chunk-ms", type=int, default=100, help="audio per append event")
    parser.add_argument("--max-output-tokens", type=int, default=40)
    parser.add_argument(
        "--warmup-minutes", type=float, default=10, help="growth is measured from here"
    )
    parser.add_argument("--max-growth-mb", type=float, default=50, help="fail above this")
    parser.add_argument(
        "--prompt-cache-mb", type=int, default=None, help="server REALTIME2_LLM_PROMPT_CACHE_MB"
    )
    parser.add_argument(
        "--tracemalloc", action="store_true", help="report the server's Python growth by line"
    )
    parser.add_argument("--port", type=int, default=18437)
    args = parser.parse_args()
    r = asyncio.run(main_async(args))
    turns: list[Turn] = r["turns"]
    client: Client = r["client"]
    if not turns:
        raise SystemExit("no turns ran")
    warm_min = min(args.warmup_minutes, args.minutes / 2)
    warm, last = at_minute(turns, warm_min), turns[-1]
    growth = last.rss_mb - warm.rss_mb
    span_h = max(1e-9, (last.audio_end_min - warm.audio_end_min) / 60)
    text_growth = last.text_chars - warm.text_chars
    # The second half alone: a bounded cache that filled earlier shows as ~0 here, a leak not.
    mid = at_minute(turns, (warm.audio_end_min + last.audio_end_min) / 2)
    late = last.rss_mb - mid.rss_mb
    late_h = max(1e-9, (last.audio_end_min - mid.audio_end_min) / 60)
    step = 5 if args.minutes >= 20 else 1
    marks = [m * step for m in range(1, int(args.minutes // step) + 1)]
    rows: list[list[object]] = [["open", round(r["rss_open_mb"], 1), 0, 0, "-"]]
    for m in marks:
        t = at_minute(turns, m)
        rows.append([m, round(t.rss_mb, 1), t.index + 1, t.text_chars, round(t.wall_s)])
    failed = [t for t in turns if not t.ok]
    heard = sum(t.heard_right for t in turns)
    waits = sorted(t.reply_s for t in turns if t.ok)
    slow = sum(w > 5 for w in waits)
    print_table(
        f"one realtime session, {args.minutes:g} min of audio at {args.speed:g}x, "
        f"a question every {args.turn_every:g} s (server RSS after each turn)",
        ["session minute", "RSS MB", "turns", "text chars", "wall s"],
        rows,
    )
    b = r["billing"]
    load0, load1 = (", ".join(f"{x:.2f}" for x in r["loadavg"][k]) for k in ("start", "end"))
    print(
        f"\nserver RSS: ready {r['rss_ready_mb']:.1f} MB, session open {r['rss_open_mb']:.1f}, "
        f"minute {warm.audio_end_min:.1f} {warm.rss_mb:.1f}, end {last.rss_mb:.1f}, "
        f"after close {r['rss_after_close_mb']:.1f}; VmHWM {r['vm_hwm_mb']:.1f} MB"
    )
    print(
        f"growth from minute {warm.audio_end_min:.1f} to {last.audio_end_min:.1f}: "
        f"{growth:+.1f} MB ({growth / span_h:+.1f} MB/hour of session); from minute "
        f"{mid.audio_end_min:.1f}: {late:+.1f} MB ({late / late_h:+.1f} MB/hour). Conversation "
        f"text over the first span {text_growth} chars ({last.text_chars} in all: "
        f"{client.user_chars} transcript + {client.reply_chars} reply)"
    )
    print(
        f"turns: {len(turns)} ({len(failed)} failed, errors {len(client.errors)}); "
        f"transcripts word-for-word {heard}/{len(turns)}; reply wait median "
        f"{median(waits):.2f} s, p95 {percentile(waits, 95):.2f} s, {slow} over 5 s; "
        f"wall {r['wall_s']:.0f} s; charged {b['charged']} for {b['elapsed_s']} s x "
        f"{b['rate']} (expected {b['expected'][0]}-{b['expected'][1]}): "
        f"{'exact' if b['ok'] else 'OFF'}; load {load0} -> {load1}"
    )
    if r["traced_growth"]:
        print_table(
            f"server Python allocations grown from minute {warm.audio_end_min:.1f} to the end "
            "(tracemalloc, by line)",
            ["where", "MB diff", "blocks diff", "MB now"],
            [[g["where"], g["mb_diff"], g["count_diff"], g["mb_now"]] for g in r["traced_growth"]],
        )
    ok = growth <= args.max_growth_mb and not failed and not client.errors and b["ok"]
    write_json(
        "long_session",
        {
            "args": r["args"],
            "verdict": {
                "ok": ok,
                "max_growth_mb": args.max_growth_mb,
                "from_minute": round(warm.audio_end_min, 2),
                "to_minute": round(last.audio_end_min, 2),
                "rss_from_mb": round(warm.rss_mb, 1),
                "rss_to_mb": round(last.rss_mb, 1),
                "growth_mb": round(growth, 1),
                "growth_mb_per_hour": round(growth / span_h, 1),
                "second_half_from_minute": round(mid.audio_end_min, 2),
                "second_half_growth_mb": round(late, 1),
                "second_half_mb_per_hour": round(late / late_h, 1),
                "text_chars_over_span": text_growth,
            },
            "rss_ready_mb": round(r["rss_ready_mb"], 1),
            "rss_open_mb": round(r["rss_open_mb"], 1),
            "rss_after_close_mb": round(r["rss_after_close_mb"], 1),
            "vm_hwm_mb": round(r["vm_hwm_mb"], 1),
            "turns": len(turns),
            "failed_turns": len(failed),
            "transcripts_word_for_word": heard,
            "reply_wait_s": {
                "median": median(waits),
                "p95": percentile(waits, 95),
                "over_5s": slow,
            },
            "errors": client.errors[:10],
            "text_chars": {"transcripts": client.user_chars, "replies": client.reply_chars},
            "audio_out_bytes": client.audio_out_bytes,
            "wall_s": round(r["wall_s"], 1),
            "billing": b,
            "loadavg": r["loadavg"],
            "traced_growth": r["traced_growth"],
            "per_turn": [
                {
                    "turn": t.index + 1,
                    "minute": round(t.audio_end_min, 3),
                    "wall_s": round(t.wall_s, 2),
                    "rss_mb": round(t.rss_mb, 2),
                    "text_chars": t.text_chars,
                    "reply_s": round(t.reply_s, 3),
                    "status": t.status,
                    "speech_turns": t.speech_turns,
                    "transcript": t.transcript,
                    "reply": t.reply,
                }
                for t in turns
            ],
        },
    )
    write_bar_chart(
        "long_session",
        f"Server RSS during one {args.minutes:g}-minute realtime session "
        f"(a turn every {args.turn_every:g} s)",
        [str(row[0]) for row in rows],
        {"RSS MB": [float(str(row[1])) for row in rows]},
        "MB (x: session minute)",
    )
    print(f"verdict: {'flat' if ok else 'FAILED'} (growth limit {args.max_growth_mb:g} MB)")
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()

"""Gateway relay overhead: `python bench/relay.py` (about a minute).

Three processes on loopback: an echo upstream (answers every `input_audio_buffer.append`
with an audio delta of the same size), a realtime2 gateway relaying `realtime-mini` to it
(engines off, real auth, metering and SQLite ledger), and this client. Each figure is
measured on the same frames both directly against the upstream and through the gateway:

1. added latency per event: one session, 20 ms audio frames sent one at a time; the
   round trip crosses the relay twice (in and out), so per event = round-trip delta / 2;
2. concurrency: N sessions at 50 frames/s each (both ways); N grows until the added
   median per-event latency passes 5 ms (or the levels run out).

Prints a table and writes bench/results/relay.json. Figures depend on the machine; the
client and the upstream share its cores with the gateway, which the direct baseline at
the same N subtracts out only roughly.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "relay.json"
FRAME_PCM = b"\x01\x02" * 480  # 20 ms of 24 kHz pcm16
AUDIO_B64 = base64.b64encode(FRAME_PCM).decode()
LEVELS = (1, 10, 25, 50, 100, 150, 200, 300, 400)
LIMIT_MS = 5.0


# --- the echo upstream (run as a subprocess: `relay.py --echo PORT`) ----------------------


async def _echo(ws: ServerConnection) -> None:
    async for frame in ws:
        if isinstance(frame, str):
            await ws.send(frame.replace("input_audio_buffer.append", "response.output_audio.delta"))


async def echo_server(port: int) -> None:
    async with serve(_echo, "127.0.0.1", port, compression=None, max_size=None):
        print("echo ready", flush=True)
        await asyncio.Future()


# --- processes ---------------------------------------------------------------------------


def start_processes(tmp: Path) -> tuple[list[subprocess.Popen[bytes]], str, str, str]:
    # run as a script (`python bench/relay.py`): the repository root is not on the path yet
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.support.server import free_port

    echo_port, gw_port = free_port(), free_port()
    echo = subprocess.Popen(
        [sys.executable, __file__, "--echo", str(echo_port)], stdout=subprocess.PIPE
    )
    assert echo.stdout is not None and b"ready" in echo.stdout.readline()
    log = (tmp / "gateway.log").open("w")
    env = {
        **os.environ,
        "REALTIME2_HOST": "127.0.0.1",
        "REALTIME2_PORT": str(gw_port),
        "REALTIME2_DATA_DIR": str(tmp / "data"),
        "REALTIME2_LOAD_ENGINES": "false",
        "REALTIME2_LOG_LEVEL": "warning",
        "REALTIME2_DEMO_CREDITS": "100000000",
        "REALTIME2_MAX_SESSIONS_PER_USER": "10000",
        "REALTIME2_RATE_LIMIT_RPM": "0",
        "REALTIME2_UPSTREAM_URL": f"http://127.0.0.1:{echo_port}/v1",
        "REALTIME2_UPSTREAM_API_KEY": "sk-bench-upstream",
        "REALTIME2_UPSTREAM_MODELS": "realtime-mini=echo",
    }
    gateway = subprocess.Popen(
        [sys.executable, "-m", "realtime2.cli", "serve", "--bootstrap-demo"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp,
    )
    url = f"http://127.0.0.1:{gw_port}"
    for _ in range(300):
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if gateway.poll() is not None:
            raise RuntimeError((tmp / "gateway.log").read_text())
        time.sleep(0.1)
    key = re.search(r"sk-gptr2-[A-Za-z0-9_-]{43}", (tmp / "gateway.log").read_text())
    assert key, "no demo key in the gateway log"
    direct = f"ws://127.0.0.1:{echo_port}/v1/realtime?model=echo"
    relayed = url.replace("http", "ws") + "/v1/realtime?model=realtime-mini"
    return [echo, gateway], direct, relayed, key.group(0)


# --- measuring ---------------------------------------------------------------------------


def frame(seq: int) -> str:
    return f'{{"type":"input_audio_buffer.append","event_id":"b{seq}","audio":"{AUDIO_B64}"}}'


def seq_of(reply: str | bytes) -> int:
    text = reply if isinstance(reply, str) else reply.decode()
    start = text.index('"event_id":"b') + 13
    return int(text[start : text.index('"', start)])


async def open_session(url: str, key: str) -> ClientConnection:
    return await connect(
        url,
        additional_headers={"Authorization": f"Bearer {key}"},
        compression=None,
        max_size=None,
        open_timeout=30,
    )


async def ping_pong(url: str, key: str, count: int) -> list[float]:
    """Round trips in ms of `count` frames sent one at a time (after a warm-up)."""
    async with await open_session(url, key) as ws:
        times = []
        for seq in range(count + 100):
            sent = time.perf_counter()
            await ws.send(frame(seq))
            while seq_of(await ws.recv()) != seq:
                pass
            if seq >= 100:
                times.append((time.perf_counter() - sent) * 1000)
        return times


async def load(url: str, key: str, sessions: int, seconds: float) -> list[float]:
    """`sessions` sessions at 50 frames/s each; every frame's round trip in ms."""
    conns = await asyncio.gather(*(open_session(url, key) for _ in range(sessions)))
    rtts: list[float] = []

    async def run(ws: ClientConnection, offset: float) -> None:
        sent: dict[int, float] = {}

        async def reader() -> None:
            async for reply in ws:
                seq = seq_of(reply)
                if seq in sent:
                    rtts.append((time.perf_counter() - sent.pop(seq)) * 1000)

        task = asyncio.create_task(reader())
        start = time.perf_counter() + offset
        for seq in range(int(seconds * 50)):
            delay = start + seq * 0.02 - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            sent[seq] = time.perf_counter()
            await ws.send(frame(seq))
        await asyncio.sleep(0.3)
        task.cancel()

    await asyncio.gather(*(run(ws, i * 0.02 / sessions) for i, ws in enumerate(conns)))
    await asyncio.gather(*(ws.close() for ws in conns))
    return rtts


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(direct: str, relayed: str, key: str, seconds: float) -> dict[str, Any]:
    d = await ping_pong(direct, key, 2000)
    r = await ping_pong(relayed, key, 2000)
    single = {
        "direct_rtt_median_ms": statistics.median(d),
        "relayed_rtt_median_ms": statistics.median(r),
        "added_per_event_median_ms": (statistics.median(r) - statistics.median(d)) / 2,
        "added_per_event_p99_ms": (pct(r, 0.99) - pct(d, 0.99)) / 2,
    }
    levels = []
    for n in LEVELS:
        dl = await load(direct, key, n, seconds)
        rl = await load(relayed, key, n, seconds)
        row = {
            "sessions": n,
            "frames_per_second": n * 50,
            "direct_median_ms": statistics.median(dl),
            "relayed_median_ms": statistics.median(rl),
            "added_median_ms": (statistics.median(rl) - statistics.median(dl)) / 2,
            "added_p99_ms": (pct(rl, 0.99) - pct(dl, 0.99)) / 2,
            "lost_frames": n * int(seconds * 50) - len(rl),
        }
        levels.append(row)
        print(
            f"  {n:4d} sessions: added median {row['added_median_ms']:6.2f} ms, "
            f"p99 {row['added_p99_ms']:6.2f} ms",
            flush=True,
        )
        if row["added_median_ms"] > LIMIT_MS:
            break
    held = [row["sessions"] for row in levels if row["added_median_ms"] <= LIMIT_MS]
    return {
        "single_session": single,
        "levels": levels,
        "max_sessions_within_5ms": max(held) if held else 0,
        "limit_reached": levels[-1]["added_median_ms"] > LIMIT_MS,
        "cpu_count": os.cpu_count(),
        "seconds_per_level": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--echo", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=3.0, help="per concurrency level")
    args = parser.parse_args()
    if args.echo:
        asyncio.run(echo_server(args.echo))
        return
    with tempfile.TemporaryDirectory() as tmp:
        procs, direct, relayed, key = start_processes(Path(tmp))
        try:
            result = asyncio.run(measure(direct, relayed, key, args.seconds))
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(10)
    s = result["single_session"]
    print("\nrelay added latency per event (one session, 20 ms audio frames)")
    print(f"  direct round trip median   {s['direct_rtt_median_ms']:7.3f} ms")
    print(f"  relayed round trip median  {s['relayed_rtt_median_ms']:7.3f} ms")
    print(f"  added per event: median    {s['added_per_event_median_ms']:7.3f} ms")
    print(f"  added per event: p99       {s['added_per_event_p99_ms']:7.3f} ms")
    print("\nsessions  frames/s  added median  added p99  lost")
    for row in result["levels"]:
        print(
            f"{row['sessions']:8d}  {row['frames_per_second']:8d}  {row['added_median_ms']:9.2f} ms"
            f"  {row['added_p99_ms']:7.2f} ms  {row['lost_frames']:4d}"
        )
    within = result["max_sessions_within_5ms"]
    more = "" if result["limit_reached"] else " (limit not reached at the largest level)"
    print(f"\nsessions held at 50 fps with added median <= {LIMIT_MS} ms: {within}{more}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

"""How many idle connected realtime sessions one server process holds, and the memory
each costs. Starts a real server (embedded engines loaded), opens WebSocket sessions in
steps, and reads the server's resident memory after each step.

    .venv/bin/python -m bench.idle_sessions [--steps 100 250 500 750]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from websockets.asyncio.client import ClientConnection, connect

from bench.report import print_table, write_bar_chart, write_json


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def start_server(tmp: Path, port: int) -> tuple[subprocess.Popen[bytes], str]:
    env = {
        **os.environ,
        "REALTIME2_DATA_DIR": str(tmp / "data"),
        "REALTIME2_PORT": str(port),
        "REALTIME2_DEMO_CREDITS": "100000000",
        "REALTIME2_MAX_SESSIONS": "5000",
        "REALTIME2_MAX_SESSIONS_PER_USER": "5000",
        # One user opens every session: handshakes count against the per-user rate limit.
        "REALTIME2_RATE_LIMIT_RPM": "0",
        "REALTIME2_LOG_LEVEL": "warning",
    }
    log = (tmp / "server.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "realtime2.cli", "serve", "--bootstrap-demo"],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    else:
        raise RuntimeError("server did not become ready")
    key = re.search(r"sk-gptr2-[A-Za-z0-9_-]{43}", (tmp / "server.log").read_text())
    assert key
    return proc, key.group(0)


async def open_session(url: str, key: str) -> ClientConnection:
    ws = await connect(url, additional_headers={"x-api-key": key}, max_size=None)
    created = json.loads(await ws.recv())
    assert created["type"] == "session.created", created
    return ws


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, nargs="+", default=[100, 250, 500, 750])
    parser.add_argument("--port", type=int, default=18431)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        proc, key = start_server(tmp, args.port)
        ws_url = f"ws://127.0.0.1:{args.port}/v1/realtime?model=realtime-mini"
        http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{args.port}", timeout=30)
        sessions: list[ClientConnection] = []
        rows: list[list[object]] = []
        per_session: list[float] = []  # MB per session at each step, for the chart
        try:
            await asyncio.sleep(2)
            baseline = rss_mb(proc.pid)
            rows.append([0, round(baseline, 1), "-", "-"])
            for target in args.steps:
                started = time.monotonic()
                while len(sessions) < target:
                    batch = min(50, target - len(sessions))
                    sessions += await asyncio.gather(
                        *(open_session(ws_url, key) for _ in range(batch))
                    )
                opened = time.monotonic() - started
                await asyncio.sleep(3)
                rss = rss_mb(proc.pid)
                t = time.perf_counter()
                assert (await http.get("/healthz")).status_code == 200
                health_ms = (time.perf_counter() - t) * 1000
                per = (rss - baseline) / len(sessions)
                per_session.append(round(per, 3))
                rows.append([len(sessions), round(rss, 1), round(per, 3), round(health_ms, 1)])
                print(
                    f"{len(sessions)} sessions open ({opened:.1f}s), rss {rss:.0f} MB", flush=True
                )
            me = (await http.get("/api/realtime2/me", headers={"x-api-key": key})).json()
            held_while_open = me["held"]
            await asyncio.gather(*(ws.close() for ws in sessions))
            for _ in range(60):
                me = (await http.get("/api/realtime2/me", headers={"x-api-key": key})).json()
                if me["held"] == 0:
                    break
                await asyncio.sleep(0.5)
        finally:
            await http.aclose()
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
    print_table(
        "idle realtime sessions in one process (embedded engines loaded)",
        ["sessions", "server RSS MB", "MB per session", "/healthz ms"],
        rows,
    )
    print(f"credits held while open: {held_while_open}; held after close: {me['held']}")
    write_json(
        "idle_sessions",
        {"rows": [dict(zip(["sessions", "rss_mb", "mb_per_session", "healthz_ms"], r,
                           strict=True)) for r in rows],
         "held_after_close": me["held"]},
    )  # fmt: skip
    write_bar_chart(
        "idle_sessions", "Memory per idle session", [str(r[0]) for r in rows[1:]],
        {"MB per session": per_session}, "MB",
    )  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())

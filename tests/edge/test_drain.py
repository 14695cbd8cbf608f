"""SIGTERM drains a server process (realtime2.edge.drain via serving.DrainingServer): the
live session hears `server_shutting_down`, is closed and settled, and the process exits."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import httpx
from websockets.asyncio.client import connect

from realtime2.db.migrate import upgrade
from realtime2.state import Services
from tests.support.accounts import make_settings, new_account
from tests.support.server import free_port

ROOT = Path(__file__).resolve().parents[2]


async def _ready(url: str, process: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(300):
            assert process.poll() is None, "server exited at start-up"
            try:
                if (await http.get(url + "/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError("server not ready")


def _spawn(port: int, env: dict[str, str], log: IO[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "soak.fake_server", str(port)],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


async def test_sigterm_ends_sessions_with_an_event_and_settles(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    svc = Services.build(settings)
    await upgrade(svc.db)
    acct = await new_account(svc, credits=10_000)
    port = free_port()
    env = {
        **os.environ,
        "REALTIME2_DATABASE_URL": settings.database_url,
        "REALTIME2_SECRET_KEY": settings.secret_key,
        "REALTIME2_DATA_DIR": str(tmp_path / "data"),
    }
    log = (tmp_path / "server.log").open("w")
    process = _spawn(port, env, log)
    try:
        await _ready(f"http://127.0.0.1:{port}", process)
        url = f"ws://127.0.0.1:{port}/v1/realtime?model=realtime-mini"
        async with connect(url, additional_headers={"x-api-key": acct.key}) as ws:
            assert json.loads(await ws.recv())["type"] == "session.created"
            process.send_signal(signal.SIGTERM)
            sent_at = time.monotonic()
            events = []
            async with asyncio.timeout(15):
                async for frame in ws:
                    events.append(json.loads(frame))
            closed_after = time.monotonic() - sent_at
        errors = [e["error"]["code"] for e in events if e["type"] == "error"]
        assert errors == ["server_shutting_down"]
        assert closed_after < 5
        assert process.wait(20) in (0, -signal.SIGTERM)
        balance = await svc.ledger.balance(acct.user_id)
        assert balance.held == 0  # settled by the drain, not left for the sweeper
        holds = await svc.ledger.entries(acct.user_id)
        assert any(e.kind == "capture" for e in holds)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        log.close()
        await svc.close()

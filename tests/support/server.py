"""Live servers for tests, started one way each.

- `free_port()`: the one free-port helper.
- `running(app, **uvicorn_options)`: uvicorn serving any ASGI app on 127.0.0.1 in the
  test's event loop, for the length of an `async with` block.
- `build_services` + `serve_app` (or `live_server`): the realtime2 app on chosen engines,
  yielding a `LiveServer` (its URLs, services, app and call registry).
- `start_server`: `realtime2 serve` as a subprocess (`ServerProcess`), for what needs a
  whole process (the CLI, real models loaded once, signals).
- `refused`: a WebSocket handshake that must be refused, with its status and error body.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import websockets
from fastapi import FastAPI
from websockets.asyncio.client import connect

from realtime2.app import create_app
from realtime2.calls.registry import CallRegistry
from realtime2.db.migrate import upgrade
from realtime2.engine.interfaces import Engines
from realtime2.engine.registry import EngineHost
from realtime2.state import Services
from tests.support.accounts import make_settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def running(
    app: Any, *, port: int | None = None, stop_timeout: float = 15.0, **options: Any
) -> AsyncIterator[uvicorn.Server]:
    """uvicorn serving `app` on 127.0.0.1 (`server.config.port`) until the block ends."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port or free_port(), **{"log_config": None, **options}
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # the error it stopped with
            raise RuntimeError("uvicorn stopped before it started")
        await asyncio.sleep(0.01)
    try:
        yield server
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, stop_timeout)


@dataclass
class LiveServer:
    url: str
    services: Services
    app: FastAPI

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/v1/realtime"

    @property
    def calls(self) -> CallRegistry:
        registry: CallRegistry = self.app.state.calls
        return registry


async def build_services(
    tmp_path: Path, engines: Engines, database_url: str = "", **settings: object
) -> Services:
    svc = Services.build(make_settings(tmp_path, database_url, **settings))
    await upgrade(svc.db)
    svc.engines = EngineHost.with_engines(engines)
    return svc


async def serve_app(services: Services) -> AsyncIterator[LiveServer]:
    """The realtime2 app on `services`, served in this event loop: `async for live in ...`."""
    app = create_app(services.settings, services)
    async with running(app, ws_max_size=20 * 1024 * 1024) as server:
        yield LiveServer(f"http://127.0.0.1:{server.config.port}", services, app)


async def live_server(tmp_path: Path, engines: Engines) -> AsyncIterator[LiveServer]:
    svc = await build_services(tmp_path, engines)
    async for server in serve_app(svc):
        yield server


async def refused(url: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    with pytest.raises(websockets.exceptions.InvalidStatus) as info:
        async with connect(url, **kwargs):
            pass
    response = info.value.response
    return response.status_code, json.loads(response.body or b"{}")


@dataclass
class ServerProcess:
    url: str
    process: subprocess.Popen[str]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


@dataclass
class RealServer:
    """A `realtime2 serve --bootstrap-demo` subprocess and its demo key."""

    process: ServerProcess
    key: str

    @property
    def url(self) -> str:
        return self.process.url


def start_server(
    tmp_path: Path,
    env: dict[str, str],
    *,
    args: tuple[str, ...] = (),
    ready_path: str = "/healthz",
    timeout: float = 120.0,
    name: str = "server",
) -> ServerProcess:
    port = free_port()
    log_path = tmp_path / f"{name}.log"
    full_env = {
        **os.environ,
        "REALTIME2_HOST": "127.0.0.1",
        "REALTIME2_PORT": str(port),
        "REALTIME2_DATA_DIR": str(tmp_path / "data"),
        **env,
    }
    log_file = log_path.open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "realtime2.cli", "serve", *args],
        env=full_env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
    )
    server = ServerProcess(f"http://127.0.0.1:{port}", process, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{server.log()}")
        try:
            if httpx.get(server.url + ready_path, timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"server not ready in {timeout}s:\n{server.log()}")

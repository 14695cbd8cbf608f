"""A real uvicorn server in the test's event loop, serving the app with chosen engines."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn

from realtime2.app import create_app
from realtime2.db.migrate import upgrade
from realtime2.engine.interfaces import Engines
from realtime2.engine.registry import EngineHost
from realtime2.state import Services
from tests.conftest import free_port, make_settings
from tests.protocol.fakes import fake_engines


@dataclass
class LiveServer:
    url: str
    services: Services

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/v1/realtime"


async def serve_app(services: Services) -> AsyncIterator[LiveServer]:
    port = free_port()
    app = create_app(services.settings, services)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, ws_max_size=20 * 1024 * 1024
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", services)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


async def build_services(tmp_path: Path, engines: Engines, **settings: object) -> Services:
    svc = Services.build(make_settings(tmp_path, **settings))
    await upgrade(svc.db)
    svc.engines = EngineHost.with_engines(engines)
    return svc


@pytest.fixture
async def fake_server(tmp_path: Path) -> AsyncIterator[LiveServer]:
    svc = await build_services(tmp_path, fake_engines())
    async for live in serve_app(svc):
        yield live

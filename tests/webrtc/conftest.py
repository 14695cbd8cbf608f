"""Fixtures: a live server with fake engines whose call registry tests can inspect."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI

from realtime2.app import create_app
from realtime2.calls.registry import CallRegistry
from realtime2.engine.interfaces import Engines
from realtime2.state import Services
from tests.conftest import free_port
from tests.protocol.fakes import fake_engines
from tests.transports.conftest import LiveServer, build_services


@dataclass
class LiveCalls(LiveServer):
    app: FastAPI

    @property
    def calls(self) -> CallRegistry:
        registry: CallRegistry = self.app.state.calls
        return registry


async def serve_calls(services: Services) -> AsyncIterator[LiveCalls]:
    port = free_port()
    app = create_app(services.settings, services)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield LiveCalls(f"http://127.0.0.1:{port}", services, app)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)


async def live_server(tmp_path: Path, engines: Engines) -> AsyncIterator[LiveCalls]:
    svc = await build_services(tmp_path, engines)
    async for server in serve_calls(svc):
        yield server


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[LiveCalls]:
    async for server in live_server(tmp_path, fake_engines()):
        yield server

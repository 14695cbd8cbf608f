"""Fixtures: a live server with fake engines, and accounts on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.protocol.fakes import fake_engines
from tests.transports.conftest import LiveServer, build_services, serve_app


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[LiveServer]:
    svc = await build_services(tmp_path, fake_engines())
    async for server in serve_app(svc):
        yield server

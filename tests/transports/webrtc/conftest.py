"""Fixtures: a live server with fake engines whose call registry tests can inspect."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.fakes import fake_engines
from tests.support.server import LiveServer, live_server


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[LiveServer]:
    async for server in live_server(tmp_path, fake_engines()):
        yield server

"""A live server on fake engines for translation protocol tests (real espeak-ng voices)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.fakes import FakeLLM, FakeSTT, fake_engines
from tests.support.server import LiveServer, build_services, serve_app


@pytest.fixture
async def translation_server(tmp_path: Path) -> AsyncIterator[LiveServer]:
    engines = fake_engines(
        stt=FakeSTT("Good morning, everyone."),
        llm=FakeLLM(script=("Bonjour ", "à tous.")),
    )
    svc = await build_services(tmp_path, engines)
    async for live in serve_app(svc):
        yield live

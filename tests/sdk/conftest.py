"""Real clients against a real server with the embedded engines.

One server per test module (module-scoped, on the module's event loop) and one set of
loaded engines per test session keep the suite fast. `SdkEvents` reads the official SDK
connection's raw frames so every server event is validated strictly (and then parsed by
the SDK itself, as a client would).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from realtime2.engine.config import EngineSettings
from realtime2.engine.interfaces import Engines
from realtime2.engine.registry import build_engines
from tests.support.server import LiveServer, build_services, serve_app


@pytest.fixture(scope="session")
def real_engines() -> Engines:
    return build_engines(EngineSettings(_env_file=None))  # type: ignore[call-arg]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def real_server(
    real_engines: Engines, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[LiveServer]:
    tmp: Path = tmp_path_factory.mktemp("sdk")
    services = await build_services(tmp, real_engines)
    try:
        async for live in serve_app(services):
            yield live
    finally:
        await services.close()

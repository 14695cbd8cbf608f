"""The soak's server process: the real app, CLI-equivalent start-up and database, with the
deterministic fake engines of tests/support/fakes.py in place of the models.

This is a harness, not a product switch: `realtime2 serve` has no way to load fake
engines. The fakes keep hundreds of sessions cheap on two cores, so what the soak measures
is the service around the engines — admission, metering, the ledger, crash recovery.

    python -m soak.fake_server PORT      (database and data dir from REALTIME2_* env)
"""

from __future__ import annotations

import asyncio
import sys

import uvicorn
from tests.support.fakes import FakeLLM, FakeSTT, FakeTTS, fake_engines

from realtime2.app import create_app, drain_app
from realtime2.config import Settings
from realtime2.db.migrate import upgrade
from realtime2.engine.registry import EngineHost
from realtime2.logging_setup import configure_logging
from realtime2.serving import DrainingServer
from realtime2.state import Services


async def migrate(settings: Settings) -> None:
    """As `realtime2 serve` does: on services of their own, whose pooled connections belong
    to this event loop and close with it (the server runs on another)."""
    services = Services.build(settings)
    try:
        await upgrade(services.db)
    finally:
        await services.close()


def main() -> None:
    port = int(sys.argv[1])
    settings = Settings(host="127.0.0.1", port=port, load_engines=False)
    configure_logging("warning", settings.log_format)
    asyncio.run(migrate(settings))
    services = Services.build(settings)
    # Slow enough that a reply takes a few hundred ms, like a small model would.
    engines = fake_engines(
        stt=FakeSTT(delay=0.05), llm=FakeLLM(delay=0.05), tts=FakeTTS(delay=0.05)
    )
    services.engines = EngineHost.with_engines(engines)
    app = create_app(settings, services)
    print(f"soak server on {port}", flush=True)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, ws_max_size=20 * 1024 * 1024
    )
    # As `realtime2 serve`: SIGTERM drains (realtime2.edge.drain) before stopping.
    DrainingServer(config, lambda: drain_app(app)).run()


if __name__ == "__main__":
    main()

"""Two server replicas on one PostgreSQL: real server processes (`soak.fake_server`, the
app with fake engines, as the soak runs it) sharing the database URL and the secret key,
each with its own data directory, on 127.0.0.1."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

from soak.run import Server

from realtime2.config import Settings
from realtime2.db.migrate import upgrade
from realtime2.state import Services


@asynccontextmanager
async def two_replicas(
    database_url: str, tmp_path: Path, env: Mapping[str, str] | None = None
) -> AsyncIterator[tuple[Server, Server, Services]]:
    """Replicas `a` and `b` (ready), and `Services` of this process on the same database
    (migrated before they start) to arrange and check what they share; `env` is added to
    both replicas' environment."""
    secret = secrets.token_urlsafe(32)  # every replica must hash keys with the same secret
    svc = Services.build(Settings(database_url=database_url, secret_key=secret))
    await upgrade(svc.db)
    servers = []
    try:
        for name in ("a", "b"):
            replica_env = {
                "REALTIME2_DATABASE_URL": database_url,
                "REALTIME2_SECRET_KEY": secret,
                "REALTIME2_DATA_DIR": str(tmp_path / name),
                **(env or {}),
            }
            servers.append(Server(replica_env, tmp_path / f"replica-{name}.log"))
        await asyncio.gather(*(s.ready() for s in servers))
        yield servers[0], servers[1], svc
    finally:
        for server in servers:
            server.stop()
        await svc.close()

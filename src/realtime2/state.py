"""The services one process runs with, built once from settings and shared by all routes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from realtime2.accounts.keys import KeyStore
from realtime2.accounts.ledger import Ledger
from realtime2.accounts.users import Users
from realtime2.accounts.web_sessions import WebSessions
from realtime2.config import Settings
from realtime2.db.engine import Database

if TYPE_CHECKING:
    from starlette.requests import HTTPConnection


@dataclass
class Services:
    settings: Settings
    db: Database
    users: Users
    keys: KeyStore
    ledger: Ledger
    web_sessions: WebSessions
    # realtime2.engine.registry.EngineHost once the engine is wired in; None in tests that
    # need only the accounts layer.
    engines: Any = None
    # A Redis client (redis.asyncio) when REALTIME2_REDIS_URL is set: the rate limits and
    # the login throttle shared by every replica. None: in-process counting.
    redis: Any = None

    @classmethod
    def build(cls, settings: Settings) -> Services:
        db = Database(settings.effective_database_url())
        return cls(
            settings=settings,
            db=db,
            users=Users(db, settings.password_checks_at_once),
            keys=KeyStore(db, settings.effective_secret_key()),
            ledger=Ledger(db),
            web_sessions=WebSessions(db),
            redis=_redis_client(settings.redis_url),
        )

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()
        await self.db.dispose()


def _redis_client(url: str) -> Any:
    """A client for `url` (connects on first use), or None when no URL is set."""
    if not url:
        return None
    import redis.asyncio

    # Short timeouts: a limit check must not hold a request up for long if Redis is away.
    return redis.asyncio.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)


def services_of(conn: HTTPConnection) -> Services:
    """The app's services, from any connection scope (an HTTP request or a WebSocket)."""
    services: Services = conn.app.state.services
    return services

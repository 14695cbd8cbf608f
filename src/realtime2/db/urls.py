"""Database URL normalisation: accept the usual forms and pick the async driver ourselves."""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url

_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
}


class UnsupportedDatabaseError(ValueError):
    pass


def to_async_url(raw: str) -> URL:
    """`sqlite:///x.db` → `sqlite+aiosqlite:///x.db`; `postgresql://…` → `postgresql+asyncpg://…`.

    URLs that already name a supported async driver pass through unchanged.
    """
    url = make_url(raw)
    backend = url.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise UnsupportedDatabaseError(
            f"unsupported database {backend!r}: use sqlite:///PATH or postgresql://USER@HOST/DB"
        )
    driver = url.get_driver_name()
    if backend == "sqlite" and driver != "aiosqlite":
        url = url.set(drivername=_ASYNC_DRIVERS["sqlite"])
    elif backend == "postgresql" and driver != "asyncpg":
        url = url.set(drivername=_ASYNC_DRIVERS["postgresql"])
    return url


def is_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite"

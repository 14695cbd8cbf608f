"""The SQLAlchemy engines and session factories for one database.

Two ways in:
- `sessions()` / `transaction()`: async ORM sessions, for ordinary reads and writes.
- `run(fn, write=…)`: run a synchronous `fn(session)` in one transaction. This is the hot
  path (the ledger, key checks). On SQLite the async driver moves every statement, fetch and
  commit to its thread separately (~50 thread hops per ledger operation); `run` instead
  executes the whole transaction on a worker thread with the synchronous driver: one hop.
  Writes go through one writer thread with group commit (`sqlite_writer.py`), since SQLite
  serialises writers anyway. On PostgreSQL `fn` runs through the async driver via
  `AsyncSession.run_sync`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.ext.asyncio import (
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session, sessionmaker

from realtime2.db.sqlite_writer import SqliteWriter
from realtime2.db.urls import is_sqlite, to_async_url

T = TypeVar("T")


def _configure_sqlite(engine: Engine, *, writer: bool) -> None:
    """Serialise writers with BEGIN IMMEDIATE so two transactions never both read a balance
    and then write it, and wait (instead of failing) while another writer holds the lock —
    also across processes. Readers (WAL mode) take no lock at all."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let the "begin" hook below issue BEGIN itself.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")


class Database:
    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = to_async_url(url)
        kwargs: dict[str, Any] = {"echo": echo}
        if self.is_sqlite:
            if self.url.database and self.url.database != ":memory:":
                Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": 30}
        else:
            kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
        self.engine = create_async_engine(self.url, **kwargs)
        self.read_engine = self.engine
        self._sync_reader: sessionmaker[Session] | None = None
        self._writer: SqliteWriter | None = None
        self._read_threads: ThreadPoolExecutor | None = None
        self._sync_engines: list[Engine] = []
        if self.is_sqlite:
            # Separate pools so a read never waits for (or takes) the write lock.
            self.read_engine = create_async_engine(self.url, **kwargs)
            _configure_sqlite(self.engine.sync_engine, writer=True)
            _configure_sqlite(self.read_engine.sync_engine, writer=False)
            sync_url = self.url.set(drivername="sqlite+pysqlite")
            # Every `run` ends in an explicit COMMIT or ROLLBACK: skip the pool's extra reset.
            writer = create_engine(sync_url, pool_reset_on_return=None, **kwargs)
            reader = create_engine(sync_url, pool_reset_on_return=None, **kwargs)
            _configure_sqlite(writer, writer=True)
            _configure_sqlite(reader, writer=False)
            self._sync_engines = [writer, reader]
            self._writer = SqliteWriter(sessionmaker(writer, expire_on_commit=False))
            self._sync_reader = sessionmaker(reader, expire_on_commit=False)
            self._read_threads = ThreadPoolExecutor(2, thread_name_prefix="sqlite-read")
        self.sessions = async_sessionmaker(self.read_engine, expire_on_commit=False)
        self._writers = async_sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return is_sqlite(self.url)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: committed on success, rolled back on error."""
        async with self._writers() as session, session.begin():
            yield session

    async def run(self, fn: Callable[[Session], T], *, write: bool) -> T:
        """`fn(session)` inside one transaction (committed on success, rolled back on error)."""
        if self._writer is None or self._sync_reader is None:
            factory = self._writers if write else self.sessions
            async with factory() as session, session.begin():
                return await session.run_sync(fn)
        if write:
            result: T = await asyncio.wrap_future(self._writer.submit(fn))
            return result
        maker = self._sync_reader

        def read() -> T:
            with maker() as session, session.begin():
                return fn(session)

        return await asyncio.get_running_loop().run_in_executor(self._read_threads, read)

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.exec_driver_sql("SELECT 1")
            return True
        except Exception:
            return False

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()
        if self._writer is not None:
            await asyncio.to_thread(self._writer.close)
        if self._read_threads is not None:
            self._read_threads.shutdown(wait=False)
        for engine in self._sync_engines:
            engine.dispose()

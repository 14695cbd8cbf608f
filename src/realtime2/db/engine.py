"""The SQLAlchemy engines and session factories for one database.

Two ways in:
- `sessions()` / `transaction()`: async ORM sessions, for ordinary reads and writes.
- `run(fn, write=…, inline=…)`: run a synchronous `fn(connection)` (SQLAlchemy Core) in one
  transaction. This is the hot path (the ledger, key checks). On SQLite the async driver
  moves every statement, fetch and commit to its thread separately (~50 thread hops per
  ledger operation); `run` instead executes the whole transaction with the synchronous
  driver, on a connection kept open: on the calling thread when `inline` (no hop), else on
  a read thread or the writer thread (one hop). Writes nothing else is waiting for run
  inline; the others go through one writer thread with group commit (`sqlite_writer.py`),
  since SQLite serialises writers anyway. On PostgreSQL `fn` runs through the async driver
  via `AsyncConnection.run_sync`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DisconnectionError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from realtime2.db.sqlite_writer import SqliteWriter, WriterBusy, raw_sqlite
from realtime2.db.urls import is_sqlite, to_async_url

T = TypeVar("T")


def _configure_sqlite(engine: Engine, *, begin: str | None) -> None:
    """WAL mode, and a busy timeout so a connection waits (instead of failing) while another
    holds the write lock, also across processes. Readers (WAL mode) take no lock at all.

    `begin` ("BEGIN IMMEDIATE" for writers) is issued at the start of each transaction, so
    two transactions never both read a balance and then write it. The synchronous engines
    behind `run` get None: they issue BEGIN themselves, since any "begin" hook makes
    SQLAlchemy dispatch events around every statement."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # BEGIN is ours to issue (below, or in `run`), not the driver's.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    if begin is not None:

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql(begin)


def _drop_closed_on_checkout(engine: Engine) -> None:
    """Hand out no pooled connection the server has closed (a restart, an idle timeout).

    SQLAlchemy's `pool_pre_ping` would ask the server (`SELECT 1`) at every checkout: one
    round trip more on each ledger transaction, a fifth of an ordinary hold or capture. A
    server that goes away closes its sockets, and asyncpg marks the connection closed as
    soon as the event loop sees that, so the check is local; the pool replaces such a
    connection (a `DisconnectionError` from a checkout listener makes it try another), and
    one opened on another event loop."""

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        driver = getattr(dbapi_connection, "driver_connection", None)
        if driver is None:
            return
        if driver.is_closed():
            raise DisconnectionError("the server closed this connection")
        # A connection opened on another event loop (one that ran and ended before this
        # one) cannot be used on this one; the ping used to hide that by failing.
        loop = getattr(driver, "_loop", None)
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:  # a checkout off the event loop's thread: nothing to compare
            return
        if loop is not None and loop is not running:
            raise DisconnectionError("this connection belongs to another event loop")


class Database:
    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = to_async_url(url)
        kwargs: dict[str, Any] = {"echo": echo}
        if self.is_sqlite:
            if self.url.database and self.url.database != ":memory:":
                Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": 30}
        else:
            kwargs.update(pool_size=10, max_overflow=20)
        self.engine = create_async_engine(self.url, **kwargs)
        if not self.is_sqlite:
            _drop_closed_on_checkout(self.engine.sync_engine)
        self.read_engine = self.engine
        self._sync_reader: Engine | None = None
        self._writer: SqliteWriter | None = None
        self._read_threads: ThreadPoolExecutor | None = None
        # Each read thread's own open connection, and the event loop's for inline reads.
        self._read_local = threading.local()
        self._inline_local = threading.local()
        self._read_conns: list[Connection] = []
        self._sync_engines: list[Engine] = []
        if self.is_sqlite:
            # Separate pools so a read never waits for (or takes) the write lock.
            self.read_engine = create_async_engine(self.url, **kwargs)
            _configure_sqlite(self.engine.sync_engine, begin="BEGIN IMMEDIATE")
            _configure_sqlite(self.read_engine.sync_engine, begin="BEGIN")
            sync_url = self.url.set(drivername="sqlite+pysqlite")
            # Every `run` ends in an explicit COMMIT or ROLLBACK: skip the pool's extra reset.
            writer = create_engine(sync_url, pool_reset_on_return=None, **kwargs)
            reader = create_engine(sync_url, pool_reset_on_return=None, **kwargs)
            _configure_sqlite(writer, begin=None)
            _configure_sqlite(reader, begin=None)
            self._sync_engines = [writer, reader]
            self._writer = SqliteWriter(writer)
            self._sync_reader = reader
            self._read_threads = ThreadPoolExecutor(2, thread_name_prefix="sqlite-read")
        # For reads through `run` on PostgreSQL: under READ COMMITTED each statement sees
        # its own snapshot inside a transaction or not, so a read-only one is two round trips
        # (BEGIN, COMMIT) for nothing.
        self._autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")
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

    async def run(self, fn: Callable[[Connection], T], *, write: bool, inline: bool = False) -> T:
        """`fn(connection)` inside one transaction (committed on success, rolled back on
        error).

        `inline`, for a short transaction (a few indexed statements: a key check, a ledger
        operation): on SQLite, run it on the calling thread, which costs less than the hop
        to a worker thread, then yield to other tasks as the hop would have. It never
        waits there: a read goes to a read thread if SQLite is busy, a write to the
        writer thread if another write is queued or holds the lock."""
        if self._writer is None or self._sync_reader is None:
            if not write:  # autocommit: no BEGIN/COMMIT round trips (see __init__)
                async with self._autocommit.connect() as conn:
                    return await conn.run_sync(fn)
            async with self.engine.connect() as conn, conn.begin():
                return await conn.run_sync(fn)
        if write:
            return await self._sqlite_write(self._writer, fn, inline=inline)
        return await self._sqlite_read(self._sync_reader, fn, inline=inline)

    async def run_statement(self, fn: Callable[[Connection], T]) -> T:
        """`fn(connection)` executing one write statement, atomic by itself. On PostgreSQL
        it runs outside a transaction (autocommit), without the BEGIN and COMMIT round
        trips; on SQLite as `run(fn, write=True, inline=True)`."""
        if self._writer is None:
            async with self._autocommit.connect() as conn:
                return await conn.run_sync(fn)
        return await self.run(fn, write=True, inline=True)

    async def _sqlite_write(
        self, writer: SqliteWriter, fn: Callable[[Connection], T], *, inline: bool
    ) -> T:
        result: T
        if inline:
            try:
                result = writer.run_inline(fn)
            except WriterBusy:
                pass
            else:
                await asyncio.sleep(0)
                return result
        result = await asyncio.wrap_future(writer.submit(fn))
        return result

    async def _sqlite_read(
        self, reader: Engine, fn: Callable[[Connection], T], *, inline: bool
    ) -> T:
        if inline:
            try:
                result = self._read(fn, reader, self._inline_local, busy_timeout_ms=0)
            except OperationalError:
                pass  # the database is busy: wait on a read thread instead
            else:
                await asyncio.sleep(0)
                return result

        def read() -> T:
            return self._read(fn, reader, self._read_local)

        return await asyncio.get_running_loop().run_in_executor(self._read_threads, read)

    def _read(
        self,
        fn: Callable[[Connection], T],
        reader: Engine,
        local: threading.local,
        *,
        busy_timeout_ms: int | None = None,
    ) -> T:
        """`fn` in a read transaction on this thread's connection, which stays open (a pool
        checkout per read costs about as much as the read)."""
        conn: Connection | None = getattr(local, "conn", None)
        if conn is None or conn.closed or conn.invalidated:
            if conn is not None:
                conn.close()
            conn = local.conn = reader.connect()
            if busy_timeout_ms is not None:
                raw_sqlite(conn).execute(f"PRAGMA busy_timeout={busy_timeout_ms:d}")
            self._read_conns.append(conn)
        with conn.begin():
            raw_sqlite(conn).execute("BEGIN")  # (no "begin" hook: see above)
            return fn(conn)

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
            await asyncio.to_thread(self._read_threads.shutdown)
        for conn in self._read_conns:
            conn.close()
        for engine in self._sync_engines:
            engine.dispose()

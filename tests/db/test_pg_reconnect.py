"""Pooled PostgreSQL connections that the server closed are never handed out: after every
backend is terminated (what a server restart does), the next transactions succeed on new
connections, with no `SELECT 1` before each checkout (`db.engine._drop_closed_on_checkout`)."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy import Connection, text

from realtime2.db.engine import Database

pytestmark = pytest.mark.postgres


def _backend_pid(conn: Connection) -> int:
    return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


async def _terminate_all(url: str) -> int:
    admin = await asyncpg.connect(url)
    try:
        own = admin.get_server_pid()
        terminated = await admin.fetchval(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> $1) t",
            own,
        )
        return int(terminated)
    finally:
        await admin.close()


async def test_transactions_after_the_server_closed_every_connection(fresh_pg_url: str) -> None:
    db = Database(fresh_pg_url)
    try:
        # Several pooled connections, read (autocommit) and write (transaction) alike.
        before = await asyncio.gather(*(db.run(_backend_pid, write=i % 2 == 0) for i in range(4)))
        assert await _terminate_all(fresh_pg_url) >= 1
        await asyncio.sleep(0.2)  # the event loop sees the closed sockets
        after = await asyncio.gather(*(db.run(_backend_pid, write=i % 2 == 0) for i in range(4)))
        assert not set(after) & set(before)  # all new backends
        assert db.engine.sync_engine.pool._pre_ping is False  # no round trip per checkout
    finally:
        await db.dispose()


def test_a_connection_pooled_on_an_ended_event_loop_is_not_reused(fresh_pg_url: str) -> None:
    """A process that migrates on one event loop and serves on another with one Database
    (the soak harness once did) gets new connections on the second loop."""
    db = Database(fresh_pg_url)
    first = asyncio.run(db.run(_backend_pid, write=True))

    async def on_a_new_loop() -> int:
        try:
            return await db.run(_backend_pid, write=True)
        finally:
            await db.dispose()

    assert asyncio.run(on_a_new_loop()) != first

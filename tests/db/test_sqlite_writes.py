"""SQLite writes through Database.run: inline on the event loop when nothing else is
writing, queued on the writer thread (group commit) otherwise, and a WAL that stays bounded
although the inline connection never checkpoints."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Connection, create_engine, text

from realtime2.db.sqlite_writer import SqliteWriter
from realtime2.state import Services
from tests.support.accounts import new_account


async def test_inline_write_waits_on_the_writer_thread_while_the_lock_is_held(
    sqlite_services: Services,
) -> None:
    acct = await new_account(sqlite_services, credits=10)
    path = sqlite_services.db.url.database
    assert path
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process's writer, say
    try:
        top_up = asyncio.create_task(sqlite_services.ledger.top_up(acct.user_id, 5))
        started = time.monotonic()
        await asyncio.sleep(0.3)
        # The loop kept running (the write did not block it) and the write is waiting.
        assert time.monotonic() - started < 1.0
        assert not top_up.done()
    finally:
        other.execute("ROLLBACK")
        other.close()
    balance = await asyncio.wait_for(top_up, 10)
    assert balance.available == 15


def test_a_failing_job_in_a_batch_is_rolled_back_alone(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'w.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
    writer = SqliteWriter(engine)
    gate = threading.Event()

    def insert(x: int, *, fail: bool = False) -> Callable[[Connection], int]:
        def job(conn: Connection) -> int:
            conn.execute(text("INSERT INTO t VALUES (:x)"), {"x": x})
            if fail:
                raise ValueError(x)
            return x

        return job

    try:
        blocker = writer.submit(lambda conn: gate.wait(10))
        futures = [writer.submit(insert(x, fail=x == 2)) for x in (1, 2, 3)]
        gate.set()  # the three queued jobs now run as one batch
        assert blocker.result(10)
        assert futures[0].result(10) == 1 and futures[2].result(10) == 3
        with pytest.raises(ValueError):
            futures[1].result(10)
    finally:
        writer.close()
    with engine.connect() as conn:
        assert sorted(conn.scalars(text("SELECT x FROM t"))) == [1, 3]
    engine.dispose()


async def test_the_wal_stays_bounded_with_inline_commits(sqlite_services: Services) -> None:
    """The inline connection never checkpoints; the writer thread does, every so often,
    while writes queue behind it. Unchecked, 1,000 ledger commits grow the WAL past 40 MB."""
    acct = await new_account(sqlite_services, credits=10_000)
    ledger = sqlite_services.ledger
    for i in range(500):
        hold = await ledger.place_hold(
            acct.user_id, 3, model="m", reference=f"r{i}", ttl_seconds=60
        )
        await ledger.capture(hold.id, 2, final=True, idempotency_key=f"k{i}")
    path = sqlite_services.db.url.database
    assert path
    assert await asyncio.to_thread(os.path.getsize, f"{path}-wal") < 12_000_000
    projection, sums = await ledger.reconcile(acct.user_id)
    assert projection == sums and projection.posted == 10_000 - 1_000

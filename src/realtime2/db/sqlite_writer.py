"""SQLite writes: inline when nothing else is writing, otherwise group commit.

SQLite allows one writer at a time, and on small machines the cost of a write transaction
is mostly its fixed part (taking the lock, committing, thread hops) rather than its
statements. Two ways in:

- `run_inline(fn)`: while this process has no write queued or running, a short transaction
  runs on the calling thread (the event loop), on that thread's own connection. A thread
  hop each way cost more CPU than a ledger transaction's statements. That connection never
  waits for the lock (busy_timeout=0: if another connection or process holds it, the call
  raises `WriterBusy` and the caller queues the job instead) and never checkpoints (every
  `_CHECKPOINT_EVERY` commits the writer thread does, while writes queue behind it), so it
  blocks its thread on neither a lock nor an fsync.
- `submit(fn)`: one thread owns the queued writes and one connection, kept open: it takes
  whatever transactions are queued (up to `max_batch`), runs each inside its own SAVEPOINT
  within one BEGIN IMMEDIATE … COMMIT, and only then reports each result. A transaction
  that raises is rolled back to its savepoint alone; if the COMMIT itself fails, every
  transaction of the batch reports that failure and none of them happened.

Savepoints and BEGIN go straight to sqlite3: through SQLAlchemy each one cost as much as a
ledger statement (the engines have no "begin" hook, so statements skip event dispatch).
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Literal, TypeVar

from sqlalchemy import Connection, Engine

log = logging.getLogger(__name__)

T = TypeVar("T")
Job = tuple[Callable[[Connection], Any], "Future[Any]"]
_Item = Job | Literal["checkpoint"] | None  # None: stop

# WAL frames a ledger transaction appends: ~10 pages, so about SQLite's default
# autocheckpoint (1000 pages) for commits made inline.
_CHECKPOINT_EVERY = 100


class WriterBusy(Exception):
    """The write could not run inline (a write is queued, running, or holds the lock)."""


def raw_sqlite(conn: Connection) -> Any:
    """The sqlite3 connection under `conn`."""
    return conn.connection.driver_connection


class SqliteWriter:
    def __init__(self, engine: Engine, *, max_batch: int = 64) -> None:
        self._engine = engine
        self._conn: Connection | None = None  # used by the writer thread only
        self._max_batch = max_batch
        self._jobs: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._unfinished = 0  # jobs submitted and not yet reported
        self._inline = threading.local()
        self._inline_conns: list[Connection] = []
        self._inline_commits = 0
        self._thread = threading.Thread(target=self._loop, name="sqlite-writer", daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[[Connection], Any]) -> Future[Any]:
        future: Future[Any] = Future()
        with self._lock:
            self._unfinished += 1
        self._jobs.put((fn, future))
        return future

    def run_inline(self, fn: Callable[[Connection], T]) -> T:
        """`fn` in one transaction on the calling thread, or WriterBusy without running it."""
        # (Read without the lock: a stale answer costs a fallback or a short lock wait.)
        if self._unfinished:  # queued work keeps its place; batching serves it best
            raise WriterBusy
        conn = self._inline_connection()
        with conn.begin():  # commits, or rolls back, what BEGIN IMMEDIATE starts
            try:
                raw_sqlite(conn).execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:  # "database is locked"
                raise WriterBusy from exc
            result = fn(conn)
        self._inline_commits += 1
        if self._inline_commits % _CHECKPOINT_EVERY == 0:
            # Counted as queued work: writes go to the queue (behind the checkpoint) until it
            # is done, or it would chase a log that grows while it copies.
            with self._lock:
                self._unfinished += 1
            self._jobs.put("checkpoint")
        return result

    def close(self, timeout: float = 5.0) -> None:
        """Finish what is queued, then stop the thread."""
        self._jobs.put(None)
        self._thread.join(timeout)
        for conn in self._inline_conns:
            conn.close()

    def _inline_connection(self) -> Connection:
        conn: Connection | None = getattr(self._inline, "conn", None)
        if conn is None or conn.closed or conn.invalidated:
            if conn is not None:
                conn.close()
            conn = self._inline.conn = self._engine.connect()
            driver = raw_sqlite(conn)
            driver.execute("PRAGMA busy_timeout=0")
            driver.execute("PRAGMA wal_autocheckpoint=0")
            self._inline_conns.append(conn)
        return conn

    def _loop(self) -> None:
        try:
            while self._serve_batch():
                pass
        finally:
            if self._conn is not None:
                self._conn.close()

    def _serve_batch(self) -> bool:
        """Run the next batch of queued jobs; False once asked to stop."""
        batch: list[Job] = []
        item = self._jobs.get()
        checkpoints = 0
        stop = False
        while True:
            if item is None:
                stop = True
            elif item == "checkpoint":
                checkpoints += 1
            else:
                batch.append(item)
            if stop or len(batch) >= self._max_batch:
                break
            try:
                item = self._jobs.get_nowait()
            except queue.Empty:
                break
        if checkpoints:
            self._checkpoint()
        live = [job for job in batch if job[1].set_running_or_notify_cancel()]
        outcomes = self._run(live) if live else []
        with self._lock:  # before reporting: a caller woken by a result may write inline
            self._unfinished -= len(batch) + checkpoints
        for future, ok, value in outcomes:
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)
        return not stop

    def _connection(self) -> Connection:
        # One connection for the thread's life: a pool checkout per batch costs more than
        # most of the statements in it.
        if self._conn is None or self._conn.closed or self._conn.invalidated:
            if self._conn is not None:
                self._conn.close()
            self._conn = self._engine.connect()
        return self._conn

    def _run(self, batch: list[Job]) -> list[tuple[Future[Any], bool, Any]]:
        """Run `batch` in one transaction: each job's (future, ok, result or exception)."""
        outcomes: list[tuple[Future[Any], bool, Any]] = []
        try:
            conn = self._connection()
            with conn.begin():
                sqlite = raw_sqlite(conn)
                sqlite.execute("BEGIN IMMEDIATE")  # waits (busy_timeout) for the lock
                if len(batch) == 1:  # nothing to isolate it from: skip the savepoint
                    fn, future = batch[0]
                    outcomes.append((future, True, fn(conn)))
                else:
                    for fn, future in batch:
                        outcomes.append((future, *_in_savepoint(sqlite, conn, fn)))
        except Exception as exc:
            # Nothing of this batch was committed: every caller sees the failure.
            return [(future, False, exc) for _, future in batch]
        return outcomes

    def _checkpoint(self) -> None:
        """Copy the WAL back into the database file for the commits made inline (whose
        connections do not checkpoint), without waiting for readers."""
        try:
            raw_sqlite(self._connection()).execute("PRAGMA wal_checkpoint(PASSIVE)")
        except Exception:
            log.warning("WAL checkpoint failed; retried after the next inline commits")


def _in_savepoint(
    sqlite: Any, conn: Connection, fn: Callable[[Connection], Any]
) -> tuple[bool, Any]:
    """(True, result) or, with its changes rolled back, (False, exception)."""
    sqlite.execute("SAVEPOINT job")
    try:
        result = fn(conn)
    except Exception as exc:
        sqlite.execute("ROLLBACK TO job")
        sqlite.execute("RELEASE job")
        return False, exc
    sqlite.execute("RELEASE job")
    return True, result

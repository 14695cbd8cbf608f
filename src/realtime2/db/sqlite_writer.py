"""Group commit for SQLite writes.

SQLite allows one writer at a time, and on small machines the cost of a write transaction
is mostly its fixed part (taking the lock, committing, the thread hop) rather than its
statements. One thread owns the writes: it takes whatever transactions are queued (up to
`max_batch`), runs each inside its own SAVEPOINT within one BEGIN IMMEDIATE … COMMIT, and
only then reports each result. A transaction that raises is rolled back to its savepoint
alone; if the COMMIT itself fails, every transaction of the batch reports that failure and
none of them happened.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

Job = tuple[Callable[[Session], Any], "Future[Any]"]


class SqliteWriter:
    def __init__(self, maker: sessionmaker[Session], *, max_batch: int = 64) -> None:
        self._maker = maker
        self._max_batch = max_batch
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name="sqlite-writer", daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[[Session], Any]) -> Future[Any]:
        future: Future[Any] = Future()
        self._jobs.put((fn, future))
        return future

    def close(self, timeout: float = 5.0) -> None:
        """Finish what is queued, then stop the thread."""
        self._jobs.put(None)
        self._thread.join(timeout)

    def _loop(self) -> None:
        while True:
            first = self._jobs.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < self._max_batch:
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    stop = True
                    break
                batch.append(job)
            live = [job for job in batch if job[1].set_running_or_notify_cancel()]
            if live:
                self._run(live)
            if stop:
                return

    def _run(self, batch: list[Job]) -> None:
        outcomes: list[tuple[Future[Any], bool, Any]] = []
        try:
            with self._maker() as session, session.begin():
                if len(batch) == 1:  # nothing to isolate it from: skip the savepoint
                    fn, future = batch[0]
                    outcomes.append((future, True, fn(session)))
                else:
                    for fn, future in batch:
                        try:
                            with session.begin_nested():
                                outcomes.append((future, True, fn(session)))
                        except Exception as exc:
                            outcomes.append((future, False, exc))
        except Exception as exc:
            # Nothing of this batch was committed: every caller sees the failure.
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for future, ok, value in outcomes:
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

"""A priority job queue per model, served by one worker thread.

Each loaded model is shared by every session in the process but is not safe to call from
two threads at once, and two CPU cores gain nothing from running it twice in parallel. So
each model gets one `ModelWorker`: callers submit small jobs (one transcription, one TTS
sentence, one slice of LLM generation) and the worker runs them in `Priority` order, then
arrival order. Because streaming work is split into small jobs, first-audio work for one
session can overtake the tail of another session's long reply between two jobs; a
long-running job can also poll `most_urgent_waiting()` and end its slice early.

A job cancelled while still queued never runs. A running job finishes its step (native
inference cannot be interrupted), and the caller simply drops its result.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import heapq
import itertools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from realtime2.engine.interfaces import Priority

T = TypeVar("T")

log = logging.getLogger(__name__)


@dataclass(order=True)
class _Job:
    priority: int
    seq: int
    fn: Callable[[], Any] = field(compare=False)
    future: concurrent.futures.Future[Any] = field(compare=False)


class ModelWorker:
    """Runs submitted callables on one dedicated thread, highest priority first."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._heap: list[_Job] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._busy = False

    def submit(
        self, fn: Callable[[], T], priority: Priority = Priority.INTERACTIVE
    ) -> concurrent.futures.Future[T]:
        """Queue `fn`; the returned future can be cancelled until the job starts."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        with self._cond:
            if self._closed:
                raise RuntimeError(f"model worker {self.name!r} is closed")
            heapq.heappush(self._heap, _Job(int(priority), next(self._seq), fn, future))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name=f"model-{self.name}", daemon=True
                )
                self._thread.start()
            self._cond.notify()
        return future

    async def run(self, fn: Callable[[], T], priority: Priority = Priority.INTERACTIVE) -> T:
        """Run `fn` on the worker and await its result.

        Cancelling the awaiting task cancels the job if it has not started yet
        (`asyncio.wrap_future` propagates the cancellation to the concurrent future).
        """
        return await asyncio.wrap_future(self.submit(fn, priority))

    @property
    def queued(self) -> int:
        with self._cond:
            return sum(1 for job in self._heap if not job.future.cancelled())

    def most_urgent_waiting(self) -> int | None:
        """The priority of the most urgent queued job, or None when nothing waits.

        Long-running jobs (an LLM generation slice) poll this to yield the thread early.
        """
        with self._cond:
            live = [job.priority for job in self._heap if not job.future.cancelled()]
        return min(live) if live else None

    @property
    def busy(self) -> bool:
        return self._busy

    def close(self, *, wait: bool = True) -> None:
        """Stop accepting jobs, cancel the queued ones, and stop the thread."""
        with self._cond:
            self._closed = True
            for job in self._heap:
                job.future.cancel()
            self._heap.clear()
            self._cond.notify_all()
            thread = self._thread
        if wait and thread is not None and thread is not threading.current_thread():
            thread.join()

    def _next_job(self) -> _Job | None:
        with self._cond:
            while not self._heap and not self._closed:
                self._cond.wait()
            if self._closed and not self._heap:
                return None
            return heapq.heappop(self._heap)

    def _run(self) -> None:
        while (job := self._next_job()) is not None:
            # False means the job was cancelled while queued: skip it.
            if not job.future.set_running_or_notify_cancel():
                continue
            self._busy = True
            try:
                result = job.fn()
            except BaseException as exc:  # handed to the caller, never lost
                job.future.set_exception(exc)
            else:
                job.future.set_result(result)
            finally:
                self._busy = False

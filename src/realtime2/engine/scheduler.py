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

Priorities must also hold across models: the STT of one session's turn should not share two
cores with another session's background LLM and TTS work. So the workers of the embedded
models share a `CpuGate`: at most one job per core runs at a time, and a free core goes to
the most urgent waiting job of any model, its priority read when the core is given (a
reply's `Urgency` may have risen while it waited). A long job sees, through
`most_urgent_waiting()`, the jobs waiting at the gate too, and yields to them. A job's
result reaches its caller only after its core is back at the gate.

A worker may also keep cores spare (`spare_cores`): its jobs start only while that many
cores stay free for others, so work nobody waits for (live transcription hypotheses) never
holds the core a first-audio job is about to need; it waits for a quiet moment instead.

A running job may take a second core: one that is idle (`lend`), or one that a less urgent
running job hands over at its next step (`claim`; such a job says so in its worker's
`yielding_to`): a reply's first sentence voiced on two threads while the reply's LLM waits.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from realtime2.engine.interfaces import Priority, Urgency, priority_of

T = TypeVar("T")

log = logging.getLogger(__name__)


# Told of every job submitted from this context once it ran: (model, priority, queued,
# started, ended), `time.perf_counter()` seconds, on the worker's thread. A caller that
# wants to know where one turn's time went (realtime.stages) sets it around that turn's
# tasks; started - queued is the time the job waited for its model and a CPU core.
JobObserver = Callable[[str, int, float, float, float], None]
JOB_OBSERVER: contextvars.ContextVar[JobObserver | None] = contextvars.ContextVar(
    "realtime2_job_observer", default=None
)


class JobAbandoned(Exception):
    """Raised inside a running job whose caller stopped waiting for it: see
    `ModelWorker.check_abandoned`."""


@dataclass
class _Job:
    submitted: Priority | Urgency  # an `Urgency` is read again whenever the queue is ordered
    seq: int
    fn: Callable[[], Any]
    future: concurrent.futures.Future[Any]
    observer: JobObserver | None = None
    queued: float = 0.0
    abandoned: bool = False  # its caller stopped waiting

    @property
    def priority(self) -> int:
        return int(priority_of(self.submitted))

    def order(self) -> tuple[int, int]:
        return self.priority, self.seq


class CpuGate:
    """At most `slots` jobs run at once across the workers sharing it, most urgent first."""

    def __init__(self, slots: int) -> None:
        self.slots = max(1, slots)
        self._running = 0
        # worker -> (priority when it began to wait, or was last raised; seq). A worker's
        # queue may hold an `Urgency` whose priority changes while it waits (a reply about
        # to run dry): `_rank` reads it again at each decision.
        self._waiting: dict[_Waiter, tuple[int, int]] = {}
        self._holding: set[ModelWorker] = set()  # workers whose job holds a core now
        self._seq = itertools.count()
        self._cond = threading.Condition()

    def acquire(self, worker: ModelWorker, priority: int) -> None:
        with self._cond:
            self._waiting[worker] = (priority, next(self._seq))
            while not self._may_start(worker):
                self._cond.wait()
            del self._waiting[worker]
            self._running += 1
            self._holding.add(worker)

    def _startable(self, worker: _Waiter) -> bool:
        return self._running + min(worker.spare_cores, self.slots - 1) < self.slots

    def _would_start(self, worker: _Waiter) -> bool:
        """It would start if one more core were free."""
        return self._running - 1 + min(worker.spare_cores, self.slots - 1) < self.slots

    def _may_start(self, worker: _Waiter) -> bool:
        """A core is free for it, and no startable waiting job is more urgent."""
        if not self._startable(worker):
            return False
        mine = self._rank(worker)
        return all(self._rank(w) >= mine for w in self._waiting if self._startable(w))

    def _rank(self, waiter: _Waiter) -> tuple[int, int]:
        """(current priority, arrival) of a waiter: its queue's most urgent job now."""
        priority, seq = self._waiting[waiter]
        now = waiter.queued_priority()
        return (priority if now is None else now), seq

    def occupy(self) -> None:
        """Count a job that starts at once, core free or not (see `ModelWorker.jumps_gate`):
        borrowed cores are handed back to make room for it."""
        with self._cond:
            self._running += 1

    def release(self, worker: ModelWorker | None = None) -> None:
        """A core is free again: `worker`'s job ended, or a lent or claimed core is back."""
        with self._cond:
            self._running -= 1
            if worker is not None:
                self._holding.discard(worker)
            self._cond.notify_all()

    def lend(self) -> bool:
        """One more core for a job already running, if one is idle and no job waits.

        Give it back with `release()`. A lent core is counted like a running job, so the
        next job to arrive waits for it only until the borrower's next step (`SpareCore`).
        """
        with self._cond:
            if self._running >= self.slots or any(self._startable(w) for w in self._waiting):
                return False
            self._running += 1
            return True

    def claim(self, priority: int, timeout: float) -> bool:
        """One more core for a job already running at `priority`: an idle one at once, or
        the core of a running job that yields to `priority` (its worker's `yielding_to`: an
        LLM slice checks between tokens for more urgent work), waited for at most `timeout`
        seconds. False as soon as no such job runs (other jobs cannot be interrupted) or
        other work waits for a core: a freed core is theirs, and the claimant's own core
        would idle while it waited. Give the core back with `release()`."""
        claim = _Claim()
        deadline = time.monotonic() + timeout
        with self._cond:
            self._waiting[claim] = (priority, next(self._seq))
            try:
                while not self._may_start(claim):
                    left = deadline - time.monotonic()
                    if (
                        left <= 0
                        or any(w is not claim and self._would_start(w) for w in self._waiting)
                        or not any(w.yields_to(priority) for w in self._holding)
                    ):
                        return False
                    self._cond.wait(left)
                self._running += 1
                return True
            finally:
                del self._waiting[claim]
                self._cond.notify_all()  # jobs that deferred to the claim may start

    @property
    def busy_cores(self) -> int:
        """Cores taken now: running jobs and lent cores."""
        with self._cond:
            return self._running

    @property
    def has_idle_core(self) -> bool:
        """A core is free and nothing waits for one: speculative work costs no one."""
        with self._cond:
            return self._running < self.slots and not any(
                self._would_start(w) for w in self._waiting
            )

    @property
    def contended(self) -> bool:
        """More jobs run than there are cores, or some waiting job would start if a borrower
        gave its core back (a worker keeping cores spare, like live hypotheses, would not: it
        waits for a quiet machine)."""
        with self._cond:
            return self._running > self.slots or any(self._would_start(w) for w in self._waiting)

    def raise_priority(self, worker: ModelWorker, priority: int) -> None:
        """A more urgent job reached a worker that is already waiting for a core."""
        with self._cond:
            entry = self._waiting.get(worker)
            if entry is not None and priority < entry[0]:
                self._waiting[worker] = (priority, entry[1])
                self._cond.notify_all()

    def most_urgent_waiting(self) -> int | None:
        with self._cond:
            return min(self._rank(w)[0] for w in self._waiting) if self._waiting else None


class _Waiter(Protocol):
    @property
    def spare_cores(self) -> int: ...

    def queued_priority(self) -> int | None:
        """The current priority of its most urgent queued job (None: as when it came)."""
        ...


class _Claim:
    """A running job waiting at the gate for a second core (`CpuGate.claim`)."""

    spare_cores = 0

    def queued_priority(self) -> int | None:
        return None  # the claimant's priority is fixed


def usable_cores() -> int:
    """Cores this process may run on (a container's CPU set, not the host's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


_process_gate: CpuGate | None = None
_process_gate_lock = threading.Lock()


def process_gate() -> CpuGate:
    """The gate shared by every embedded model in this process: one slot per CPU core
    (models run one thread each by default; see `EngineSettings.threads`)."""
    global _process_gate
    with _process_gate_lock:
        if _process_gate is None:
            _process_gate = CpuGate(usable_cores())
        return _process_gate


class SpareCore:
    """A running job's second core, held only while no other job wants one.

    On two cores a lone turn leaves one idle most of the time: its transcript, then the
    LLM's first words, then their synthesis run one after another. A model that can change
    its thread count between steps (llama.cpp between two decodes) calls `step()` before
    each: it borrows an idle core when nobody waits for one and gives it back as soon as
    somebody does, calling `on_change(True/False)` to set the threads to match. So a quiet
    machine runs the job on both cores and a busy one keeps one job per core.
    """

    def __init__(self, gate: CpuGate | None, on_change: Callable[[bool], None]) -> None:
        self._gate = gate if gate is not None and gate.slots > 1 else None
        self._on_change = on_change
        self.held = False

    def step(self) -> None:
        gate = self._gate
        if gate is None:
            return
        if self.held:
            if gate.contended:
                self.release()
        elif gate.lend():
            self.held = True
            self._on_change(True)

    def release(self) -> None:
        if self.held and self._gate is not None:
            self.held = False
            self._on_change(False)
            self._gate.release()


class ModelWorker:
    """Runs submitted callables on one dedicated thread, highest priority first."""

    def __init__(
        self,
        name: str,
        *,
        gate: CpuGate | None = None,
        spare_cores: int = 0,
        jumps_gate: bool = False,
    ) -> None:
        self.name = name
        self._gate = gate
        # Set by a running job that polls `most_urgent_waiting()` and ends at its next step
        # for work more urgent than this priority, which its owner may lower meanwhile
        # (None: it runs to its end), so that a `CpuGate.claim` may wait for its core;
        # cleared once the job gave the core back.
        self.yielding_to: Priority | Urgency | None = None
        # Its jobs start at once, without waiting for a core, but count as running while
        # they do: for short checks a decision waits on (the end-of-turn model), which
        # must neither queue behind a draft's whisper run nor share a core with a borrower.
        self.jumps_gate = jumps_gate
        self.spare_cores = spare_cores  # the gate starts its jobs only with this many free
        # Few jobs wait at a time, and a queued job's `Urgency` may change while it waits
        # (a reply whose audio runs out: `engine.pacing`), so the most urgent job is looked
        # for when one is taken rather than kept in a heap.
        self._queue: list[_Job] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._busy = False
        self._current: _Job | None = None  # the job running now

    def submit(
        self, fn: Callable[[], T], priority: Priority | Urgency = Priority.INTERACTIVE
    ) -> concurrent.futures.Future[T]:
        """Queue `fn`; the returned future can be cancelled until the job starts. An
        `Urgency` is the job's priority as it is when the queue is ordered, not as it was
        when queued."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        with self._cond:
            if self._closed:
                raise RuntimeError(f"model worker {self.name!r} is closed")
            job = _Job(priority, next(self._seq), fn, future, JOB_OBSERVER.get())
            if job.observer is not None:
                job.queued = time.perf_counter()
            self._queue.append(job)
            if self._gate is not None:
                self._gate.raise_priority(self, job.priority)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name=f"model-{self.name}", daemon=True
                )
                self._thread.start()
            self._cond.notify()
        return future

    async def run(
        self, fn: Callable[[], T], priority: Priority | Urgency = Priority.INTERACTIVE
    ) -> T:
        """Run `fn` on the worker and await its result.

        Cancelling the awaiting task cancels the job if it has not started yet
        (`asyncio.wrap_future` propagates the cancellation to the concurrent future). A job
        already running cannot be stopped from outside; it is marked abandoned, and a job
        made of stages may end between two of them (`check_abandoned`).
        """
        future = self.submit(fn, priority)
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            with self._cond:
                if self._current is not None and self._current.future is future:
                    self._current.abandoned = True
            raise

    def check_abandoned(self) -> None:
        """Called by a running job between its stages (on the worker's thread): raises
        `JobAbandoned` when nobody waits for its result any more. A discarded draft's
        whisper run is the case in point: the user talked on, so its transcript is
        worthless, and the next pause's draft would wait for its core."""
        job = self._current
        if job is not None and job.abandoned:
            raise JobAbandoned(f"{self.name}: the job's caller stopped waiting")

    @property
    def gate(self) -> CpuGate | None:
        """The CPU gate this worker's jobs pass (None: unbounded)."""
        return self._gate

    @property
    def queued(self) -> int:
        with self._cond:
            return sum(1 for job in self._queue if not job.future.cancelled())

    def queued_priority(self) -> int | None:
        """The current priority of the most urgent job queued here (None: none queued).
        Read without the worker's lock: the gate asks while holding its own, and `submit`
        takes the two the other way round; copying the list is atomic."""
        live = [job.priority for job in list(self._queue) if not job.future.cancelled()]
        return min(live) if live else None

    def most_urgent_waiting(self) -> int | None:
        """The priority of the most urgent job queued here or waiting at the gate for a
        core, or None when nothing waits.

        Long-running jobs (an LLM generation slice) poll this to yield the thread early.
        """
        elsewhere = self._gate.most_urgent_waiting() if self._gate is not None else None
        waiting = [p for p in (self.queued_priority(), elsewhere) if p is not None]
        return min(waiting) if waiting else None

    def yields_to(self, priority: int) -> bool:
        """Its running job ends at its next step for work of `priority`."""
        mine = self.yielding_to  # read once: the job may clear it meanwhile
        return mine is not None and priority < priority_of(mine)

    @property
    def busy(self) -> bool:
        return self._busy

    def close(self, *, wait: bool = True) -> None:
        """Stop accepting jobs, cancel the queued ones, and stop the thread."""
        with self._cond:
            self._closed = True
            for job in self._queue:
                job.future.cancel()
            self._queue.clear()
            self._cond.notify_all()
            thread = self._thread
        if wait and thread is not None and thread is not threading.current_thread():
            thread.join()

    def _wait_for_work(self) -> int | None:
        """Block until a job is queued; its priority, or None once closed and drained."""
        with self._cond:
            while not self._queue and not self._closed:
                self._cond.wait()
            if self._closed and not self._queue:
                return None
            return min(job.order() for job in self._queue)[0]

    def _pop(self) -> _Job | None:
        with self._cond:
            if not self._queue:
                return None
            job = min(self._queue, key=_Job.order)
            self._queue.remove(job)
            return job

    def _run(self) -> None:
        while (priority := self._wait_for_work()) is not None:
            settle: Callable[[], None] | None = None
            if self._gate is not None:
                if self.jumps_gate:
                    self._gate.occupy()
                else:
                    self._gate.acquire(self, priority)
            try:
                # The most urgent job now: one may have arrived while waiting for a core.
                job = self._current = self._pop()  # current before it runs: see `run`
                # False means the job was cancelled while queued: skip it.
                if job is None or not job.future.set_running_or_notify_cancel():
                    continue
                settle = self._run_job(job)
            finally:
                self._current = None
                if self._gate is not None:
                    self._gate.release(self)
                self.yielding_to = None  # only now: a claim may wait for the core until here
                # The caller hears of the result only once the core is back: its next job
                # (or a check of the gate) must not find the core still held by this one.
                if settle is not None:
                    settle()

    def _run_job(self, job: _Job) -> Callable[[], None]:
        """Run the job; what hands its result (or exception) to the caller, to call once
        the job's core is returned."""
        self._busy = True
        started = time.perf_counter()
        try:
            result = job.fn()
        except BaseException as exc:  # handed to the caller, never lost
            return functools.partial(job.future.set_exception, exc)
        else:
            return functools.partial(job.future.set_result, result)
        finally:
            self._busy = False
            if job.observer is not None:
                try:
                    job.observer(self.name, job.priority, job.queued, started, time.perf_counter())
                except Exception:  # a broken observer must not stop the model's thread
                    log.exception("job observer failed on worker %s", self.name)

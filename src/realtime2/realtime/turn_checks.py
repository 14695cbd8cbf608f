"""Running a session's end-of-turn checks (`CheckTurnEnd`) on the end-of-turn model.

The session asks at the start of each pause (`protocol.turn_end`); the model runs on its own
worker thread, never on the event loop. At most one check per session is in flight: a check
that comes while another runs waits, and a newer one replaces it (the older pause is stale:
the user spoke again, or the turn has moved on), so a slow CPU never builds a backlog.

When the pause is over before its answer (`CancelTurnCheck`), a waiting check is dropped and
a running one is no longer waited for: its job is taken off the model worker's queue if it
has not started (checks of all sessions share one worker, and jump the CPU gate: a stale
one would take a core from another session's first audio). One already running ends
between its stages where the model has them (Smart Turn: after its features), or finishes
unheard.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

from realtime2.audio.resample import resample
from realtime2.engine.interfaces import Priority, TurnModel
from realtime2.engine.scheduler import process_gate
from realtime2.protocol.commands import CheckTurnEnd
from realtime2.protocol.session import RealtimeSession

log = logging.getLogger(__name__)

Spawn = Callable[[Coroutine[Any, Any, None]], "asyncio.Task[None]"]


class TurnChecks:
    def __init__(
        self,
        model: TurnModel,
        session: RealtimeSession,
        spawn: Spawn,
        flush: Callable[[], None],
    ) -> None:
        self._model = model
        self._session = session
        self._spawn = spawn
        self._flush = flush
        self._task: asyncio.Task[None] | None = None
        self._waiting: CheckTurnEnd | None = None
        self.checks = 0  # run to completion (tests, benchmarks)
        self.skipped = 0  # replaced before they ran
        self.cancelled = 0  # called off by the session before their answer
        self.declined = 0  # asked at a fade while no core was idle: not run
        self._running: int | None = None  # the check id `_task` is running now
        # Seconds from each check's command to its answer (queue, CPU gate and model), the
        # latest 256: what a pause waits for the model (benchmarks).
        self.latencies: deque[float] = deque(maxlen=256)
        self._submitted: dict[int, float] = {}

    def submit(self, check: CheckTurnEnd) -> None:
        self._submitted = {check.check_id: time.perf_counter()}  # only the newest is kept
        if self._task is not None and not self._task.done():
            if self._waiting is not None:
                self.skipped += 1
            self._waiting = check
            return
        self._task = self._spawn(self._run(check))

    def cancel(self, check_id: int) -> None:
        """The session called check `check_id` off: its pause is over."""
        self._submitted.pop(check_id, None)
        if self._waiting is not None and self._waiting.check_id == check_id:
            self._waiting = None
            self.cancelled += 1
        elif self._running == check_id and self._task is not None and not self._task.done():
            self._task.cancel()
            self._running = None
            self.cancelled += 1
            # (A newer check waiting behind it, should one be, starts now.)
            waiting, self._waiting = self._waiting, None
            self._task = self._spawn(self._run(waiting)) if waiting is not None else None

    async def _run(self, check: CheckTurnEnd | None) -> None:
        while check is not None:
            self._running = check.check_id
            await self._check(check)
            self._running = None
            check, self._waiting = self._waiting, None

    async def _check(self, c: CheckTurnEnd) -> None:
        if c.at_fade and not process_gate().has_idle_core:
            # Asked before any pause, beside the early draft: worth a core only when one is
            # idle. Declined, the check is asked at the pause instead (`TurnEndChecks`).
            self.declined += 1
            self._session.on_turn_end_failed(c.item_id, c.check_id)
            self._flush()
            return
        rate = self._model.capabilities.sample_rate
        audio = c.audio if c.sample_rate == rate else resample(c.audio, c.sample_rate, rate)
        try:
            # First-audio work: the turn's reply waits for this answer.
            probability = await self._model.end_of_turn(audio, priority=Priority.FIRST_AUDIO)
        except asyncio.CancelledError:
            raise
        except Exception:
            # Only a hint: without it the words set the silence window.
            log.warning("end-of-turn check failed in session %s", self._session.id)
            self._session.on_turn_end_failed(c.item_id, c.check_id)
        else:
            self.checks += 1
            submitted = self._submitted.pop(c.check_id, None)
            if submitted is not None:
                self.latencies.append(time.perf_counter() - submitted)
            self._session.on_turn_end_score(c.item_id, c.check_id, probability)
        self._flush()

"""Graceful drain: what a replica does between SIGTERM and exiting.

`realtime2 serve` (`serving.DrainingServer`) hears the signal and calls `Drain.run` before
uvicorn stops: new sessions are refused (`503 server_draining`, and `/readyz` answers 503
so the balancer stops sending work), every live socket session gets an `error` event
`server_shutting_down` and is closed (its meter settles the seconds used), WebRTC calls are
hung up, and the drain waits for all of them to settle, up to a deadline. Only then does
uvicorn close what is left and the process exit. Without the drain, uvicorn cut every socket
with 1012 and no event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from realtime2.edge.admission import SessionSlots

log = logging.getLogger(__name__)
SHUTDOWN_MESSAGE = "The server is shutting down; reconnect to continue."


class Drain:
    def __init__(self) -> None:
        self.started = asyncio.Event()

    @property
    def draining(self) -> bool:
        return self.started.is_set()

    async def run(
        self,
        slots: SessionSlots,
        *,
        hang_up_calls: Callable[[float], Awaitable[None]],
        seconds: float,
    ) -> int:
        """Stop taking sessions, end the live ones, wait up to `seconds` for them to settle.
        Returns how many were still running at the deadline (0: a clean drain)."""
        before = slots.active
        log.info("draining: %d live sessions", before)
        slots.draining = True  # new sessions: 503 server_draining
        self.started.set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await hang_up_calls(seconds)
                # Sockets release their slot once settled; polling a count, not an event.
                while slots.active > 0:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
        left = slots.active
        log.info("drained: %d of %d sessions ended, %d left", before - left, before, left)
        return left

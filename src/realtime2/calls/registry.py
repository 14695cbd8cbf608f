"""The calls this process runs, by id. Ended calls stay listed for a while so `/charge`
and `/hangup` after the end answer with the final figures instead of 404."""

from __future__ import annotations

import asyncio
import time
from typing import Final

from realtime2.calls.base import Call
from realtime2.calls.pending import PendingCalls

ENDED_RETENTION_SECONDS: Final = 3600.0


class CallRegistry:
    def __init__(self, retention_seconds: float = ENDED_RETENTION_SECONDS) -> None:
        self.retention_seconds = retention_seconds
        self._calls: dict[str, Call] = {}
        self._ended_at: dict[str, float] = {}
        self.pending = PendingCalls()

    def add(self, call: Call) -> None:
        self._purge()
        self._calls[call.id] = call

    def get(self, call_id: str) -> Call | None:
        return self._calls.get(call_id)

    def mark_ended(self, call: Call) -> None:
        self._ended_at[call.id] = time.monotonic()

    def active(self) -> list[Call]:
        return [c for c in self._calls.values() if not c.ended.is_set()]

    async def close_all(self, wait_seconds: float = 10.0) -> None:
        """Shutdown: hang up every call and wait for them to settle."""
        calls = self.active()
        for call in calls:
            call.hang_up("server_shutdown")
        if calls:
            await asyncio.wait(
                [asyncio.create_task(c.wait_ended()) for c in calls], timeout=wait_seconds
            )

    def _purge(self) -> None:
        cutoff = time.monotonic() - self.retention_seconds
        for call_id, ended_at in list(self._ended_at.items()):
            if ended_at < cutoff:
                del self._ended_at[call_id]
                self._calls.pop(call_id, None)

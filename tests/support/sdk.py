"""Driving the official SDKs in tests: `SdkEvents` validates each raw server event (and lets
the SDK parse it), `stream_audio` appends audio at real-time pace."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from typing import Any

from tests.support.validate import assert_valid

RATE = 24000
TURN_LIMIT_S = 180.0  # generous: the machine is shared with other test runs


class SdkEvents:
    """Collects an SDK connection's server events as dicts, validating each one."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.events: list[dict[str, Any]] = []
        self.times: list[float] = []
        self._changed = asyncio.Event()
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while True:
            raw = await self.conn.recv_bytes()
            event = json.loads(raw)
            assert_valid(event)
            self.conn.parse_event(raw)  # and the SDK's own parser accepts it
            self.events.append(event)
            self.times.append(time.perf_counter())
            self._changed.set()

    def stop(self) -> None:
        self._task.cancel()

    def types(self) -> list[str]:
        return [e["type"] for e in self.events]

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]

    async def wait_for(self, kind: str, after: int = 0, limit_s: float = TURN_LIMIT_S) -> int:
        """Index of the first `kind` event at or after index `after`."""
        deadline = time.perf_counter() + limit_s
        while True:
            if self._task.done():
                self._task.result()  # surface a validation failure
            for i in range(after, len(self.events)):
                if self.events[i]["type"] == kind:
                    return i
            self._changed.clear()
            left = deadline - time.perf_counter()
            if left <= 0:
                raise AssertionError(f"no {kind} within {limit_s} s; saw {self.types()[after:]}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(left, 1.0))


async def stream_audio(conn: Any, data: bytes, *, bytes_per_ms: float, chunk_ms: int = 20) -> None:
    """Append `data` in `chunk_ms` pieces at real-time pace, as a microphone would."""
    step = int(bytes_per_ms * chunk_ms)
    start = time.perf_counter()
    for i, offset in enumerate(range(0, len(data), step)):
        delay = start + i * chunk_ms / 1000 - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        chunk = base64.b64encode(data[offset : offset + step]).decode()
        await conn.input_audio_buffer.append(audio=chunk)


def silence_pcm(ms: int) -> bytes:
    return b"\0" * (RATE * ms // 1000 * 2)

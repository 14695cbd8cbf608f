"""Client events waiting for a call's session, bounded in count and bytes.

Data-channel messages arrive in an aiortc callback that cannot wait, so a peer sending
faster than the session handles its events would otherwise grow the queue without limit.
`offer` (the data channel) refuses when full and the call ends the peer; `put` (a sideband
WebSocket) waits for room, which pushes back on the socket instead.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Final

MAX_MESSAGES: Final = 64
MAX_BYTES: Final = 4 * 1024 * 1024


class Inbox:
    def __init__(self, max_messages: int = MAX_MESSAGES, max_bytes: int = MAX_BYTES) -> None:
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self._queue: deque[str | bytes] = deque()
        self._bytes = 0
        self._readable = asyncio.Event()
        self._room = asyncio.Event()

    def __len__(self) -> int:
        return len(self._queue)

    def _has_room(self, size: int) -> bool:
        if not self._queue:
            return True  # one message always fits: the transport bounded its size
        return len(self._queue) < self.max_messages and self._bytes + size <= self.max_bytes

    def offer(self, message: str | bytes) -> bool:
        """Queue without waiting; False (message not queued) when the inbox is full."""
        if not self._has_room(len(message)):
            return False
        self._push(message)
        return True

    async def put(self, message: str | bytes) -> None:
        """Queue, waiting for room."""
        while not self._has_room(len(message)):
            self._room.clear()
            await self._room.wait()
        self._push(message)

    async def get(self) -> str | bytes:
        while not self._queue:
            self._readable.clear()
            await self._readable.wait()
        message = self._queue.popleft()
        self._bytes -= len(message)
        self._room.set()
        return message

    def _push(self, message: str | bytes) -> None:
        self._queue.append(message)
        self._bytes += len(message)
        self._readable.set()

"""Calls a user has opened that have not connected yet.

An offer costs the client nothing until ICE+DTLS connect (metering starts there), yet each
one holds a session slot, peer-connection state and sockets for up to the connect timeout.
Capping them per user keeps that free work small.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from realtime2.errors import ApiError


class PendingCalls:
    def __init__(self) -> None:
        self._per_user: Counter[int] = Counter()

    def count(self, user_id: int) -> int:
        return self._per_user[user_id]

    def reserve(self, user_id: int, limit: int) -> Callable[[], None]:
        """Count one more pending call (429 past `limit`); the returned function ends the
        count, once however often it is called (on connect, or on the call ending)."""
        if self._per_user[user_id] >= limit:
            raise ApiError(
                429,
                "too_many_pending_calls",
                f"At most {limit} calls per user may be waiting to connect.",
                headers={"Retry-After": "5"},
            )
        self._per_user[user_id] += 1
        released = False

        def release() -> None:
            nonlocal released
            if released:
                return
            released = True
            self._per_user[user_id] -= 1
            if self._per_user[user_id] <= 0:
                del self._per_user[user_id]

        return release

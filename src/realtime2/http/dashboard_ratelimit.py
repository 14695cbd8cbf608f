"""Failed-login throttling for the dashboard.

State lives in this process's memory only: with several worker processes each one counts
on its own (so the effective limit is multiplied by the worker count), and a restart
forgets everything. That is acceptable for a brake on password guessing; a shared store
would be needed for a strict global limit.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable

MAX_FAILURES = 10
WINDOW_SECONDS = 15 * 60
# Bounds memory: past this many tracked emails/IPs the least recently failed is forgotten.
MAX_TRACKED = 10_000


class LoginLimiter:
    """Sliding-window count of failed logins per key ("email:…", "ip:…")."""

    def __init__(
        self,
        *,
        max_failures: int = MAX_FAILURES,
        window_seconds: float = WINDOW_SECONDS,
        max_tracked: int = MAX_TRACKED,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window = window_seconds
        self.max_tracked = max_tracked
        self.clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after(self, keys: Iterable[str]) -> int:
        """Seconds until every key may try again; 0 when none is blocked."""
        now = self.clock()
        wait = 0.0
        for key in keys:
            times = self._recent(key, now)
            if len(times) >= self.max_failures:
                # Blocked until the oldest failure in the window ages out.
                wait = max(wait, times[0] + self.window - now)
        return math.ceil(wait) if wait > 0 else 0

    def record_failure(self, keys: Iterable[str]) -> None:
        now = self.clock()
        for key in keys:
            times = self._failures.get(key)
            if times is None:
                times = self._failures[key] = deque(maxlen=self.max_failures)
            times.append(now)
            self._failures.move_to_end(key)
        while len(self._failures) > self.max_tracked:
            self._failures.popitem(last=False)

    def reset(self, key: str) -> None:
        self._failures.pop(key, None)

    def tracked(self) -> int:
        return len(self._failures)

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            self._failures.pop(key, None)
        return times

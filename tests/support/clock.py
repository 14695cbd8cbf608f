"""The one fake clock: a callable returning `now`, moved by the test."""

from __future__ import annotations


class FakeClock:
    """Stands in for `time.monotonic` / `time.time`: `clock()` is `clock.now`."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

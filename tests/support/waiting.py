"""Waiting for a condition that other tasks make true, without an event to wait on."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def until(condition: Callable[[], object], within: float = 5.0, every: float = 0.01) -> None:
    """Return once `condition()` is true; TimeoutError after `within` seconds."""
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110 - polled state, not an event
            await asyncio.sleep(every)

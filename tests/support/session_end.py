"""A realtime socket the server ends: the error events it sent before closing, and how long
the ending took (from the call, which a test makes right after what should end it)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from websockets.asyncio.client import ClientConnection


async def errors_until_closed(
    ws: ClientConnection, within: float
) -> tuple[list[dict[str, Any]], float]:
    """Read until the server closes the socket (at most `within` seconds, else TimeoutError);
    the `error` of each error event, and the seconds it took."""
    started = time.monotonic()
    errors: list[dict[str, Any]] = []
    async with asyncio.timeout(within):
        async for frame in ws:
            event = json.loads(frame)
            if event["type"] == "error":
                errors.append(event["error"])
    return errors, time.monotonic() - started

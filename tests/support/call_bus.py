"""The call bus in tests: whether a Redis answers, a sideband relayed from one bus to
another, and a replica's bus dying silently."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from realtime2.calls.bus import SIDEBAND, CallBus
from realtime2.calls.relay import RelayEnd

# Pub/sub channels are not per database: tests keep apart by naming their replicas uniquely.
REDIS_URL = "redis://127.0.0.1:6379/0"


def redis_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


async def vanish(bus: CallBus) -> None:
    """The bus's replica dies without a word (SIGKILL): nothing it sends arrives any more,
    and its listener and the commands it runs stop."""

    async def unheard(replica: str, message: dict[str, Any]) -> bool:
        return False

    bus.publish = unheard  # type: ignore[method-assign]
    assert bus._listener is not None
    tasks = [bus._listener, *bus._running]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def relayed_sideband(asker: CallBus, owner: CallBus, call_id: str, user_id: int) -> RelayEnd:
    """Open a sideband on `owner`'s call `call_id`, relayed to `asker`: the relay's end on
    the asking side, once the owner has subscribed it to the call's events."""
    end = asker.open_relay(owner.replica)
    await asker.request(owner.replica, SIDEBAND, call_id, user_id, {"relay": end.id}, within=2)
    return end

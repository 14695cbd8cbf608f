"""One end of a sideband socket relayed between two replicas over the call bus.

A sideband (`/v1/realtime?call_id=…`) that reaches a replica other than the call's owner is
accepted there and relayed: client events go to the owner, the call's server events come
back. Each replica has one end (`RelayEnd`) with the same id; the bus hands each end the
messages its peer sent, and each end sends to its peer through the bus. The owner's end is
driven by `serve_owner_end` (the call's event queue out, client events into the call); the
receiving replica's end is driven by the WebSocket (`transports.sideband_relay`).

Both ends ping every `ping_seconds` and give up on a peer not heard from for
`lost_seconds` (the other replica died or lost Redis): closing either side closes the other,
and a lost peer closes its end with `peer_lost`. Everything waiting is bounded: an end holds
at most `RELAY_QUEUE` messages; past that it closes (`too_slow`) rather than grow.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

from realtime2.calls.base import Call, Event
from realtime2.protocol.server_events import error_event

log = logging.getLogger(__name__)

RELAY_QUEUE: Final = 256
# The largest payload relayed (text characters, or bytes before base64), so that a message
# stays under the bus's limit (`bus.MAX_MESSAGE_BYTES`, 1 MiB) with its envelope.
MAX_PAYLOAD: Final = 512 * 1024
# Close reasons, as both ends and the socket's error event name them.
CALL_ENDED: Final = "call_ended"
PEER_CLOSED: Final = "peer_closed"
PEER_LOST: Final = "peer_lost"
TOO_SLOW: Final = "too_slow"
SHUTDOWN: Final = "shutdown"

Message = dict[str, Any]
Payload = str | bytes
# Sends a message to the peer replica; returns False when nobody received it.
Publish = Callable[[str, Message], Awaitable[bool]]


def fits(payload: Payload) -> bool:
    return len(payload) <= MAX_PAYLOAD


def payload_message(payload: Payload) -> Message:
    if isinstance(payload, str):
        return {"t": payload}
    return {"b": base64.b64encode(payload).decode("ascii")}


class RelayEnd:
    def __init__(
        self,
        relay_id: str,
        peer: str,
        publish: Publish,
        *,
        on_close: Callable[[RelayEnd], None],
        ping_seconds: float,
        lost_seconds: float,
    ) -> None:
        self.id = relay_id
        self.peer = peer  # the other replica's id
        self.reason: str | None = None  # why it closed, once closed
        self._publish = publish
        self._on_close = on_close
        self._inbox: asyncio.Queue[Payload | None] = asyncio.Queue(RELAY_QUEUE + 1)
        self._heard = time.monotonic()
        self._ping_seconds = ping_seconds
        self._lost_seconds = lost_seconds
        self._keepalive: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._keepalive = asyncio.get_running_loop().create_task(self._keep_alive())

    @property
    def closed(self) -> bool:
        return self.reason is not None

    # --- from the bus ----------------------------------------------------------------------

    def deliver(self, message: Message) -> None:
        """A message the peer sent (the bus's listener calls this; it must not wait)."""
        if self.closed:
            return
        self._heard = time.monotonic()
        if "close" in message:
            self._closed(str(message["close"])[:32] if message["close"] else PEER_CLOSED)
            return
        payload = _payload(message)
        if payload is None:
            return  # a ping, or nothing we know
        if self._inbox.qsize() >= RELAY_QUEUE:  # the reader here stopped keeping up
            self._closed(TOO_SLOW)
            self._spawn_notice(TOO_SLOW)
            return
        self._inbox.put_nowait(payload)

    # --- from the side that drives this end ------------------------------------------------

    async def receive(self) -> Payload | None:
        """The peer's next payload, or None once the relay is closed (`reason` says why)."""
        if self.closed and self._inbox.empty():
            return None
        return await self._inbox.get()

    async def send(self, payload: Payload) -> bool:
        """Send a payload to the peer; False if the relay is closed or the peer is gone."""
        if self.closed:
            return False
        if not await self._send(payload_message(payload)):
            self._closed(PEER_LOST)
            return False
        return True

    async def close(self, reason: str) -> None:
        """Close this end and tell the peer (once); safe to call again."""
        if self.closed:
            return
        self._closed(reason)
        await self._send({"close": reason})

    # --- internals -------------------------------------------------------------------------

    def _closed(self, reason: str) -> None:
        if self.reason is not None:
            return
        self.reason = reason
        with contextlib.suppress(asyncio.QueueFull):
            self._inbox.put_nowait(None)
        if self._keepalive is not None and self._keepalive is not asyncio.current_task():
            self._keepalive.cancel()
        self._on_close(self)

    def _spawn_notice(self, reason: str) -> None:
        task = asyncio.get_running_loop().create_task(self._send({"close": reason}))
        task.add_done_callback(lambda t: t.exception() if not t.cancelled() else None)

    async def _send(self, message: Message) -> bool:
        try:
            return await self._publish(self.peer, {"k": "relay", "relay": self.id, **message})
        except Exception:  # Redis away: the peer will stop hearing from us too
            log.warning("sideband relay %s: could not reach replica %s", self.id, self.peer)
            return False

    async def _keep_alive(self) -> None:
        while not self.closed:
            await asyncio.sleep(self._ping_seconds)
            if time.monotonic() - self._heard > self._lost_seconds:
                self._closed(PEER_LOST)
                return
            if not await self._send({"ping": 1}):
                self._closed(PEER_LOST)
                return


def _payload(message: Message) -> Payload | None:
    text = message.get("t")
    if isinstance(text, str):
        return text
    data = message.get("b")
    if isinstance(data, str):
        try:
            return base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            return None
    return None


def _too_large(kind: object, size: int) -> dict[str, Any]:
    return error_event(
        "event_too_large",
        f"A '{str(kind)[:64]}' event of {size} characters is too large to relay from the "
        f"replica running the call (at most {MAX_PAYLOAD}); connect the sideband there.",
        error_type="server_error",
    )


async def serve_owner_end(end: RelayEnd, call: Call, events: asyncio.Queue[Event | None]) -> None:
    """The owner's side: the call's server events (`events`, subscribed before the peer
    heard the relay is open, so none is missed) to the peer, the peer's client events into
    the call, until the call ends or either side closes."""

    async def down() -> str:
        while (event := await events.get()) is not None:
            text = json.dumps(event, separators=(",", ":"))
            if not fits(text):  # said, not silently lost
                text = json.dumps(_too_large(event.get("type"), len(text)))
            if not await end.send(text):
                return end.reason or PEER_LOST
        # The call ended, or dropped this subscriber for not keeping up.
        return CALL_ENDED if call.ended.is_set() else TOO_SLOW

    async def up() -> str:
        while (payload := await end.receive()) is not None:
            await call.send_client_event(payload)
        return end.reason or PEER_CLOSED

    tasks = [asyncio.create_task(down()), asyncio.create_task(up())]
    reason = SHUTDOWN
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        reason = next(iter(done)).result()
    finally:
        call.unsubscribe(events)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await end.close(reason)

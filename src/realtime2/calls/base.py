"""What the call endpoints need of a running call, whoever serves it.

Both the embedded WebRTC call (`transports.webrtc.call.WebRtcCall`) and a call relayed to
a gateway's upstream (`gateway.calls.UpstreamCall`) implement `Call`, so the registry,
`/charge`, hangup and the sideband WebSocket treat them alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Final, Protocol

from realtime2.accounts.ledger import InsufficientCreditsError, Ledger
from realtime2.accounts.metering import SessionMeter
from realtime2.errors import ApiError
from realtime2.protocol.server_events import error_event

log = logging.getLogger(__name__)
Event = dict[str, Any]


@dataclass(frozen=True)
class ChargeResult:
    charged: int  # credits charged by this request
    total: int  # credits charged for the call so far
    rate: int
    balance: int

    @property
    def charged_seconds(self) -> int:
        return self.charged // self.rate

    @property
    def total_seconds(self) -> int:
        return self.total // self.rate


class Call(Protocol):
    id: str
    user_id: int
    tier: str
    meter: SessionMeter
    end_reason: str | None
    ended: asyncio.Event

    def hang_up(self, reason: str = "hangup") -> None:
        """End the call (in the background); `ended` is set once it has settled."""

    async def wait_ended(self) -> None: ...

    async def charge(self) -> ChargeResult:
        """Charge what the call has used so far (the seed's `/charge`); never twice."""
        ...

    def subscribe(self) -> asyncio.Queue[Event | None]:
        """A queue of every server event from now on; None when the call has ended."""
        ...

    def unsubscribe(self, queue: asyncio.Queue[Event | None]) -> None: ...

    async def send_client_event(self, message: str | bytes) -> None: ...


async def charge_meter(meter: SessionMeter, ledger: Ledger, user_id: int) -> ChargeResult:
    """Bring a running meter's capture forward; a settled or unstarted one charges 0."""
    before = meter.captured
    if meter.hold_id is not None and meter.settlement is None:
        await meter.charge_so_far()
    balance = await ledger.balance(user_id)
    return ChargeResult(
        charged=meter.captured - before,
        total=meter.captured,
        rate=meter.rate,
        balance=balance.available,
    )


def call_not_found(call_id: str) -> ApiError:
    # Another user's call is answered exactly like an unknown one.
    return ApiError(404, "call_not_found", f"No call with id '{call_id[:64]}'.", param="call_id")


SIDEBAND_QUEUE: Final = 2000


class CallBase:
    """What every `Call` implementation shares: ending once, `/charge`, and the fan-out of
    the call's server events to attached sideband sockets. A subclass sets the call going,
    waits on `_ending`, tears its own side down, then awaits `_close_out()`."""

    def __init__(
        self,
        *,
        call_id: str,
        user_id: int,
        tier: str,
        meter: SessionMeter,
        ledger: Ledger,
        on_end: Callable[[Any], Awaitable[None]] | None,
    ) -> None:
        self.id = call_id
        self.user_id = user_id
        self.tier = tier
        self.meter = meter
        self.ledger = ledger
        self.end_reason: str | None = None
        self.ended = asyncio.Event()
        self._on_end = on_end
        self._ending = asyncio.Event()
        self._sidebands: set[asyncio.Queue[Event | None]] = set()

    def hang_up(self, reason: str = "hangup") -> None:
        self._end(reason)

    async def wait_ended(self) -> None:
        await self.ended.wait()

    async def charge(self) -> ChargeResult:
        """Charge what the call has used so far (the seed's `/charge`); never twice."""
        return await charge_meter(self.meter, self.ledger, self.user_id)

    def subscribe(self) -> asyncio.Queue[Event | None]:
        """A queue of every server event from now on; None when the call has ended."""
        queue: asyncio.Queue[Event | None] = asyncio.Queue(SIDEBAND_QUEUE)
        if self.ended.is_set():
            queue.put_nowait(None)
        else:
            self._sidebands.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Event | None]) -> None:
        self._sidebands.discard(queue)

    def _end(self, reason: str) -> None:
        if self.end_reason is None:
            self.end_reason = reason
        self._ending.set()

    # --- what each transport provides ------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        raise NotImplementedError

    def _deliver_event(self, event: Event) -> None:
        raise NotImplementedError

    # --- metering, the same for every transport ----------------------------------------------

    async def _start_meter(self) -> None:
        try:
            await self.meter.start()
        except InsufficientCreditsError:
            self._out_of_credit()
            return
        if not self._ending.is_set():
            self._spawn(self._keep_metering())

    async def _keep_metering(self) -> None:
        await self.meter.keep_alive()
        self._out_of_credit()  # or the key was revoked: the meter's stop_code says which

    def _out_of_credit(self) -> None:
        code = self.meter.stop_code  # insufficient_credits, or api_key_revoked
        self._deliver_event(
            error_event(code, f"{self.meter.stop_message}; the call is ending.", error_type=code)
        )
        self._end(code)

    def _publish(self, event: Event) -> None:
        for queue in list(self._sidebands):
            if queue.full():  # a sideband that stopped reading is dropped, not waited on
                self._sidebands.discard(queue)
                queue.get_nowait()
                queue.put_nowait(None)
            else:
                queue.put_nowait(event)

    async def _close_out(self) -> None:
        """Last step of ending: sidebands told, the end hook run, `ended` set."""
        for queue in list(self._sidebands):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(None)
        self._sidebands.clear()
        if self._on_end is not None:
            try:
                await self._on_end(self)
            except Exception:
                log.exception("call %s: end hook failed", self.id)
        self.ended.set()

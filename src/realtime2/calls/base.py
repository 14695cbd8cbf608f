"""What the call endpoints need of a running call, whoever serves it.

Both the embedded WebRTC call (`transports.webrtc.call.WebRtcCall`) and a call relayed to
a gateway's upstream (`gateway.calls.UpstreamCall`) implement `Call`, so the registry,
`/charge`, hangup and the sideband WebSocket treat them alike.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Protocol

from realtime2.accounts.ledger import Ledger
from realtime2.accounts.metering import SessionMeter

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

"""Per-request billing for HTTP endpoints: hold credit before the work, charge what the
client consumed when the request ends, however it ends.

- The hold is placed before any costly step (decoding included), so an unfunded request
  gets 402 without costing the server anything; `Bill.reserve` grows it once the real
  size of the work is known (the decoded audio, never the client's own claim).
- `Bill.seconds` is what the client has consumed so far. A request that completes, that the
  client abandons (cancellation, a closed stream) or that ends in a 4xx after the work is
  charged those seconds; only a failure of ours (5xx, unexpected errors) releases the hold.
- The hold records use as it grows (`Bill.progress`), through the next time it will be
  recorded, so a process killed mid-request leaves a hold that the expiry sweeper settles
  at what was used rather than releasing it whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from realtime2.accounts.ledger import (
    HoldNotOpenError,
    InsufficientCreditsError,
    Ledger,
    Settlement,
)
from realtime2.accounts.pricing import rate_for
from realtime2.edge.auth import Principal
from realtime2.errors import ApiError
from realtime2.state import Services

log = logging.getLogger(__name__)
# An HTTP request's hold outlives any request; the sweeper settles it after this long.
HOLD_TTL_SECONDS = 600.0
# Use is written to the hold at most this often (one UPDATE), each time covering the next
# interval too: a crash costs the client at most this much beyond its real use.
RECORD_EVERY_SECONDS = 5.0


@dataclass
class Bill:
    """Set `seconds` (consumed so far) as the work goes; `settlement` is filled after."""

    model: str
    rate: int
    reference: str
    seconds: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)
    settlement: Settlement | None = None
    ledger: Ledger | None = None
    user_id: int = 0
    hold_id: str = ""
    reserved: int = 0  # credit the hold covers
    _recorded_at: float | None = None

    @property
    def billed_seconds(self) -> int:
        return max(0, math.ceil(self.seconds - 1e-9))

    async def affordable_seconds(self) -> int:
        """Whole seconds of work the user can pay for: this hold plus what is available."""
        assert self.ledger is not None
        balance = await self.ledger.balance(self.user_id)
        return (self.reserved + max(0, balance.available)) // self.rate

    async def reserve(self, seconds: float) -> None:
        """Grow the hold to cover `seconds` of work, or raise a 402 (the hold is kept for
        the request's exit to settle)."""
        assert self.ledger is not None
        wanted = max(1, math.ceil(seconds - 1e-9)) * self.rate
        extra = wanted - self.reserved
        if extra <= 0:
            return
        try:
            await self.ledger.extend_hold(self.hold_id, extra, ttl_seconds=HOLD_TTL_SECONDS)
        except InsufficientCreditsError as exc:
            if isinstance(exc, ApiError):  # the key's budget: key_budget_exhausted
                raise
            raise insufficient(
                InsufficientCreditsError(wanted, exc.available + self.reserved)
            ) from None
        self.reserved = wanted

    async def progress(self, seconds: float, *, ahead: float = RECORD_EVERY_SECONDS) -> None:
        """Note `seconds` consumed; write it (plus `ahead`, the use expected before the next
        write) to the hold when the last write is older than RECORD_EVERY_SECONDS."""
        self.seconds = seconds
        now = time.monotonic()
        if self._recorded_at is not None and now - self._recorded_at < RECORD_EVERY_SECONDS:
            return
        self._recorded_at = now
        assert self.ledger is not None
        used = min(self.reserved, math.ceil(seconds + ahead - 1e-9) * self.rate)
        # A hold settled already (HoldNotOpenError) is the exit path's to report.
        with contextlib.suppress(HoldNotOpenError):
            await self.ledger.extend_hold(
                self.hold_id, 0, ttl_seconds=HOLD_TTL_SECONDS, used=max(0, used)
            )


def insufficient(exc: InsufficientCreditsError) -> ApiError:
    if isinstance(exc, ApiError):  # the key's budget (accounts.key_controls) says its own
        return exc
    return ApiError(
        402,
        "insufficient_credits",
        f"This request is estimated at {exc.needed} credits; {exc.available} available.",
    )


def _client_owes(exc: BaseException) -> bool:
    """Whether work ended by `exc` is still charged: the client left (cancellation, a
    closed stream) or its input was refused after the work; not when we failed."""
    if isinstance(exc, ApiError):
        return exc.status < 500
    return isinstance(exc, (asyncio.CancelledError, GeneratorExit))


@asynccontextmanager
async def metered_request(
    services: Services,
    principal: Principal,
    model: str,
    estimate_seconds: float,
    *,
    reference: str | None = None,
) -> AsyncIterator[Bill]:
    rate = rate_for(model, services.settings.resolved_rates())
    bill = Bill(model, rate, reference or f"req_{secrets.token_hex(10)}")
    amount = max(1, math.ceil(estimate_seconds - 1e-9)) * rate
    try:
        hold = await services.ledger.place_hold(
            principal.user_id,
            amount,
            model=model,
            reference=bill.reference,
            ttl_seconds=HOLD_TTL_SECONDS,
            api_key_id=principal.key_id,
        )
    except InsufficientCreditsError as exc:
        raise insufficient(exc) from None
    bill.ledger, bill.user_id, bill.hold_id, bill.reserved = (
        services.ledger,
        principal.user_id,
        hold.id,
        hold.amount,
    )
    try:
        yield bill
    except BaseException as exc:
        # Shielded so a client disconnect (cancellation) still settles the hold.
        if _client_owes(exc) and bill.billed_seconds:
            bill.settlement = await asyncio.shield(_capture(services.ledger, bill))
        else:
            with contextlib.suppress(HoldNotOpenError):  # expired and settled meanwhile
                await asyncio.shield(services.ledger.release(hold.id))
        raise
    bill.settlement = await asyncio.shield(_capture(services.ledger, bill))


async def _capture(ledger: Ledger, bill: Bill) -> Settlement | None:
    try:
        return await ledger.capture(
            bill.hold_id,
            bill.billed_seconds * bill.rate,
            final=True,
            idempotency_key=f"{bill.reference}:capture",
            seconds=float(bill.billed_seconds),
            details=bill.details or None,
        )
    except HoldNotOpenError:
        # Stalled past the hold's expiry: the sweeper settled it at the recorded use.
        log.warning("request %s: hold was already settled", bill.reference)
        return None

"""Per-request billing for HTTP endpoints: hold an estimate before the work, capture the
measured seconds after it, release the hold if the work fails or the client goes away."""

from __future__ import annotations

import asyncio
import math
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from realtime2.accounts.ledger import InsufficientCreditsError, Settlement
from realtime2.accounts.pricing import rate_for
from realtime2.errors import ApiError
from realtime2.http.auth import Principal
from realtime2.state import Services


@dataclass
class Bill:
    """Set `seconds` (measured) before the block ends; `settlement` is filled after."""

    model: str
    rate: int
    reference: str
    seconds: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)
    settlement: Settlement | None = None

    @property
    def billed_seconds(self) -> int:
        return max(0, math.ceil(self.seconds - 1e-9))


def insufficient(exc: InsufficientCreditsError) -> ApiError:
    return ApiError(
        402,
        "insufficient_credits",
        f"This request is estimated at {exc.needed} credits; {exc.available} available.",
    )


@asynccontextmanager
async def metered_request(
    services: Services, principal: Principal, model: str, estimate_seconds: float
) -> AsyncIterator[Bill]:
    rate = rate_for(model, services.settings.resolved_rates())
    bill = Bill(model, rate, f"req_{secrets.token_hex(10)}")
    try:
        hold = await services.ledger.place_hold(
            principal.user_id,
            max(1, math.ceil(estimate_seconds)) * rate,
            model=model,
            reference=bill.reference,
            ttl_seconds=600,
            api_key_id=principal.key_id,
        )
    except InsufficientCreditsError as exc:
        raise insufficient(exc) from None
    try:
        yield bill
    except BaseException:
        # Shielded so a client disconnect (cancellation) still returns the credit.
        await asyncio.shield(services.ledger.release(hold.id))
        raise
    bill.settlement = await asyncio.shield(
        services.ledger.capture(
            hold.id,
            bill.billed_seconds * rate,
            final=True,
            idempotency_key=f"{bill.reference}:capture",
            seconds=float(bill.billed_seconds),
            details=bill.details or None,
        )
    )

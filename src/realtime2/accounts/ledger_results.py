"""What the ledger returns and raises: balances, holds, settlements and its two errors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias

from realtime2.db.models import Hold

# A row read by column name: SQLAlchemy's `Row`, or on SQLite `Prepared`'s named tuple.
AnyRow: TypeAlias = Any


class InsufficientCreditsError(Exception):
    def __init__(self, needed: int, available: int) -> None:
        super().__init__(f"needs {needed} credits, {available} available")
        self.needed = needed
        self.available = available


class HoldNotOpenError(Exception):
    """The hold was already settled, released or expired (or never existed)."""


@dataclass(frozen=True)
class Balance:
    posted: int
    held: int

    @property
    def available(self) -> int:
        return self.posted - self.held


@dataclass(frozen=True)
class HoldView:
    id: str
    user_id: int
    model: str
    reference: str
    amount: int
    used: int
    captured: int
    status: str
    expires_at: datetime
    # Why the hold's owner is asked to stop (an admin ended it or disabled its user).
    stop_reason: str | None = None

    @classmethod
    def of(cls, hold: Hold | AnyRow) -> HoldView:
        return cls(
            hold.id,
            hold.user_id,
            hold.model,
            hold.reference,
            hold.amount,
            hold.used,
            hold.captured,
            hold.status,
            hold.expires_at,
            hold.stop_reason,
        )


@dataclass(frozen=True)
class Settlement:
    hold_id: str
    charged: int  # charged by this call
    total_captured: int  # charged over the hold's life
    released: int
    balance_after: int
    replayed: bool  # True when the idempotency key had been used already

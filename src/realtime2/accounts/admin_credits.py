"""Credits granted, deducted or adjusted by an admin: ledger entries under the client's own
idempotency key (namespaced `admin:`), so the same request twice moves money once, and the
same key reused for a different movement is refused rather than silently replayed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, cast

from sqlalchemy import Table, select

from realtime2.accounts.ledger import Balance, Ledger
from realtime2.db.models import LedgerEntry

ACTIONS: Final = ("grant", "deduct", "adjust")
_entries = cast(Table, LedgerEntry.__table__)


class IdempotencyConflictError(ValueError):
    """The idempotency key was used for a different movement."""


@dataclass(frozen=True)
class CreditResult:
    balance: Balance
    entry_id: int
    amount: int  # signed: what posted credit moved by
    replayed: bool


def signed_amount(action: str, amount: int) -> int:
    if action not in ACTIONS:
        raise ValueError("action must be grant, deduct or adjust")
    if action in ("grant", "deduct") and amount <= 0:
        raise ValueError(f"a {action} needs a positive amount")
    if amount == 0:
        raise ValueError("an adjustment needs a non-zero amount")
    return -amount if action == "deduct" else amount


async def move_credits(
    ledger: Ledger,
    user_id: int,
    *,
    action: str,
    amount: int,
    reason: str,
    idempotency_key: str,
    actor_user_id: int,
) -> CreditResult:
    """Move the credits, or replay the first movement made under this key.
    InsufficientCreditsError when a deduction exceeds the available balance."""
    delta = signed_amount(action, amount)
    kind = "topup" if action == "grant" else "adjustment"
    key = f"admin:{idempotency_key}"
    found = await _entry(ledger, key)
    if found is None:
        await ledger.top_up(
            user_id,
            delta,
            idempotency_key=key,
            kind=kind,
            details={"source": "admin", "action": action, "reason": reason, "by": actor_user_id},
        )
        found = await _entry(ledger, key)
        replayed = False
    else:
        replayed = True
    assert found is not None  # written just now, or before
    entry_id, entry_user, entry_kind, entry_amount, entry_action = found
    if (entry_user, entry_kind, entry_amount, entry_action) != (user_id, kind, delta, action):
        raise IdempotencyConflictError(idempotency_key)
    balance = await ledger.balance(user_id)
    return CreditResult(balance, entry_id, delta, replayed)


async def _entry(ledger: Ledger, key: str) -> tuple[int, int, str, int, str | None] | None:
    query = select(
        _entries.c.id,
        _entries.c.user_id,
        _entries.c.kind,
        _entries.c.amount,
        _entries.c.details,
    ).where(_entries.c.idempotency_key == key)
    row = await ledger.db.run(lambda conn: conn.execute(query).first(), write=False)
    if row is None:
        return None
    action = (row.details or {}).get("action")
    return int(row.id), int(row.user_id), str(row.kind), int(row.amount), action

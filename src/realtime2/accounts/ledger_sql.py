"""The ledger's SQL: statements built once, and the small steps `Ledger` composes from them.

SQLAlchemy caches each statement's compiled form, so an execution only binds values.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Connection, Table, bindparam, insert, select, update

from realtime2.accounts.ledger_results import (
    AnyRow,
    Balance,
    HoldNotOpenError,
    InsufficientCreditsError,
)
from realtime2.db.models import CreditAccount, Hold, LedgerEntry, RealtimeCall

calls = cast(Table, RealtimeCall.__table__)
accounts = cast(Table, CreditAccount.__table__)
holds = cast(Table, Hold.__table__)
entries = cast(Table, LedgerEntry.__table__)
account_cols, hold_cols, entry_cols = accounts.c, holds.c, entries.c

ACCOUNT = select(account_cols.posted, account_cols.held).where(
    account_cols.user_id == bindparam("uid")
)
LOCK_ACCOUNT = ACCOUNT.with_for_update()
NEW_ACCOUNT = insert(accounts)
# Reserve credit only if the available balance covers it: no row back means it did not.
RESERVE = (
    update(accounts)
    .where(
        account_cols.user_id == bindparam("uid"),
        account_cols.posted - account_cols.held >= bindparam("amount"),
    )
    .values(held=account_cols.held + bindparam("amount"))
    .returning(account_cols.posted, account_cols.held)
)
MOVE = (
    update(accounts)
    .where(account_cols.user_id == bindparam("uid"))
    .values(
        posted=account_cols.posted + bindparam("d_posted"),
        held=account_cols.held + bindparam("d_held"),
    )
    .returning(account_cols.posted, account_cols.held)
)

HOLD = select(holds).where(hold_cols.id == bindparam("hid"))
LOCK_HOLD = HOLD.with_for_update()
NEW_HOLD = insert(holds)
RENEW_HOLD = (
    update(holds)
    .where(hold_cols.id == bindparam("hid"))
    .values(
        amount=bindparam("new_amount", type_=hold_cols.amount.type),
        used=bindparam("new_used", type_=hold_cols.used.type),
        expires_at=bindparam("new_expires_at", type_=hold_cols.expires_at.type),
    )
)
SETTLE_HOLD = (
    update(holds)
    .where(hold_cols.id == bindparam("hid"))
    .values(
        amount=bindparam("new_amount", type_=hold_cols.amount.type),
        used=bindparam("new_used", type_=hold_cols.used.type),
        captured=bindparam("new_captured", type_=hold_cols.captured.type),
        status=bindparam("new_status", type_=hold_cols.status.type),
        settled_at=bindparam("new_settled_at", type_=hold_cols.settled_at.type),
    )
)

# A call's hold is referenced by the call id. When the sweeper settles an expired hold (its
# replica died), the call's record ends in the same transaction: no call stays `active`
# with nobody running it, and every replica then answers /charge with the final figure.
END_LOST_CALL = (
    update(calls)
    .where(calls.c.id == bindparam("ref"), calls.c.status == "active")
    .values(
        status="ended",
        charged=bindparam("charged", type_=calls.c.charged.type),
        end_reason="replica_lost",
        ended_at=bindparam("now", type_=calls.c.ended_at.type),
    )
)

NEW_ENTRY = insert(entries)
ENTRY_BY_KEY = select(entry_cols.id, entry_cols.amount, entry_cols.hold_id).where(
    entry_cols.idempotency_key == bindparam("key")
)


def entry_by_key(conn: Connection, key: str) -> AnyRow | None:
    return conn.execute(ENTRY_BY_KEY, {"key": key}).first()


def reserve(conn: Connection, user_id: int, amount: int) -> None:
    """Add `amount` to the account's held credit, or raise InsufficientCreditsError."""
    if conn.execute(RESERVE, {"uid": user_id, "amount": amount}).first() is None:
        account = conn.execute(ACCOUNT, {"uid": user_id}).first()
        available = account.posted - account.held if account else 0
        raise InsufficientCreditsError(amount, available)


def move(conn: Connection, user_id: int, *, posted: int, held: int) -> Balance:
    """Change the account's posted and held totals by these signed amounts."""
    row = conn.execute(MOVE, {"uid": user_id, "d_posted": posted, "d_held": held}).one()
    return Balance(row.posted, row.held)


def lock_open_hold(conn: Connection, hold_id: str) -> AnyRow:
    hold = conn.execute(LOCK_HOLD, {"hid": hold_id}).first()
    if hold is None or hold.status != "open":
        raise HoldNotOpenError(hold_id)
    return hold

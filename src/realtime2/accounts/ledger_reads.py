"""The credit ledger's reading side: balances, open holds, entries and reconciliation.

`Ledger` (`accounts.ledger`) adds the money movements on top. Reads take no locks: a
balance read is a reading, not a promise; a hold re-checks it under lock.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Connection, func, or_, select
from sqlalchemy.orm import Session

from realtime2.accounts import key_controls
from realtime2.accounts import ledger_sql as sql
from realtime2.accounts.ledger_results import Balance, HoldView
from realtime2.db.engine import Database
from realtime2.db.models import LedgerEntry

Clock = Callable[[], datetime]


def now_utc() -> datetime:
    return datetime.now(UTC)


class LedgerReads:
    def __init__(self, db: Database, *, clock: Clock = now_utc) -> None:
        self.db = db
        self.clock = clock

    async def spendable(
        self, user_id: int, api_key_id: str | None, model: str | None = None
    ) -> tuple[Balance, int | None]:
        """The balance, and what the key's budget leaves this period (None: no budget);
        ModelNotAllowedError when the key may not use `model`. A reading, not a promise:
        the hold itself re-checks both under lock."""
        now = self.clock()

        def read(conn: Connection) -> tuple[Balance, int | None]:
            row = sql.ACCOUNT.first(conn, {"uid": user_id})
            balance = Balance(row.posted, row.held) if row else Balance(0, 0)
            if api_key_id is None:
                return balance, None
            allowed, budget = key_controls.key_budget(conn, api_key_id, now, lock=False)
            if model is not None and allowed is not None and model not in allowed:
                raise key_controls.ModelNotAllowedError(model)
            return balance, budget.remaining if budget else None

        return await self.db.run(read, write=False, inline=True)

    async def balance(self, user_id: int) -> Balance:
        def read(conn: Connection) -> Balance:
            row = sql.ACCOUNT.first(conn, {"uid": user_id})
            return Balance(row.posted, row.held) if row else Balance(0, 0)

        return await self.db.run(read, write=False, inline=True)

    async def open_holds(self, user_id: int, prefixes: tuple[str, ...]) -> int:
        """The user's open, unexpired holds whose reference starts with one of `prefixes`:
        on every replica together, and a dead replica's stop counting once they expire."""
        query = select(func.count()).where(
            sql.hold_cols.user_id == user_id,
            sql.hold_cols.status == "open",
            sql.hold_cols.expires_at > self.clock(),
            or_(*(sql.hold_cols.reference.startswith(p, autoescape=True) for p in prefixes)),
        )
        return await self.db.run(lambda conn: int(conn.scalar(query) or 0), write=False)

    async def entries(
        self, user_id: int, *, limit: int = 100, before_id: int | None = None
    ) -> list[LedgerEntry]:
        query = select(LedgerEntry).where(LedgerEntry.user_id == user_id)
        if before_id is not None:
            query = query.where(LedgerEntry.id < before_id)
        query = query.order_by(LedgerEntry.id.desc()).limit(limit)

        def read(conn: Connection) -> list[LedgerEntry]:
            with Session(conn) as session:
                return list(session.scalars(query))

        return await self.db.run(read, write=False)

    async def get_hold(self, hold_id: str) -> HoldView | None:
        def read(conn: Connection) -> HoldView | None:
            row = sql.HOLD.first(conn, {"hid": hold_id})
            return HoldView.of(row) if row else None

        return await self.db.run(read, write=False, inline=True)

    async def reconcile(self, user_id: int) -> tuple[Balance, Balance]:
        """(projection, ledger sums): equal unless something bypassed the ledger."""
        query = (
            select(sql.entry_cols.kind, func.coalesce(func.sum(sql.entry_cols.amount), 0))
            .where(sql.entry_cols.user_id == user_id)
            .group_by(sql.entry_cols.kind)
        )

        def read(conn: Connection) -> dict[str, int]:
            return {kind: int(total) for kind, total in conn.execute(query)}

        sums = await self.db.run(read, write=False)
        posted = sums.get("topup", 0) + sums.get("adjustment", 0) - sums.get("capture", 0)
        held = sums.get("hold", 0) - sums.get("capture", 0) - sums.get("release", 0)
        return await self.balance(user_id), Balance(posted, held)

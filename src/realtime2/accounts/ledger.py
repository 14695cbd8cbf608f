"""The credit ledger: top-ups, holds, captures and releases, in integer units.

Every operation is one transaction of a few SQLAlchemy Core statements (the ORM's unit of
work cost several times more on this hot path), which on SQLite run on the driver with
their SQL compiled once (`db/prepared.py`); on PostgreSQL the writes that end placing or
capturing a hold go as one statement, one round trip (`ledger_sql`). Reserving credit
is one conditional `UPDATE credit_accounts … WHERE posted - held >= :amount RETURNING`,
atomic on both databases (PostgreSQL re-checks the condition on the row it locks; SQLite
serialises writers with BEGIN IMMEDIATE). Changing a hold first locks it (`SELECT … FOR
UPDATE`), then the account, always in that order. Each operation touches the account row
last: on PostgreSQL its lock is held from there to COMMIT, and every request of a user
needs it.
The CHECK constraints on `credit_accounts` are a last guard: no code path can take the
available balance below zero.

Each operation appends a ledger entry under its idempotency key, whose unique index makes
a repeat fail; the key is also looked up when an operation fails for want of credit or an
open hold. Either way a repeat returns the first result and moves no money.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import Connection, select, text
from sqlalchemy.exc import IntegrityError

from realtime2.accounts import key_controls
from realtime2.accounts import ledger_sql as sql
from realtime2.accounts.ledger_reads import LedgerReads
from realtime2.accounts.ledger_results import (
    AnyRow,
    Balance,
    HoldNotOpenError,
    HoldView,
    InsufficientCreditsError,
    Settlement,
)

__all__ = [
    "Balance",
    "HoldNotOpenError",
    "HoldView",
    "InsufficientCreditsError",
    "Ledger",
    "Settlement",
    "on_capture",
]

T = TypeVar("T")
# pg advisory lock key held by the replica sweeping expired holds.
SWEEP_LOCK = 0x7265616C_73776570  # "realswep"


CaptureListener = Callable[[str, int], None]
_capture_listeners: list[CaptureListener] = []


def on_capture(listener: CaptureListener) -> CaptureListener:
    """Call `listener(model, credits)` after each committed capture that charged credit
    (metrics count them; a replay or a rolled-back capture calls nothing)."""
    _capture_listeners.append(listener)
    return listener


class Ledger(LedgerReads):
    """Balances and reads (`LedgerReads`), and the money movements that change them."""

    # --- money movements --------------------------------------------------------------

    async def top_up(
        self,
        user_id: int,
        amount: int,
        *,
        idempotency_key: str | None = None,
        kind: str = "topup",
        details: dict[str, Any] | None = None,
    ) -> Balance:
        """Add (or, for kind="adjustment", add a signed amount to) posted credit."""
        if kind not in ("topup", "adjustment"):
            raise ValueError(kind)
        if kind == "topup" and amount <= 0:
            raise ValueError("top-up must be positive")
        key = idempotency_key or f"{kind}:{secrets.token_hex(12)}"

        def op(conn: Connection) -> Balance:
            account = sql.LOCK_ACCOUNT.first(conn, {"uid": user_id})
            if account is None:
                sql.NEW_ACCOUNT.run(conn, {"user_id": user_id, "posted": 0, "held": 0})
            available = account.posted - account.held if account else 0
            if available + amount < 0:
                raise InsufficientCreditsError(-amount, available)
            sql.NEW_ENTRY.run(conn, self._entry(user_id, kind, amount, key, details=details))
            return sql.move(conn, user_id, posted=amount, held=0)

        return await self._run(key, op, replay=lambda: self.balance(user_id))

    async def place_hold(
        self,
        user_id: int,
        amount: int,
        *,
        model: str,
        reference: str,
        ttl_seconds: float,
        api_key_id: str | None = None,
        idempotency_key: str | None = None,
        used: int = 0,
    ) -> HoldView:
        """Reserve `amount` for running work, or raise InsufficientCreditsError. `used` is
        recorded as already used: what the hold charges if its owner dies at once."""
        if amount <= 0:
            raise ValueError("hold must be positive")
        used = min(max(0, used), amount)
        hold_id = f"hold_{secrets.token_hex(12)}"
        key = idempotency_key or f"hold:{hold_id}"

        def op(conn: Connection, *, at_once: bool = False) -> HoldView | None:
            now = self.clock()
            hold = HoldView(
                hold_id,
                user_id,
                model,
                reference,
                amount,
                used=used,
                captured=0,
                status="open",
                expires_at=now + timedelta(seconds=ttl_seconds),
            )
            row = {
                "id": hold_id,
                "user_id": user_id,
                "api_key_id": api_key_id,
                "model": model,
                "reference": reference,
                "amount": amount,
                "used": used,
                "captured": 0,
                "status": "open",
                "created_at": now,
                "expires_at": hold.expires_at,
                "settled_at": None,
            }
            entry = self._entry(
                user_id,
                "hold",
                amount,
                key,
                hold_id=hold_id,
                model=model,
                api_key_id=api_key_id,
            )
            if at_once:
                return hold if sql.record_hold_at_once(conn, row, entry, amount=amount) else None
            if api_key_id is not None:  # locks the key's row first: see key_controls
                key_controls.enforce(conn, api_key_id, model=model, amount=amount, now=now)
            sql.record_hold(conn, row, entry, amount=amount)
            return hold

        def replay() -> Awaitable[HoldView]:
            return self._hold_by_entry(key)

        if not self.db.is_sqlite:  # one round trip where the key needs no checks
            placed = await self._run(
                key, partial(op, at_once=True), replay=replay, one_statement=True
            )
            if placed is not None:
                return placed
        held = await self._run(key, op, replay=replay)
        assert held is not None  # (only `at_once` declines)
        return held

    async def extend_hold(
        self,
        hold_id: str,
        extra: int,
        *,
        ttl_seconds: float,
        used: int | None = None,
        idempotency_key: str | None = None,
    ) -> HoldView:
        """Renew a hold: reserve `extra` more (may be 0), push its expiry, record usage."""
        if extra < 0:
            raise ValueError("extra must be >= 0")
        key = idempotency_key or f"extend:{hold_id}:{secrets.token_hex(8)}"

        def op(conn: Connection) -> HoldView:
            row = sql.lock_open_hold(conn, hold_id)
            if extra and row.api_key_id is not None:
                key_controls.enforce(
                    conn, row.api_key_id, model=None, amount=extra, now=self.clock()
                )
            if extra:
                sql.NEW_ENTRY.run(conn, self._hold_entry(row, "hold", extra, key))
            hold = replace(
                HoldView.of(row),
                amount=row.amount + extra,
                used=row.used if used is None else max(row.used, used),
                expires_at=self.clock() + timedelta(seconds=ttl_seconds),
            )
            sql.RENEW_HOLD.run(
                conn,
                {
                    "hid": hold_id,
                    "new_amount": hold.amount,
                    "new_used": hold.used,
                    "new_expires_at": hold.expires_at,
                },
            )
            if extra:
                sql.reserve(conn, row.user_id, extra)
            return hold

        if not extra:
            return await self.db.run(op, write=True, inline=True)
        return await self._run(key, op, replay=lambda: self._require_hold(hold_id))

    async def capture(
        self,
        hold_id: str,
        amount: int,
        *,
        final: bool,
        idempotency_key: str,
        seconds: float | None = None,
        details: dict[str, Any] | None = None,
        closing_status: str = "settled",
    ) -> Settlement:
        """Charge `amount` against a hold.

        With `final`, the rest of the hold is released and the hold closes. A charge beyond
        what the hold reserves is taken from the available balance as far as it goes (the
        work already happened); it never takes the balance below zero.
        """
        if amount < 0:
            raise ValueError("amount must be >= 0")
        key = idempotency_key
        model = "unknown"

        def op(conn: Connection) -> Settlement:
            nonlocal model
            hold = sql.lock_open_hold(conn, hold_id)
            model = hold.model
            from_hold = min(amount, hold.amount)
            beyond = 0
            if amount > from_hold:
                beyond = amount - from_hold
                if hold.api_key_id is not None:  # nor past the key's budget
                    _, budget = key_controls.key_budget(
                        conn, hold.api_key_id, self.clock(), lock=True
                    )
                    beyond = min(beyond, budget.remaining) if budget else beyond
                account = sql.LOCK_ACCOUNT.one(conn, {"uid": hold.user_id})
                beyond = max(0, min(beyond, account.posted - account.held))
            charged = from_hold + beyond
            released = hold.amount - from_hold if final else 0
            entries = [
                self._hold_entry(hold, "capture", charged, key, seconds=seconds, details=details)
            ]
            if beyond:
                # The overage is reserved and captured at once, so the ledger sums stay exact.
                entries.append(self._hold_entry(hold, "hold", beyond, f"{key}:overage"))
            if released:
                entries.append(self._hold_entry(hold, "release", released, f"{key}:release"))
            captured = hold.captured + charged
            lost = final and closing_status == "expired"
            balance = sql.settle_hold(
                conn,
                hold.user_id,
                entries_rows=entries,
                hold={
                    "hid": hold_id,
                    "new_amount": hold.amount - from_hold - released,
                    # Use recorded ahead (for a crash) gives way to the settled truth.
                    "new_used": captured if final else max(hold.used, captured),
                    "new_captured": captured,
                    "new_status": closing_status if final else hold.status,
                    "new_settled_at": self.clock() if final else hold.settled_at,
                },
                lost_call=(
                    {"ref": hold.reference, "charged": captured, "now": self.clock()}
                    if lost
                    else None
                ),
                # Net of the overage's reservation: held loses what the hold gave up.
                posted=-charged,
                held=-(from_hold + released),
            )
            return Settlement(
                hold_id, charged, captured, released, balance.available, replayed=False
            )

        settlement = await self._run(
            key, op, replay=lambda: self._replayed_settlement(hold_id, key)
        )
        if settlement.charged and not settlement.replayed:  # committed just now
            for listener in _capture_listeners:
                listener(model, settlement.charged)
        return settlement

    async def release(self, hold_id: str, *, idempotency_key: str | None = None) -> Settlement:
        """Cancel a hold without charging (failed work)."""
        return await self.capture(
            hold_id, 0, final=True, idempotency_key=idempotency_key or f"release:{hold_id}"
        )

    async def expire_holds(self, *, limit: int = 100) -> int:
        """Settle holds whose owner stopped renewing them: capture what they recorded as
        used, release the rest. Returns how many holds were closed."""
        query = (
            select(sql.hold_cols.id)
            .where(sql.hold_cols.status == "open", sql.hold_cols.expires_at < self.clock())
            .limit(limit)
        )
        ids = await self.db.run(lambda conn: list(conn.scalars(query)), write=False)
        closed = 0
        for hold_id in ids:
            try:
                hold = await self.get_hold(hold_id)
                if hold is None or hold.status != "open" or hold.expires_at >= self.clock():
                    continue
                owed = max(0, hold.used - hold.captured)
                await self.capture(
                    hold_id,
                    owed,
                    final=True,
                    idempotency_key=f"expire:{hold_id}",
                    details={"reason": "hold_expired"},
                    closing_status="expired",
                )
                closed += 1
            except HoldNotOpenError:
                continue
        return closed

    async def sweep_expired(self, *, limit: int = 100) -> int | None:
        """`expire_holds` by one replica at a time: None when another is sweeping now.

        On PostgreSQL a transaction-scoped advisory lock is tried (never waited for) on a
        connection of its own and held while the sweep runs; it is released when that
        transaction ends, so a replica killed mid-sweep frees it. SQLite: no lock needed."""
        if self.db.is_sqlite:
            return await self.expire_holds(limit=limit)
        async with self.db.engine.connect() as conn, conn.begin():
            lock = text("SELECT pg_try_advisory_xact_lock(:key)")
            if not (await conn.execute(lock, {"key": SWEEP_LOCK})).scalar():
                return None
            return await self.expire_holds(limit=limit)

    # --- internals --------------------------------------------------------------------

    async def _run(
        self,
        key: str,
        op: Callable[[Connection], T],
        *,
        replay: Callable[[], Awaitable[T]],
        one_statement: bool = False,
    ) -> T:
        """Run `op` in one transaction (`one_statement`: `op` runs a single statement,
        atomic by itself: `Database.run_statement`), or `replay` if `key` was used already.

        `op` appends an entry under `key`, so a repeat that gets that far trips the unique
        index; a repeat that fails earlier (hold closed, credit spent since) looks the key
        up once its own transaction is rolled back. Only failures pay for the lookup."""
        try:
            if one_statement:
                return await self.db.run_statement(op)
            return await self.db.run(op, write=True, inline=True)
        except (InsufficientCreditsError, HoldNotOpenError, IntegrityError):
            # The key may have been used already, perhaps by a concurrent call that won.
            if await self.db.run(
                lambda conn: sql.entry_by_key(conn, key), write=False, inline=True
            ):
                return await replay()
            raise

    def _entry(
        self,
        user_id: int,
        kind: str,
        amount: int,
        key: str,
        *,
        hold_id: str | None = None,
        model: str | None = None,
        api_key_id: str | None = None,
        seconds: float | None = None,
        details: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One ledger row. Every row has every column, so several insert as one batch."""
        return {
            "user_id": user_id,
            "kind": kind,
            "amount": amount,
            "idempotency_key": key,
            "hold_id": hold_id,
            "api_key_id": api_key_id,
            "model": model,
            "seconds": seconds,
            "details": details,
            "created_at": self.clock(),
        }

    def _hold_entry(
        self, hold: AnyRow, kind: str, amount: int, key: str, **extra: Any
    ) -> dict[str, Any]:
        """A ledger row about `hold`, attributed to its user, key and model."""
        return self._entry(
            hold.user_id,
            kind,
            amount,
            key,
            hold_id=hold.id,
            model=hold.model,
            api_key_id=hold.api_key_id,
            **extra,
        )

    async def _require_hold(self, hold_id: str) -> HoldView:
        hold = await self.get_hold(hold_id)
        if hold is None:
            raise HoldNotOpenError(hold_id)
        return hold

    async def _hold_by_entry(self, key: str) -> HoldView:
        entry = await self.db.run(
            lambda conn: sql.entry_by_key(conn, key), write=False, inline=True
        )
        if entry is None or entry.hold_id is None:
            raise HoldNotOpenError(key)
        return await self._require_hold(entry.hold_id)

    async def _replayed_settlement(self, hold_id: str, key: str) -> Settlement:
        def read(conn: Connection) -> tuple[int, int]:
            charged = sql.entry_by_key(conn, key)
            released = sql.entry_by_key(conn, f"{key}:release")
            return int(charged.amount if charged else 0), int(released.amount if released else 0)

        charged, released = await self.db.run(read, write=False, inline=True)
        hold = await self._require_hold(hold_id)
        balance = await self.balance(hold.user_id)
        return Settlement(
            hold_id,
            charged,
            hold.captured,
            released,
            balance.available,
            replayed=True,
        )

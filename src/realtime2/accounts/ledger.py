"""The credit ledger: top-ups, holds, captures and releases, in integer units.

Every operation runs in one transaction that locks the user's `credit_accounts` row
(`SELECT … FOR UPDATE` on PostgreSQL; SQLite serialises writers with BEGIN IMMEDIATE),
appends its ledger entries and updates the row. The CHECK constraints on that row are a
last guard: no code path can take the available balance below zero. Each operation carries
an idempotency key; repeating it returns the first result and moves no money.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from realtime2.db.engine import Database
from realtime2.db.models import CreditAccount, Hold, LedgerEntry

Clock = Callable[[], datetime]
T = TypeVar("T")


def _now() -> datetime:
    return datetime.now(UTC)


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

    @classmethod
    def of(cls, hold: Hold) -> HoldView:
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
        )


@dataclass(frozen=True)
class Settlement:
    hold_id: str
    charged: int  # charged by this call
    total_captured: int  # charged over the hold's life
    released: int
    balance_after: int
    replayed: bool  # True when the idempotency key had been used already


class _AlreadyDone(Exception):
    """The operation's idempotency key is in the ledger: replay instead of repeating."""


def _entry_exists(session: Session, key: str) -> bool:
    found = session.scalar(select(LedgerEntry.id).where(LedgerEntry.idempotency_key == key))
    return found is not None


class Ledger:
    def __init__(self, db: Database, *, clock: Clock = _now) -> None:
        self.db = db
        self.clock = clock

    # --- reading ----------------------------------------------------------------------

    async def balance(self, user_id: int) -> Balance:
        def read(session: Session) -> Balance:
            account = session.get(CreditAccount, user_id)
            return Balance(account.posted, account.held) if account else Balance(0, 0)

        return await self.db.run(read, write=False)

    async def entries(
        self, user_id: int, *, limit: int = 100, before_id: int | None = None
    ) -> list[LedgerEntry]:
        query = select(LedgerEntry).where(LedgerEntry.user_id == user_id)
        if before_id is not None:
            query = query.where(LedgerEntry.id < before_id)
        query = query.order_by(LedgerEntry.id.desc()).limit(limit)
        return await self.db.run(lambda session: list(session.scalars(query)), write=False)

    async def get_hold(self, hold_id: str) -> HoldView | None:
        def read(session: Session) -> HoldView | None:
            hold = session.get(Hold, hold_id)
            return HoldView.of(hold) if hold else None

        return await self.db.run(read, write=False)

    async def reconcile(self, user_id: int) -> tuple[Balance, Balance]:
        """(projection, ledger sums): equal unless something bypassed the ledger."""
        query = (
            select(LedgerEntry.kind, func.coalesce(func.sum(LedgerEntry.amount), 0))
            .where(LedgerEntry.user_id == user_id)
            .group_by(LedgerEntry.kind)
        )

        def read(session: Session) -> dict[str, int]:
            return {kind: int(total) for kind, total in session.execute(query)}

        sums = await self.db.run(read, write=False)
        posted = sums.get("topup", 0) + sums.get("adjustment", 0) - sums.get("capture", 0)
        held = sums.get("hold", 0) - sums.get("capture", 0) - sums.get("release", 0)
        return await self.balance(user_id), Balance(posted, held)

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

        def op(session: Session) -> Balance:
            account = self._lock_account(session, user_id, create=True)
            if account.posted - account.held + amount < 0:
                raise InsufficientCreditsError(-amount, account.posted - account.held)
            self._entry(session, user_id, kind, amount, key, details=details)
            account.posted += amount
            return Balance(account.posted, account.held)

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
    ) -> HoldView:
        """Reserve `amount` for running work, or raise InsufficientCreditsError."""
        if amount <= 0:
            raise ValueError("hold must be positive")
        hold_id = f"hold_{secrets.token_hex(12)}"
        key = idempotency_key or f"hold:{hold_id}"
        fresh = idempotency_key is None

        def op(session: Session) -> HoldView:
            account = self._lock_account(session, user_id)
            if account.posted - account.held < amount:
                raise InsufficientCreditsError(amount, account.posted - account.held)
            now = self.clock()
            hold = Hold(
                id=hold_id,
                user_id=user_id,
                api_key_id=api_key_id,
                model=model,
                reference=reference,
                amount=amount,
                used=0,
                captured=0,
                status="open",
                created_at=now,
                expires_at=now + timedelta(seconds=ttl_seconds),
            )
            session.add(hold)
            self._entry(session, user_id, "hold", amount, key, hold=hold, api_key_id=api_key_id)
            account.held += amount
            return HoldView.of(hold)

        return await self._run(key, op, replay=lambda: self._hold_by_entry(key), fresh_key=fresh)

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

        def op(session: Session) -> HoldView:
            hold = self._lock_open_hold(session, hold_id)
            account = self._lock_account(session, hold.user_id)
            if extra:
                if account.posted - account.held < extra:
                    raise InsufficientCreditsError(extra, account.posted - account.held)
                self._entry(session, hold.user_id, "hold", extra, key, hold=hold)
                account.held += extra
                hold.amount += extra
            if used is not None:
                hold.used = max(hold.used, used)
            hold.expires_at = self.clock() + timedelta(seconds=ttl_seconds)
            return HoldView.of(hold)

        if not extra:
            return await self.db.run(op, write=True)
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

        def op(session: Session) -> Settlement:
            hold = self._lock_open_hold(session, hold_id)
            account = self._lock_account(session, hold.user_id)
            from_hold = min(amount, hold.amount)
            beyond = min(amount - from_hold, account.posted - account.held)
            charged = from_hold + beyond
            released = hold.amount - from_hold if final else 0
            self._entry(
                session,
                hold.user_id,
                "capture",
                charged,
                idempotency_key,
                hold=hold,
                seconds=seconds,
                details=details,
            )
            if beyond:
                # The overage is reserved and captured at once, so the ledger sums stay exact.
                account.held += beyond
                hold_key = f"{idempotency_key}:overage"
                self._entry(session, hold.user_id, "hold", beyond, hold_key, hold=hold)
            if released:
                release_key = f"{idempotency_key}:release"
                self._entry(session, hold.user_id, "release", released, release_key, hold=hold)
            account.posted -= charged
            account.held -= charged + released
            hold.amount -= from_hold + released
            hold.captured += charged
            hold.used = max(hold.used, hold.captured)
            if final:
                hold.status = closing_status
                hold.settled_at = self.clock()
            return Settlement(
                hold.id,
                charged,
                hold.captured,
                released,
                account.posted - account.held,
                replayed=False,
            )

        return await self._run(
            idempotency_key, op, replay=lambda: self._replayed_settlement(hold_id, idempotency_key)
        )

    async def release(self, hold_id: str, *, idempotency_key: str | None = None) -> Settlement:
        """Cancel a hold without charging (failed work)."""
        return await self.capture(
            hold_id, 0, final=True, idempotency_key=idempotency_key or f"release:{hold_id}"
        )

    async def expire_holds(self, *, limit: int = 100) -> int:
        """Settle holds whose owner stopped renewing them: capture what they recorded as
        used, release the rest. Returns how many holds were closed."""
        query = (
            select(Hold.id)
            .where(Hold.status == "open", Hold.expires_at < self.clock())
            .limit(limit)
        )
        ids = await self.db.run(lambda session: list(session.scalars(query)), write=False)
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

    # --- internals --------------------------------------------------------------------

    async def _run(
        self,
        key: str,
        op: Callable[[Session], T],
        *,
        replay: Callable[[], Awaitable[T]],
        fresh_key: bool = False,
    ) -> T:
        """Run `op` in one transaction unless `key` was used already (then `replay`).
        The check happens inside the transaction; the unique index settles races."""

        def transaction(session: Session) -> T:
            if not fresh_key and _entry_exists(session, key):
                raise _AlreadyDone
            return op(session)

        try:
            return await self.db.run(transaction, write=True)
        except _AlreadyDone:
            return await replay()
        except IntegrityError:
            # A concurrent call with the same idempotency key won the race.
            if await self.db.run(lambda session: _entry_exists(session, key), write=False):
                return await replay()
            raise

    def _lock_account(
        self, session: Session, user_id: int, *, create: bool = False
    ) -> CreditAccount:
        query = select(CreditAccount).where(CreditAccount.user_id == user_id).with_for_update()
        account = session.scalar(query)
        if account is None:
            if not create:
                raise InsufficientCreditsError(1, 0)
            account = CreditAccount(user_id=user_id, posted=0, held=0)
            session.add(account)
            session.flush()
        return account

    def _lock_open_hold(self, session: Session, hold_id: str) -> Hold:
        hold = session.scalar(select(Hold).where(Hold.id == hold_id).with_for_update())
        if hold is None or hold.status != "open":
            raise HoldNotOpenError(hold_id)
        return hold

    def _entry(
        self,
        session: Session,
        user_id: int,
        kind: str,
        amount: int,
        key: str,
        *,
        hold: Hold | None = None,
        api_key_id: str | None = None,
        seconds: float | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        session.add(
            LedgerEntry(
                user_id=user_id,
                kind=kind,
                amount=amount,
                idempotency_key=key,
                hold_id=hold.id if hold else None,
                api_key_id=api_key_id or (hold.api_key_id if hold else None),
                model=hold.model if hold else None,
                seconds=seconds,
                details=details,
                created_at=self.clock(),
            )
        )

    async def _require_hold(self, hold_id: str) -> HoldView:
        hold = await self.get_hold(hold_id)
        if hold is None:
            raise HoldNotOpenError(hold_id)
        return hold

    async def _hold_by_entry(self, key: str) -> HoldView:
        query = select(LedgerEntry.hold_id).where(LedgerEntry.idempotency_key == key)
        hold_id = await self.db.run(lambda session: session.scalar(query), write=False)
        return await self._require_hold(str(hold_id))

    async def _replayed_settlement(self, hold_id: str, key: str) -> Settlement:
        def read(session: Session) -> tuple[int, int]:
            charged = session.scalar(
                select(LedgerEntry.amount).where(LedgerEntry.idempotency_key == key)
            )
            released = session.scalar(
                select(LedgerEntry.amount).where(LedgerEntry.idempotency_key == f"{key}:release")
            )
            return int(charged or 0), int(released or 0)

        charged, released = await self.db.run(read, write=False)
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

"""The credit ledger on SQLite and PostgreSQL: holds, captures, idempotency, expiry and
concurrent spending that can never go below zero or spend the same credit twice."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from realtime2.accounts.ledger import (
    SWEEP_LOCK,
    HoldNotOpenError,
    InsufficientCreditsError,
    Ledger,
)
from realtime2.state import Services
from tests.support.accounts import new_account


async def spend(ledger: Ledger, user_id: int, amount: int, ref: str) -> bool:
    """One 'spend attempt': reserve then capture, as every metered request does."""
    try:
        hold = await ledger.place_hold(
            user_id, amount, model="starter-voice", reference=ref, ttl_seconds=60
        )
    except InsufficientCreditsError:
        return False
    await ledger.capture(hold.id, amount, final=True, idempotency_key=f"cap:{ref}")
    return True


async def assert_reconciled(ledger: Ledger, user_id: int) -> None:
    projection, sums = await ledger.reconcile(user_id)
    assert projection == sums


async def test_top_up_and_balance(services: Services) -> None:
    acct = await new_account(services, credits=0)
    ledger = services.ledger
    assert (await ledger.balance(acct.user_id)).available == 0
    await ledger.top_up(acct.user_id, 500, idempotency_key="grant-1")
    await ledger.top_up(acct.user_id, 500, idempotency_key="grant-1")  # replay: no effect
    assert (await ledger.balance(acct.user_id)).available == 500
    with pytest.raises(ValueError):
        await ledger.top_up(acct.user_id, -5)
    await assert_reconciled(ledger, acct.user_id)


async def test_hold_capture_release(services: Services) -> None:
    acct = await new_account(services, credits=100)
    ledger = services.ledger
    hold = await ledger.place_hold(
        acct.user_id, 60, model="realtime-mini", reference="s1", ttl_seconds=60
    )
    balance = await ledger.balance(acct.user_id)
    assert (balance.available, balance.held) == (40, 60)
    with pytest.raises(InsufficientCreditsError):
        await ledger.place_hold(acct.user_id, 41, model="x", reference="s2", ttl_seconds=60)

    # A partial capture keeps the hold open; a final one releases the rest.
    part = await ledger.capture(hold.id, 20, final=False, idempotency_key="c1")
    assert (part.charged, part.released, part.balance_after) == (20, 0, 40)
    again = await ledger.capture(hold.id, 20, final=False, idempotency_key="c1")
    assert again.replayed and (await ledger.balance(acct.user_id)).posted == 80
    done = await ledger.capture(hold.id, 15, final=True, idempotency_key="c2")
    assert (done.charged, done.total_captured, done.released) == (15, 35, 25)
    balance = await ledger.balance(acct.user_id)
    assert (balance.posted, balance.held, balance.available) == (65, 0, 65)
    with pytest.raises(HoldNotOpenError):
        await ledger.capture(hold.id, 1, final=True, idempotency_key="c3")

    other = await ledger.place_hold(acct.user_id, 10, model="x", reference="s3", ttl_seconds=60)
    released = await ledger.release(other.id)
    assert released.released == 10 and released.charged == 0
    assert (await ledger.balance(acct.user_id)).available == 65
    await assert_reconciled(ledger, acct.user_id)


async def test_extend_hold_and_overage(services: Services) -> None:
    acct = await new_account(services, credits=100)
    ledger = services.ledger
    hold = await ledger.place_hold(acct.user_id, 10, model="m", reference="r", ttl_seconds=60)
    hold = await ledger.extend_hold(hold.id, 30, ttl_seconds=60, used=8)
    assert (hold.amount, hold.used) == (40, 8)
    with pytest.raises(InsufficientCreditsError):
        await ledger.extend_hold(hold.id, 61, ttl_seconds=60)
    # Charging more than reserved takes the rest from the balance, never below zero.
    result = await ledger.capture(hold.id, 500, final=True, idempotency_key="big")
    assert result.charged == 100 and result.balance_after == 0
    await assert_reconciled(ledger, acct.user_id)


async def test_expired_hold_returns_credit_and_charges_recorded_use(services: Services) -> None:
    acct = await new_account(services, credits=100)
    now = datetime.now(UTC)
    ledger = Ledger(services.db, clock=lambda: now)
    quiet = await ledger.place_hold(acct.user_id, 30, model="m", reference="a", ttl_seconds=5)
    used = await ledger.place_hold(acct.user_id, 30, model="m", reference="b", ttl_seconds=5)
    await ledger.extend_hold(used.id, 0, ttl_seconds=5, used=12)
    assert (await ledger.balance(acct.user_id)).available == 40
    assert await ledger.expire_holds() == 0  # not yet expired

    now += timedelta(seconds=6)
    assert await ledger.expire_holds() == 2
    balance = await ledger.balance(acct.user_id)
    assert (balance.available, balance.held) == (88, 0)
    assert (await ledger.get_hold(quiet.id)).status == "expired"  # type: ignore[union-attr]
    assert await ledger.expire_holds() == 0
    await assert_reconciled(ledger, acct.user_id)


async def test_concurrent_spends_never_overdraw(services: Services) -> None:
    """200 concurrent attempts against credit for 100: exactly 100 succeed, balance 0."""
    acct = await new_account(services, credits=100 * 3)
    results = await asyncio.gather(
        *(spend(services.ledger, acct.user_id, 3, f"req-{i}") for i in range(200))
    )
    assert sum(results) == 100
    balance = await services.ledger.balance(acct.user_id)
    assert (balance.available, balance.held, balance.posted) == (0, 0, 0)
    await assert_reconciled(services.ledger, acct.user_id)


async def test_same_idempotency_key_concurrently_charges_once(services: Services) -> None:
    acct = await new_account(services, credits=50)
    hold = await services.ledger.place_hold(
        acct.user_id, 50, model="m", reference="r", ttl_seconds=60
    )
    results = await asyncio.gather(
        *(
            services.ledger.capture(hold.id, 10, final=False, idempotency_key="same")
            for _ in range(20)
        ),
        return_exceptions=True,
    )
    assert all(not isinstance(r, BaseException) for r in results), results
    assert (await services.ledger.balance(acct.user_id)).posted == 40
    await assert_reconciled(services.ledger, acct.user_id)


async def test_one_sweeper_at_a_time(services: Services) -> None:
    """`sweep_expired`: while one replica sweeps (holds the lock), another skips the round."""
    acct = await new_account(services, credits=100)
    now = datetime.now(UTC)
    ledger = Ledger(services.db, clock=lambda: now)
    await ledger.place_hold(acct.user_id, 30, model="m", reference="a", ttl_seconds=5)
    now += timedelta(seconds=6)
    if not services.db.is_sqlite:
        async with services.db.engine.connect() as other, other.begin():
            lock = text("SELECT pg_try_advisory_xact_lock(:key)")
            assert (await other.execute(lock, {"key": SWEEP_LOCK})).scalar()
            assert await ledger.sweep_expired() is None  # another replica is sweeping
    assert await ledger.sweep_expired() == 1
    assert await ledger.sweep_expired() == 0
    await assert_reconciled(ledger, acct.user_id)

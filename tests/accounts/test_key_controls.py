"""Per-key controls enforced by the ledger's own holds: the budget (total, per day, per
month; spent = captured + still held on the key's holds), the model list, and the meter
that reserves no more than a key's budget allows."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from realtime2.accounts.key_controls import (
    KeyBudgetExhaustedError,
    ModelNotAllowedError,
    period_start,
)
from realtime2.accounts.ledger import InsufficientCreditsError
from realtime2.accounts.metering import MeterPolicy
from realtime2.accounts.running import RunningWork
from realtime2.state import Services
from tests.support.accounts import new_account
from tests.support.clock import FakeClock
from tests.support.meters import migrated_services, mini_meter


async def _budget(svc: Services, key_id: str, credits: int, period: str = "total") -> None:
    await svc.keys.set_controls(key_id, {"budget_credits": credits, "budget_period": period})


async def _hold(svc: Services, user_id: int, key_id: str, amount: int, model: str = "m") -> str:
    hold = await svc.ledger.place_hold(
        user_id, amount, model=model, reference="req_x", ttl_seconds=60, api_key_id=key_id
    )
    return hold.id


async def test_budget_counts_captured_and_held(services: Services) -> None:
    svc = services
    acct = await new_account(svc, credits=10_000)
    await _budget(svc, acct.key_id, 100)
    first = await _hold(svc, acct.user_id, acct.key_id, 60)
    with pytest.raises(KeyBudgetExhaustedError) as refused:
        await _hold(svc, acct.user_id, acct.key_id, 41)
    assert (refused.value.status, refused.value.code) == (402, "key_budget_exhausted")
    assert isinstance(refused.value, InsufficientCreditsError)  # meters keep what they hold
    # Capturing 30 of the 60 and releasing the rest frees 30: 30 spent, 70 left.
    await svc.ledger.capture(first, 30, final=True, idempotency_key="c1")
    await _hold(svc, acct.user_id, acct.key_id, 70)
    with pytest.raises(KeyBudgetExhaustedError):
        await _hold(svc, acct.user_id, acct.key_id, 1)
    # Another key of the same user is not limited by this one's budget.
    other, _ = await svc.keys.create(acct.user_id, "other")
    await _hold(svc, acct.user_id, other.id, 500)


async def test_extending_a_hold_is_bounded_by_the_budget(services: Services) -> None:
    svc = services
    acct = await new_account(svc, credits=10_000)
    await _budget(svc, acct.key_id, 100)
    hold = await _hold(svc, acct.user_id, acct.key_id, 80)
    with pytest.raises(KeyBudgetExhaustedError):
        await svc.ledger.extend_hold(hold, 21, ttl_seconds=60)
    extended = await svc.ledger.extend_hold(hold, 20, ttl_seconds=60)
    assert extended.amount == 100


async def test_capture_beyond_the_hold_stops_at_the_budget(services: Services) -> None:
    svc = services
    acct = await new_account(svc, credits=10_000)
    await _budget(svc, acct.key_id, 100)
    hold = await _hold(svc, acct.user_id, acct.key_id, 50)
    settlement = await svc.ledger.capture(hold, 500, final=True, idempotency_key="over")
    assert settlement.charged == 100  # 50 held + 50 the budget still allowed
    projection, sums = await svc.ledger.reconcile(acct.user_id)
    assert projection == sums


async def test_day_and_month_budgets_start_again_each_period(sqlite_services: Services) -> None:
    svc = sqlite_services
    acct = await new_account(svc, credits=10_000)
    now = datetime(2026, 12, 31, 23, 0, tzinfo=UTC)
    svc.ledger.clock = lambda: now
    await _budget(svc, acct.key_id, 100, "day")
    hold = await _hold(svc, acct.user_id, acct.key_id, 100)
    await svc.ledger.capture(hold, 100, final=True, idempotency_key="day1")
    with pytest.raises(KeyBudgetExhaustedError):
        await _hold(svc, acct.user_id, acct.key_id, 1)
    now += timedelta(hours=2)  # the next day (and month)
    await _hold(svc, acct.user_id, acct.key_id, 100)
    assert period_start("month", now) == datetime(2027, 1, 1, tzinfo=UTC)
    assert period_start("day", now) == datetime(2027, 1, 1, tzinfo=UTC)


async def test_allowed_models_refuse_other_models(services: Services) -> None:
    svc = services
    acct = await new_account(svc, credits=10_000)
    await svc.keys.set_controls(acct.key_id, {"allowed_models": ["realtime-mini"]})
    await _hold(svc, acct.user_id, acct.key_id, 10, model="realtime-mini")
    with pytest.raises(ModelNotAllowedError) as refused:
        await _hold(svc, acct.user_id, acct.key_id, 10, model="realtime-pro")
    assert refused.value.status == 403 and "realtime-pro" in refused.value.message
    balance = await svc.ledger.balance(acct.user_id)
    assert balance.held == 10  # the refused hold moved nothing


async def test_meter_reserves_what_the_budget_allows_and_then_stops(
    sqlite_services: Services,
) -> None:
    svc = sqlite_services
    acct = await new_account(svc, credits=100_000)
    await _budget(svc, acct.key_id, 4 * 30)  # 30 s of realtime-mini
    clock = FakeClock()
    meter = mini_meter(
        svc, acct.user_id, "rt_budget", api_key_id=acct.key_id, clock=clock, policy=MeterPolicy()
    )
    await meter.start()
    assert meter.reserved == 120  # not the 60 s window: the budget's 30 s
    clock.advance(10)
    assert await meter.renew()
    clock.advance(25)
    assert not await meter.renew()
    assert meter.stop_code == "key_budget_exhausted"
    settlement = await meter.settle(reason=meter.stop_code)
    assert settlement is not None and settlement.charged == 120
    # A new session on the spent key is refused up front.
    again = mini_meter(svc, acct.user_id, "rt_budget2", api_key_id=acct.key_id)
    with pytest.raises(KeyBudgetExhaustedError):
        await again.start()


async def test_meter_stops_when_its_hold_is_asked_to(sqlite_services: Services) -> None:
    svc = sqlite_services
    acct = await new_account(svc, credits=10_000)
    clock = FakeClock()
    meter = mini_meter(svc, acct.user_id, "rt_ended", clock=clock)
    await meter.start()
    assert meter.hold_id is not None
    assert await RunningWork(svc.db).request_stop(meter.hold_id, "session_ended")
    clock.advance(7)
    assert not await meter.renew()
    assert meter.stop_code == "session_ended"
    settlement = await meter.settle(reason=meter.stop_code)
    assert settlement is not None and settlement.charged == 7 * 4  # exactly the time used


@pytest.mark.postgres
async def test_200_concurrent_holds_never_exceed_a_key_budget(
    tmp_path: Path, fresh_pg_url: str
) -> None:
    """200 holds of 7 credits at once against a 500-credit budget on PostgreSQL: exactly
    71 succeed (a funded account, so only the key's budget refuses)."""
    async with migrated_services(tmp_path, fresh_pg_url) as svc:
        await _concurrent_holds(svc)


async def _concurrent_holds(svc: Services) -> None:
    acct = await new_account(svc, credits=1_000_000)
    await _budget(svc, acct.key_id, 500)

    async def attempt(i: int) -> bool:
        try:
            await svc.ledger.place_hold(
                acct.user_id,
                7,
                model="m",
                reference=f"req_{i}",
                ttl_seconds=60,
                api_key_id=acct.key_id,
            )
            return True
        except KeyBudgetExhaustedError:
            return False

    results = await asyncio.gather(*(attempt(i) for i in range(200)))
    assert sum(results) == 500 // 7
    balance = await svc.ledger.balance(acct.user_id)
    assert balance.held == 7 * (500 // 7) <= 500
    projection, sums = await svc.ledger.reconcile(acct.user_id)
    assert projection == sums


@pytest.mark.postgres
async def test_concurrent_sessions_never_reserve_past_a_key_budget(
    tmp_path: Path, fresh_pg_url: str
) -> None:
    """100 session meters start at once on one key (each would reserve a minute, 240
    credits, from a 1,000-credit budget): what they reserve together never passes it."""
    async with migrated_services(tmp_path, fresh_pg_url) as svc:
        acct = await new_account(svc, credits=1_000_000)
        await _budget(svc, acct.key_id, 1000, "day")

        async def start(i: int) -> int:
            meter = mini_meter(svc, acct.user_id, f"rt_{i}", api_key_id=acct.key_id)
            try:
                await meter.start()
            except KeyBudgetExhaustedError:
                return 0
            return meter.reserved

        reserved = await asyncio.gather(*(start(i) for i in range(100)))
        assert 0 < sum(reserved) <= 1000
        assert (await svc.ledger.balance(acct.user_id)).held == sum(reserved)

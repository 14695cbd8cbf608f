"""Notifications are claimed once per crossing: a balance that falls below its threshold
notifies once however many charges follow, and again only after it has risen back; a
key's spent budget notifies once per period."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from realtime2.accounts.alerts import due_alerts
from realtime2.accounts.user_admin import UserAdmin
from realtime2.state import Services
from tests.support.accounts import new_account


async def _spend(svc: Services, user_id: int, amount: int, key: str, api_key: str = "") -> None:
    hold = await svc.ledger.place_hold(
        user_id,
        amount,
        model="m",
        reference=f"req_{key}",
        ttl_seconds=60,
        api_key_id=api_key or None,
    )
    await svc.ledger.capture(hold.id, amount, final=True, idempotency_key=key)


async def test_balance_low_once_per_crossing(services: Services) -> None:
    svc = services
    acct = await new_account(svc, credits=1000)
    await UserAdmin(svc.db).set_threshold(acct.user_id, 500)
    now = datetime.now(UTC)
    assert await due_alerts(svc.db, now) == []
    await _spend(svc, acct.user_id, 600, "a")
    [alert] = await due_alerts(svc.db, now)
    assert alert.type == "balance.low"
    assert alert.data == {
        "user_id": acct.user_id,
        "email": acct.email,
        "balance": 400,
        "threshold": 500,
    }
    await _spend(svc, acct.user_id, 100, "b")
    assert await due_alerts(svc.db, now) == []  # still below: not again
    await svc.ledger.top_up(acct.user_id, 300)  # back to 600: re-armed
    assert await due_alerts(svc.db, now) == []
    await _spend(svc, acct.user_id, 200, "c")
    [again] = await due_alerts(svc.db, now)
    assert again.data["balance"] == 400


async def test_key_budget_exhausted_once_per_period(sqlite_services: Services) -> None:
    svc = sqlite_services
    acct = await new_account(svc, credits=1000)
    await svc.keys.set_controls(acct.key_id, {"budget_credits": 50, "budget_period": "day"})
    await svc.keys.authenticate(acct.key)  # only keys in use are looked at
    now = datetime.now(UTC)
    await _spend(svc, acct.user_id, 30, "a", acct.key_id)
    assert await due_alerts(svc.db, now) == []
    await _spend(svc, acct.user_id, 20, "b", acct.key_id)
    [alert] = await due_alerts(svc.db, now)
    assert alert.type == "key.budget_exhausted"
    assert alert.data["api_key_id"] == acct.key_id
    assert alert.data["budget"]["remaining"] == 0
    assert await due_alerts(svc.db, now) == []
    # The next day the budget starts again: nothing is due until it is spent again.
    assert await due_alerts(svc.db, now + timedelta(days=1)) == []


async def test_a_new_budget_can_notify_again(sqlite_services: Services) -> None:
    svc = sqlite_services
    acct = await new_account(svc, credits=1000)
    await svc.keys.set_controls(acct.key_id, {"budget_credits": 10, "budget_period": "total"})
    await svc.keys.authenticate(acct.key)
    await _spend(svc, acct.user_id, 10, "a", acct.key_id)
    now = datetime.now(UTC)
    assert len(await due_alerts(svc.db, now)) == 1
    await svc.keys.set_controls(acct.key_id, {"budget_credits": 20, "budget_period": "total"})
    assert await due_alerts(svc.db, now) == []
    await _spend(svc, acct.user_id, 10, "b", acct.key_id)
    assert [a.type for a in await due_alerts(svc.db, now)] == ["key.budget_exhausted"]


async def test_keys_not_used_lately_are_not_summed(sqlite_services: Services) -> None:
    svc = sqlite_services
    acct = await new_account(svc, credits=1000)
    await svc.keys.set_controls(acct.key_id, {"budget_credits": 10, "budget_period": "total"})
    await _spend(svc, acct.user_id, 10, "a", acct.key_id)
    assert await due_alerts(svc.db, datetime.now(UTC)) == []  # never authenticated
    await svc.keys.authenticate(acct.key)
    assert len(await due_alerts(svc.db, datetime.now(UTC))) == 1

"""Spend reports on SQLite and PostgreSQL: random usage through the real ledger, then every
grouping compared with the ledger's own rows and with each account's balance."""

from __future__ import annotations

import contextlib
import random
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

import pytest

from realtime2.accounts.ledger import InsufficientCreditsError, Ledger
from realtime2.accounts.spend import (
    MAX_DAYS,
    ReportError,
    SpendQuery,
    SpendReports,
    SpendRow,
)
from realtime2.state import Services
from tests.support.accounts import Account, new_account

MODELS = ("realtime-mini", "realtime-pro", "starter-voice")
START = datetime(2026, 10, 3, 21, 0, tzinfo=UTC)  # days cross midnight UTC


class Wall:
    """The ledger's wall clock, moved by the test (entries are dated by it)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def random_usage(
    ledger: Ledger,
    accounts: list[Account],
    keys: dict[int, list[str]],
    rng: random.Random,
    wall: Wall,
    steps: int,
) -> None:
    """Sessions and requests as the server makes them: holds, renewals, partial and final
    captures (some beyond the hold), releases, expiries, grants and adjustments."""
    for step in range(steps):
        wall.now += timedelta(minutes=rng.randrange(1, 240))
        acct = rng.choice(accounts)
        key = rng.choice([*keys[acct.user_id], None])
        roll = rng.random()
        if roll < 0.08:
            await ledger.top_up(acct.user_id, rng.randrange(1, 500))
            continue
        if roll < 0.12:
            with contextlib.suppress(InsufficientCreditsError):
                await ledger.top_up(acct.user_id, -rng.randrange(1, 20), kind="adjustment")
            continue
        try:
            hold = await ledger.place_hold(
                acct.user_id,
                rng.randrange(1, 120),
                model=rng.choice(MODELS),
                reference=f"rt_{step}",
                ttl_seconds=60,
                api_key_id=key,
            )
        except InsufficientCreditsError:
            await ledger.top_up(acct.user_id, 1000)
            continue
        if rng.random() < 0.3:
            hold = await ledger.extend_hold(hold.id, rng.randrange(0, 50), ttl_seconds=60)
        if rng.random() < 0.3:
            await ledger.capture(
                hold.id,
                rng.randrange(0, hold.amount + 1),
                final=False,
                idempotency_key=f"part:{step}",
                seconds=rng.random() * 10,
            )
        outcome = rng.random()
        if outcome < 0.15:
            await ledger.release(hold.id)
        elif outcome < 0.25:
            # The owner died after recording some use: the sweeper charges it.
            await ledger.extend_hold(
                hold.id, 0, ttl_seconds=60, used=rng.randrange(0, hold.amount + 1)
            )
            wall.now += timedelta(minutes=2)
            await ledger.expire_holds()
        else:
            # Sometimes more than the hold reserved: the overage comes from the balance.
            amount = rng.randrange(0, hold.amount * 2 + 1)
            await ledger.capture(
                hold.id,
                amount,
                final=True,
                idempotency_key=f"final:{step}",
                seconds=round(rng.random() * 60, 3),
            )


async def walk(reports: SpendReports, query: SpendQuery) -> list[SpendRow]:
    rows: list[SpendRow] = []
    async for page in reports.pages(query):
        rows.extend(page.rows)
    return rows


async def test_reports_equal_the_ledger_to_the_credit(services: Services) -> None:
    rng = random.Random(22)
    wall = Wall(START)
    ledger = Ledger(services.db, clock=wall)
    accounts = [await new_account(services, credits=300) for _ in range(4)]
    keys = {a.user_id: [a.key_id] for a in accounts}
    for acct in accounts[:2]:  # a second key for some
        info, _ = await services.keys.create(acct.user_id, "second")
        keys[acct.user_id].append(info.id)
    await random_usage(ledger, accounts, keys, rng, wall, steps=160)

    # What the ledger says, from its own rows.
    by: dict[str, dict[str, int]] = {g: defaultdict(int) for g in ("user", "key", "model", "day")}
    seconds_by_day: dict[str, float] = defaultdict(float)
    first = last = None
    for acct in accounts:
        for entry in await services.ledger.entries(acct.user_id, limit=100_000):
            if entry.kind != "capture" or entry.amount == 0:
                continue
            day = entry.created_at.astimezone(UTC).date()
            first = min(first or day, day)
            last = max(last or day, day)
            by["user"][str(acct.user_id)] += entry.amount
            by["key"][entry.api_key_id or ""] += entry.amount
            by["model"][entry.model or ""] += entry.amount
            by["day"][day.isoformat()] += entry.amount
            seconds_by_day[day.isoformat()] += entry.seconds or 0.0
    assert first is not None and last is not None and (last - first).days > 7

    reports = SpendReports(services.db, clock=wall)
    for group in ("user", "key", "model", "day"):
        query = SpendQuery(group, first, last, limit=3)  # type: ignore[arg-type]
        rows = await walk(reports, query)
        assert {r.group: r.credits for r in rows} == dict(by[group]), group
        assert [r.group for r in rows] == sorted(r.group for r in rows) or group == "user"
        whole = await reports.report(SpendQuery(group, first, last, limit=1000))  # type: ignore[arg-type]
        assert not whole.has_more and whole.rows == rows
        assert whole.total.credits == sum(by[group].values())
    day_rows = await walk(reports, SpendQuery("day", first, last, limit=7))
    for row in day_rows:
        assert row.seconds == pytest.approx(seconds_by_day[row.group], abs=0.01)

    # Each user's spend is what left their account: grants − posted.
    for acct in accounts:
        page = await reports.report(SpendQuery("model", first, last, user_id=acct.user_id))
        granted = sum(
            e.amount
            for e in await services.ledger.entries(acct.user_id, limit=100_000)
            if e.kind in ("topup", "adjustment")
        )
        balance = await services.ledger.balance(acct.user_id)
        assert page.total.credits == granted - balance.posted
        assert sum(r.credits for r in page.rows) == page.total.credits

    # Who the groups are.
    users = await reports.report(SpendQuery("user", first, last))
    assert {r.email for r in users.rows} <= {a.email for a in accounts}
    assert all(r.user_id == int(r.group) for r in users.rows)
    by_key = await reports.report(SpendQuery("key", first, last))
    named = [r for r in by_key.rows if r.group]
    assert named and all(r.key_prefix and r.key_prefix.startswith("sk-gptr2-") for r in named)
    owners = {k: a.user_id for a in accounts for k in keys[a.user_id]}
    assert all(r.user_id == owners[r.group] for r in named)


async def test_the_range_filters_and_cursor(services: Services) -> None:
    wall = Wall(datetime(2026, 11, 1, 23, 59, 59, tzinfo=UTC))
    ledger = Ledger(services.db, clock=wall)
    acct = await new_account(services, credits=1000)
    other = await new_account(services, credits=1000)

    async def charge(who: Account, amount: int, model: str, key: str | None) -> None:
        hold = await ledger.place_hold(
            who.user_id, amount, model=model, reference="rt_x", ttl_seconds=60, api_key_id=key
        )
        await ledger.capture(hold.id, amount, final=True, idempotency_key=f"c:{hold.id}")

    await charge(acct, 5, "realtime-mini", acct.key_id)  # Nov 1, one second before midnight
    wall.now += timedelta(seconds=1)
    await charge(acct, 7, "realtime-pro", None)  # Nov 2 00:00:00
    await charge(other, 11, "realtime-pro", other.key_id)
    reports = SpendReports(services.db, clock=wall)
    nov1, nov2 = date(2026, 11, 1), date(2026, 11, 2)

    async def credits(**kw: object) -> int:
        q = SpendQuery(**{"group_by": "day", "start": nov1, "end": nov2, **kw})  # type: ignore[arg-type]
        return (await reports.report(q)).total.credits

    assert await credits() == 23
    assert await credits(end=nov1) == 5
    assert await credits(start=nov2) == 18
    assert await credits(user_id=acct.user_id) == 12
    assert await credits(model="realtime-pro") == 18
    assert await credits(key_id=acct.key_id) == 5
    assert await credits(start=date(2026, 10, 1), end=date(2026, 10, 31)) == 0
    days = await reports.report(SpendQuery("day", nov1, nov2, user_id=acct.user_id))
    assert [(r.group, r.credits, r.charges) for r in days.rows] == [
        ("2026-11-01", 5, 1),
        ("2026-11-02", 7, 1),
    ]
    # A cursor skips what the earlier page showed; the total stays the whole range's.
    page = await reports.report(SpendQuery("model", nov1, nov2, after="realtime-mini"))
    assert [r.group for r in page.rows] == ["realtime-pro"] and page.total.credits == 23
    by_key = await reports.report(SpendQuery("key", nov1, nov2, user_id=acct.user_id))
    assert {r.group: r.credits for r in by_key.rows} == {"": 7, acct.key_id: 5}

    series = await reports.daily(acct.user_id, days=30)
    assert len(series) == 30 and series[-1].day == nov2 and series[0].day == nov2 - timedelta(29)
    assert [(d.day, d.credits) for d in series if d.credits] == [(nov1, 5), (nov2, 7)]


def test_queries_are_bounded() -> None:
    day = date(2026, 1, 1)
    SpendQuery("day", day, day + timedelta(days=MAX_DAYS - 1))
    cases = [
        (dict(end=day + timedelta(days=MAX_DAYS)), "from"),
        (dict(end=day - timedelta(days=1)), "to"),
        (dict(limit=0), "limit"),
        (dict(limit=1001), "limit"),
        (dict(group_by="week"), "group_by"),
        (dict(group_by="day", after="yesterday"), "after"),
        (dict(group_by="user", after="x1"), "after"),
        (dict(after="x" * 201), "after"),
    ]
    for changes, param in cases:
        args = {"group_by": "model", "start": day, "end": day, **changes}
        with pytest.raises(ReportError) as caught:
            SpendQuery(**args)  # type: ignore[arg-type]
        assert caught.value.param == param, changes

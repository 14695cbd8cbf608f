"""The dashboard's spend chart and running sessions, the admin page, and the admin spend
report (`GET /api/admin/reports/spend`), through the in-process app."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import httpx

from realtime2.accounts.ledger import Ledger
from realtime2.accounts.running import RunningWork
from realtime2.state import Services
from tests.support.accounts import Account, new_account
from tests.support.pages import PASSWORD, log_in

ADMIN_REPORT = "/api/admin/reports/spend"
_BAR = re.compile(r'<rect class="bar[^"]*"[^>]*data-day="([0-9-]{10})" data-credits="(\d+)"')


async def admin_account(svc: Services) -> Account:
    user = await svc.users.create("ops@example.com", PASSWORD, role="admin")
    info, raw = await svc.keys.create(user.id, "ops")
    return Account(user.id, user.email, raw, info.id)


async def spend(svc: Services, acct: Account, amount: int, *, days_ago: int = 0) -> None:
    """A settled session charge, dated `days_ago` days back."""
    when = datetime.now(UTC) - timedelta(days=days_ago)
    ledger = Ledger(svc.db, clock=lambda: when)
    hold = await ledger.place_hold(
        acct.user_id,
        amount,
        model="realtime-mini",
        reference="rt_x",
        ttl_seconds=60,
        api_key_id=acct.key_id,
    )
    await ledger.capture(hold.id, amount, final=True, idempotency_key=f"c:{hold.id}")


async def test_dashboard_charts_thirty_days_of_own_spend(
    client: httpx.AsyncClient, sqlite_services: Services
) -> None:
    acct = await new_account(sqlite_services, credits=1000)
    other = await new_account(sqlite_services, credits=1000)
    await spend(sqlite_services, acct, 30, days_ago=0)
    await spend(sqlite_services, acct, 12, days_ago=3)
    await spend(sqlite_services, acct, 5, days_ago=40)  # outside the chart
    await spend(sqlite_services, other, 99)
    await log_in(client, acct.email)
    page = await client.get("/dashboard")
    assert page.status_code == 200
    bars = _BAR.findall(page.text)
    today = datetime.now(UTC).date()
    assert len(bars) == 30 and bars[-1][0] == today.isoformat()
    assert bars[0][0] == (today - timedelta(days=29)).isoformat()
    assert {day: int(c) for day, c in bars if c != "0"} == {
        today.isoformat(): 30,
        (today - timedelta(days=3)).isoformat(): 12,
    }
    assert 'data-total="42"' in page.text and 'id="spend-total">42<' in page.text
    assert "/dashboard/admin" not in page.text  # no admin link for a user


async def test_running_sessions_own_for_users_all_for_admins(
    client: httpx.AsyncClient, sqlite_services: Services
) -> None:
    acct = await new_account(sqlite_services, credits=1000)
    other = await new_account(sqlite_services, credits=1000)
    mine = await sqlite_services.ledger.place_hold(
        acct.user_id,
        40,
        model="realtime-mini",
        reference="rt_mine",
        ttl_seconds=60,
        api_key_id=acct.key_id,
    )
    theirs = await sqlite_services.ledger.place_hold(
        other.user_id, 50, model="realtime-pro", reference="rtc_theirs", ttl_seconds=60
    )
    await log_in(client, acct.email)
    page = (await client.get("/dashboard")).text
    assert f'data-session="{mine.id}"' in page and theirs.id not in page
    assert "data-end-session" not in page

    admin = await admin_account(sqlite_services)
    client.cookies.clear()
    await log_in(client, admin.email)
    page = (await client.get("/dashboard")).text
    for hold, email in ((mine, acct.email), (theirs, other.email)):
        assert f'data-end-session="{hold.id}"' in page
        assert email in page
    assert 'href="/dashboard/admin"' in page

    # Ended by an admin: the row says it is ending until its meter stops it.
    assert await RunningWork(sqlite_services.db).request_stop(theirs.id, "admin")
    page = (await client.get("/dashboard")).text
    assert f'data-end-session="{theirs.id}"' not in page and "ending…" in page

    await sqlite_services.ledger.release(mine.id)
    page = (await client.get("/dashboard")).text
    assert mine.id not in page and theirs.id in page


async def test_admin_page_is_for_admins(
    client: httpx.AsyncClient, sqlite_services: Services
) -> None:
    assert (await client.get("/dashboard/admin")).headers["location"].startswith("/login")
    acct = await new_account(sqlite_services)
    await log_in(client, acct.email)
    refused = await client.get("/dashboard/admin")
    assert refused.status_code == 403 and "for admins" in refused.text
    other = await new_account(sqlite_services)
    await spend(sqlite_services, acct, 30)
    await spend(sqlite_services, other, 12, days_ago=2)
    admin = await admin_account(sqlite_services)
    client.cookies.clear()
    csrf = await log_in(client, admin.email)
    page = await client.get("/dashboard/admin")
    assert page.status_code == 200
    # The admin page charts everyone's spend.
    bars = _BAR.findall(page.text)
    assert len(bars) == 30 and sorted(int(c) for _, c in bars if c != "0") == [12, 30]
    assert 'data-total="42"' in page.text
    assert f'data-csrf="{csrf}"' in page.text and '<script src="/static/admin.js"' in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'self'")


async def test_admin_spend_report(client: httpx.AsyncClient, sqlite_services: Services) -> None:
    a = await new_account(sqlite_services, credits=1000)
    b = await new_account(sqlite_services, credits=1000)
    await spend(sqlite_services, a, 30)
    await spend(sqlite_services, b, 7)
    await spend(sqlite_services, b, 4, days_ago=1)
    admin = await admin_account(sqlite_services)
    headers = {"Authorization": f"Bearer {admin.key}"}

    by_user = await client.get(ADMIN_REPORT, params={"group_by": "user"}, headers=headers)
    assert by_user.status_code == 200, by_user.text
    body = by_user.json()
    assert body["total"]["credits"] == 41
    assert [(r["email"], r["credits"]) for r in body["data"]] == [(a.email, 30), (b.email, 11)]

    one = await client.get(
        ADMIN_REPORT, params={"group_by": "day", "user_id": str(b.user_id)}, headers=headers
    )
    assert [r["credits"] for r in one.json()["data"]] == [4, 7]

    exported = await client.get(
        ADMIN_REPORT, params={"group_by": "key", "format": "csv"}, headers=headers
    )
    assert exported.headers["content-type"] == "text/csv; charset=utf-8"
    assert "realtime2-admin-spend-key-" in exported.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert {(r["email"], int(r["credits"])) for r in rows} == {(a.email, 30), (b.email, 11)}

    for bad, param in (({"user_id": "x"}, "user_id"), ({"group_by": "hour"}, "group_by")):
        refused = await client.get(ADMIN_REPORT, params=bad, headers=headers)
        assert refused.status_code == 400 and refused.json()["error"]["param"] == param

    # Not an admin: 403 admin_required; no credential: 401.
    denied = await client.get(ADMIN_REPORT, headers={"Authorization": f"Bearer {a.key}"})
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "admin_required"
    assert (await client.get(ADMIN_REPORT)).status_code == 401

"""`GET /api/realtime2/usage/report`: a user's own spend from the ledger, JSON and CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from realtime2.state import Services
from tests.support.accounts import Account, new_account

REPORT = "/api/realtime2/usage/report"


async def charge(svc: Services, acct: Account, amount: int, model: str, key: str | None) -> None:
    hold = await svc.ledger.place_hold(
        acct.user_id, amount, model=model, reference="rt_t", ttl_seconds=60, api_key_id=key
    )
    await svc.ledger.capture(
        hold.id, amount, final=True, idempotency_key=f"c:{hold.id}", seconds=amount / 4
    )


def auth(acct: Account) -> dict[str, str]:
    return {"Authorization": f"Bearer {acct.key}"}


async def test_a_user_sees_only_their_own_spend(
    client: httpx.AsyncClient, sqlite_services: Services
) -> None:
    acct = await new_account(sqlite_services, credits=1000)
    other = await new_account(sqlite_services, credits=1000)
    await charge(sqlite_services, acct, 40, "realtime-mini", acct.key_id)
    await charge(sqlite_services, acct, 16, "realtime-pro", None)
    await charge(sqlite_services, other, 99, "realtime-pro", other.key_id)

    by_model = await client.get(REPORT, params={"group_by": "model"}, headers=auth(acct))
    assert by_model.status_code == 200, by_model.text
    body = by_model.json()
    today = datetime.now(UTC).date()
    assert (body["from"], body["to"]) == (
        (today - timedelta(days=29)).isoformat(),
        today.isoformat(),
    )
    assert body["total"] == {"credits": 56, "seconds": 14.0, "charges": 2}
    assert [(r["model"], r["credits"]) for r in body["data"]] == [
        ("realtime-mini", 40),
        ("realtime-pro", 16),
    ]
    assert body["has_more"] is False and body["next_after"] is None

    by_day = (await client.get(REPORT, headers=auth(acct))).json()  # group_by=day by default
    assert by_day["data"] == [
        {"day": today.isoformat(), "credits": 56, "seconds": 14.0, "charges": 2}
    ]

    by_key = (await client.get(REPORT, params={"group_by": "key"}, headers=auth(acct))).json()
    assert {r["key_id"]: r["credits"] for r in by_key["data"]} == {None: 16, acct.key_id: 40}
    named = next(r for r in by_key["data"] if r["key_id"])
    assert named["key_name"] == "test" and named["key_prefix"].startswith("sk-gptr2-")

    page = (
        await client.get(REPORT, params={"group_by": "model", "limit": "1"}, headers=auth(acct))
    ).json()
    assert [r["model"] for r in page["data"]] == ["realtime-mini"]
    assert page["has_more"] is True and page["next_after"] == "realtime-mini"
    rest = await client.get(
        REPORT, params={"group_by": "model", "after": page["next_after"]}, headers=auth(acct)
    )
    assert [r["model"] for r in rest.json()["data"]] == ["realtime-pro"]

    filtered = await client.get(
        REPORT, params={"model": "realtime-pro", "key_id": other.key_id}, headers=auth(acct)
    )
    assert filtered.json()["total"]["credits"] == 0  # another user's key: nothing of theirs


async def test_csv_export(client: httpx.AsyncClient, sqlite_services: Services) -> None:
    acct = await new_account(sqlite_services, credits=1000)
    info, _ = await sqlite_services.keys.create(acct.user_id, '=HYPERLINK("http://x")')
    await charge(sqlite_services, acct, 12, "realtime-mini", info.id)
    await charge(sqlite_services, acct, 8, "realtime-mini", acct.key_id)
    today = datetime.now(UTC).date()
    response = await client.get(
        REPORT,
        params={"group_by": "key", "format": "csv", "from": "2026-01-01", "to": today.isoformat()},
        headers=auth(acct),
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == (
        f'attachment; filename="realtime2-spend-key-2026-01-01-{today}.csv"'
    )
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert sum(int(r["credits"]) for r in rows) == 20
    names = {r["key_name"] for r in rows}
    # A key name that a spreadsheet would run as a formula is written as text.
    assert names == {"test", '\'=HYPERLINK("http://x")'}


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"group_by": "user"}, "group_by"),
        ({"group_by": "week"}, "group_by"),
        ({"from": "2026-13-01"}, "from"),
        ({"to": "yesterday"}, "to"),
        ({"from": "2025-01-01", "to": "2026-01-02"}, "from"),
        ({"from": "2026-02-01", "to": "2026-01-01"}, "to"),
        ({"limit": "0"}, "limit"),
        ({"limit": "-1"}, "limit"),
        ({"format": "xml"}, "format"),
        ({"format": "csv", "limit": "10"}, "limit"),
        ({"user_id": "1"}, "user_id"),
        ({"since": "2026-01-01"}, "since"),
        ({"group_by": "day", "after": "nope"}, "after"),
    ],
)
async def test_refusals_name_the_parameter(
    client: httpx.AsyncClient, sqlite_services: Services, params: dict[str, str], param: str
) -> None:
    acct = await new_account(sqlite_services, credits=10)
    response = await client.get(REPORT, params=params, headers=auth(acct))
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param


async def test_repeated_parameter_is_refused(
    client: httpx.AsyncClient, sqlite_services: Services
) -> None:
    acct = await new_account(sqlite_services, credits=10)
    response = await client.get(REPORT + "?group_by=day&group_by=model", headers=auth(acct))
    assert response.status_code == 400 and response.json()["error"]["param"] == "group_by"


async def test_no_credential_is_unauthorized(client: httpx.AsyncClient) -> None:
    response = await client.get(REPORT)
    assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"

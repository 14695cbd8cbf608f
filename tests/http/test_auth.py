"""The seed's error contract for authentication, on the account endpoints."""

from __future__ import annotations

import httpx
import pytest

from realtime2.state import Services
from tests.support.accounts import new_account


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["type"], str)


async def test_me_with_bearer_and_x_api_key(
    client: httpx.AsyncClient, sqlite_services: Services
) -> None:
    acct = await new_account(sqlite_services, credits=1234)
    for headers in ({"Authorization": f"Bearer {acct.key}"}, {"x-api-key": acct.key}):
        response = await client.get("/api/realtime2/me", headers=headers)
        assert response.status_code == 200
        body = response.json()
        assert (body["email"], body["balance"], body["held"]) == (acct.email, 1234, 0)


async def test_no_key_is_unauthorized(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/api/realtime2/me"), 401, "unauthorized")
    assert_error(await client.get("/api/realtime2/usage"), 401, "unauthorized")


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer not-a-key"},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"x-api-key": "sk-gptr2-tooshort"},
        {"x-api-key": "sk-gptr2-" + "Z" * 43},  # well formed, unknown
        {"Authorization": b"Bearer sk-gptr2-" + "\u00e9".encode() * 43},  # type: ignore[dict-item]
    ],
)
async def test_malformed_or_unknown_key(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    assert_error(await client.get("/api/realtime2/me", headers=headers), 401, "invalid_api_key")


async def test_revoked_key_is_refused_at_once(
    client: httpx.AsyncClient, sqlite_services: Services
) -> None:
    acct = await new_account(sqlite_services)
    headers = {"x-api-key": acct.key}
    assert (await client.get("/api/realtime2/me", headers=headers)).status_code == 200
    await sqlite_services.keys.revoke(acct.key_id)
    assert_error(await client.get("/api/realtime2/me", headers=headers), 401, "invalid_api_key")


async def test_usage_lists_own_entries_only(
    client: httpx.AsyncClient, sqlite_services: Services
) -> None:
    alice = await new_account(sqlite_services, credits=100)
    bob = await new_account(sqlite_services, credits=7)
    hold = await sqlite_services.ledger.place_hold(
        alice.user_id,
        10,
        model="starter-voice",
        reference="r",
        ttl_seconds=60,
        api_key_id=alice.key_id,
    )
    await sqlite_services.ledger.capture(hold.id, 4, final=True, idempotency_key="k", seconds=4)
    body = (await client.get("/api/realtime2/usage", headers={"x-api-key": alice.key})).json()
    kinds = [e["kind"] for e in body["data"]]
    assert kinds == ["release", "capture", "hold", "topup"]
    capture = body["data"][1]
    assert (capture["amount"], capture["model"], capture["api_key_id"]) == (
        4,
        "starter-voice",
        alice.key_id,
    )
    bob_body = (await client.get("/api/realtime2/usage", headers={"x-api-key": bob.key})).json()
    assert [e["amount"] for e in bob_body["data"]] == [7]


@pytest.mark.parametrize("query", ["limit=0", "limit=100000", "limit=abc", "before=-1"])
async def test_usage_bad_query(
    client: httpx.AsyncClient, sqlite_services: Services, query: str
) -> None:
    acct = await new_account(sqlite_services)
    response = await client.get(f"/api/realtime2/usage?{query}", headers={"x-api-key": acct.key})
    assert_error(response, 400, "invalid_request")


async def test_health_and_unknown_route(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["database"] == "ok"
    assert_error(await client.get("/nope"), 404, "not_found")

"""A key can never read or charge another user's usage, keys or calls.

Covered elsewhere, not repeated here: dashboard pages need a login and every form a CSRF
token, and one user cannot revoke another's key (tests/web/test_login.py,
tests/web/test_api_keys_page.py); a live WebRTC call of another user is 404 to charge and
hang-up (tests/transports/webrtc/test_http_errors.py). This file covers the API side: usage and
account reads, ended and other-replica call records, sideband attach, and what a client
secret (`ek_…`) can reach.
"""

from __future__ import annotations

import httpx
import pytest

from realtime2.calls.records import CallRecords
from realtime2.db.models import RealtimeCall
from realtime2.state import Services
from tests.support.accounts import Account, new_account


def bearer(acct: Account | str) -> dict[str, str]:
    return {"Authorization": f"Bearer {acct if isinstance(acct, str) else acct.key}"}


def code(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


async def _spend(svc: Services, acct: Account, amount: int, model: str) -> str:
    hold = await svc.ledger.place_hold(
        acct.user_id, amount, model=model, reference=f"t-{acct.user_id}", ttl_seconds=60
    )
    await svc.ledger.capture(hold.id, amount, final=True, idempotency_key=f"{hold.id}:c")
    return hold.id


async def test_usage_and_account_show_only_the_callers_own(
    client: httpx.AsyncClient, sqlite_services: Services
) -> None:
    svc = sqlite_services
    ann, bob = await new_account(svc, 1000), await new_account(svc, 1000)
    ann_hold = await _spend(svc, ann, 7, "realtime-mini")
    bob_hold = await _spend(svc, bob, 11, "realtime-pro")
    me = (await client.get("/api/realtime2/me", headers=bearer(ann))).json()
    assert (me["email"], me["balance"]) == (ann.email, 993)
    # Paging with any cursor cannot step into another user's entries.
    for params in ({}, {"before": 10_000}, {"limit": 500}):
        data = (await client.get("/api/realtime2/usage", params=params, headers=bearer(ann))).json()
        holds = {e["hold_id"] for e in data["data"]}
        assert bob_hold not in holds
        assert {e["api_key_id"] for e in data["data"]} <= {None, ann.key_id}
    data = (await client.get("/api/realtime2/usage", headers=bearer(bob))).json()["data"]
    assert ann_hold not in {e["hold_id"] for e in data} and bob_hold in {e["hold_id"] for e in data}


@pytest.mark.parametrize("status", ["ended", "active-elsewhere"])
async def test_another_users_call_record_is_unknown(
    client: httpx.AsyncClient, sqlite_services: Services, status: str
) -> None:
    svc = sqlite_services
    owner, intruder = await new_account(svc, 1000), await new_account(svc, 1000)
    call_id = f"rtc_isolation_{status.replace('-', '_')}"
    await CallRecords(svc.db).opened(
        call_id, user_id=owner.user_id, api_key_id=owner.key_id, model="realtime-mini"
    )
    async with svc.db.transaction() as tx:
        call = await tx.get(RealtimeCall, call_id)
        assert call is not None
        if status == "ended":
            call.status, call.charged = "ended", 480
        else:
            call.replica = "another-replica"
    charge = {"model": "realtime-mini", "callId": call_id}
    # Answered exactly like an id that does not exist: nothing tells the intruder it does.
    for who in (intruder, "sk-gptr2-" + "x" * 43):
        reply = await client.post("/api/realtime2/charge", json=charge, headers=bearer(who))
        assert reply.status_code in (401, 404)
        if reply.status_code == 404:
            assert code(reply) == (404, "call_not_found")
            assert "480" not in reply.text
    reply = await client.post(f"/v1/realtime/calls/{call_id}/hangup", headers=bearer(intruder))
    assert code(reply) == (404, "call_not_found")
    # The owner does see it.
    mine = await client.post("/api/realtime2/charge", json=charge, headers=bearer(owner))
    assert mine.status_code == (200 if status == "ended" else 409)
    balance = await svc.ledger.balance(intruder.user_id)
    assert (balance.available, balance.held) == (1000, 0)


async def test_a_client_secret_reaches_only_realtime_routes(
    client: httpx.AsyncClient, sqlite_services: Services
) -> None:
    ann = await new_account(sqlite_services, 1000)
    minted = await client.post("/v1/realtime/client_secrets", json={}, headers=bearer(ann))
    assert minted.status_code == 200, minted.text
    secret = minted.json()["value"]
    assert secret.startswith("ek_")
    headers = bearer(secret)
    # Not an API key: it cannot read the account, its usage, or mint more secrets.
    assert code(await client.get("/api/realtime2/me", headers=headers)) == (401, "invalid_api_key")
    assert code(await client.get("/api/realtime2/usage", headers=headers))[0] == 401
    again = await client.post("/v1/realtime/client_secrets", json={}, headers=headers)
    assert again.status_code == 401
    # On a realtime route it acts for its own user only.
    reply = await client.post(
        "/api/realtime2/charge", json={"model": "realtime-mini", "callId": "rtc_x"}, headers=headers
    )
    assert code(reply) == (404, "call_not_found")


async def test_a_revoked_key_stops_at_once(
    client: httpx.AsyncClient, sqlite_services: Services
) -> None:
    ann = await new_account(sqlite_services, 1000)
    assert (await client.get("/api/realtime2/me", headers=bearer(ann))).status_code == 200
    await sqlite_services.keys.revoke(ann.key_id)
    reply = await client.get("/api/realtime2/me", headers=bearer(ann))
    assert code(reply) == (401, "invalid_api_key")
    reply = await client.post("/v1/realtime/client_secrets", json={}, headers=bearer(ann))
    assert code(reply) == (401, "invalid_api_key")

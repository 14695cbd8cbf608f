"""The admin API (docs/admin.md): every action over HTTP, each one in the audit log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from realtime2.state import Services
from tests.support.accounts import Account, new_account


async def admin_account(svc: Services) -> Account:
    acct = await new_account(svc, credits=0, email="ops@example.com")
    await svc.users.set_role(acct.user_id, "admin")
    return acct


def auth(acct: Account) -> dict[str, str]:
    return {"Authorization": f"Bearer {acct.key}"}


async def audit(client: httpx.AsyncClient, admin: Account, **params: Any) -> list[Any]:
    response = await client.get("/api/admin/audit", headers=auth(admin), params=params)
    assert response.status_code == 200, response.text
    entries: list[Any] = response.json()["data"]
    return entries


@pytest.fixture
async def admin(sqlite_services: Services) -> Account:
    return await admin_account(sqlite_services)


async def test_create_list_search_and_page_users(
    client: httpx.AsyncClient, sqlite_services: Services, admin: Account
) -> None:
    for i in range(5):
        response = await client.post(
            "/api/admin/users", headers=auth(admin), json={"email": f"u{i}@shop.example"}
        )
        assert response.status_code == 201, response.text
        assert response.json()["status"] == "active" and response.json()["balance"] == 0
    again = await client.post(
        "/api/admin/users", headers=auth(admin), json={"email": "u0@shop.example"}
    )
    assert again.status_code == 409
    page = await client.get(
        "/api/admin/users", headers=auth(admin), params={"q": "shop.example", "limit": 2}
    )
    body = page.json()
    assert [u["email"] for u in body["data"]] == ["u0@shop.example", "u1@shop.example"]
    assert body["has_more"] and body["next_after"] == body["data"][-1]["id"]
    rest = await client.get(
        "/api/admin/users",
        headers=auth(admin),
        params={"q": "shop.example", "limit": 200, "after": body["next_after"]},
    )
    assert [u["email"] for u in rest.json()["data"]] == [f"u{i}@shop.example" for i in (2, 3, 4)]
    assert not rest.json()["has_more"]
    too_many = await client.get("/api/admin/users", headers=auth(admin), params={"limit": 201})
    assert too_many.status_code == 422 or too_many.status_code == 400
    created = await audit(client, admin, action="user.create")
    assert len(created) == 5 and created[0]["actor"]["email"] == "ops@example.com"
    assert created[0]["client_address"]


async def test_unknown_fields_are_refused_by_name(
    client: httpx.AsyncClient, admin: Account
) -> None:
    response = await client.post(
        "/api/admin/users", headers=auth(admin), json={"email": "a@b.example", "credits": 5}
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "credits"


async def test_credits_grant_deduct_adjust_are_idempotent(
    client: httpx.AsyncClient, sqlite_services: Services, admin: Account
) -> None:
    user = await new_account(sqlite_services, credits=0)
    url = f"/api/admin/users/{user.user_id}/credits"

    async def move(body: dict[str, Any]) -> httpx.Response:
        return await client.post(url, headers=auth(admin), json=body)

    grant = {"action": "grant", "amount": 500, "reason": "welcome", "idempotency_key": "g-1"}
    first, second = await move(grant), await move(grant)
    assert first.json()["balance"] == 500 and not first.json()["replayed"]
    assert second.json()["balance"] == 500 and second.json()["replayed"]
    assert second.json()["entry_id"] == first.json()["entry_id"]
    reused = await move({**grant, "amount": 600})
    assert (reused.status_code, reused.json()["error"]["code"]) == (409, "idempotency_key_reused")
    deduct = await move(
        {"action": "deduct", "amount": 200, "reason": "refund", "idempotency_key": "d-1"}
    )
    assert deduct.json()["balance"] == 300 and deduct.json()["amount"] == -200
    too_much = await move(
        {"action": "deduct", "amount": 301, "reason": "x", "idempotency_key": "d-2"}
    )
    assert (too_much.status_code, too_much.json()["error"]["code"]) == (409, "balance_too_low")
    adjust = await move(
        {"action": "adjust", "amount": -50, "reason": "fix", "idempotency_key": "a-1"}
    )
    assert adjust.json()["balance"] == 250
    missing = await move({"action": "grant", "amount": 5, "reason": "no key"})
    assert missing.json()["error"]["param"] == "idempotency_key"
    entries = await sqlite_services.ledger.entries(user.user_id)
    assert sorted(e.amount for e in entries) == [-200, -50, 500]
    assert {e.details["reason"] for e in entries if e.details} == {"welcome", "refund", "fix"}
    logged = await audit(client, admin, target=f"user:{user.user_id}")
    assert [e["action"] for e in logged] == ["credits.adjust", "credits.deduct", "credits.grant"]
    assert logged[-1]["details"]["reason"] == "welcome"


async def test_disable_refuses_keys_and_logins_at_once_and_enable_restores(
    client: httpx.AsyncClient, sqlite_services: Services, admin: Account
) -> None:
    user = await new_account(sqlite_services, credits=100)
    assert (await client.get("/api/realtime2/me", headers=auth(user))).status_code == 200
    response = await client.post(
        f"/api/admin/users/{user.user_id}/disable", headers=auth(admin), json={"reason": "abuse"}
    )
    assert response.json()["status"] == "disabled"
    refused = await client.get("/api/realtime2/me", headers=auth(user))
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "account_disabled")
    assert await sqlite_services.users.verify_password(user.email, "correct horse battery") is None
    enabled = await client.post(f"/api/admin/users/{user.user_id}/enable", headers=auth(admin))
    assert enabled.json()["status"] == "active"
    assert (await client.get("/api/realtime2/me", headers=auth(user))).status_code == 200
    actions = [e["action"] for e in await audit(client, admin, target=f"user:{user.user_id}")]
    assert actions == ["user.enable", "user.disable"]


async def test_keys_sessions_and_usage_of_a_user(
    client: httpx.AsyncClient, sqlite_services: Services, admin: Account
) -> None:
    svc = sqlite_services
    user = await new_account(svc, credits=1000)
    hold = await svc.ledger.place_hold(
        user.user_id,
        40,
        model="realtime-mini",
        reference="rt_abc",
        ttl_seconds=60,
        api_key_id=user.key_id,
    )
    keys = (await client.get(f"/api/admin/users/{user.user_id}/keys", headers=auth(admin))).json()
    assert [k["id"] for k in keys["data"]] == [user.key_id]
    assert "key_hash" not in keys["data"][0] and keys["data"][0]["prefix"].startswith("sk-gptr2-")
    sessions = await client.get(f"/api/admin/users/{user.user_id}/sessions", headers=auth(admin))
    [running] = sessions.json()["data"]
    assert (running["id"], running["kind"], running["reserved"]) == (hold.id, "realtime", 40)
    everyone = (await client.get("/api/admin/sessions", headers=auth(admin))).json()["data"]
    assert [s["id"] for s in everyone] == [hold.id]
    ended = await client.post(f"/api/admin/sessions/{hold.id}/end", headers=auth(admin))
    assert ended.json()["stop_requested"] == "session_ended"
    assert (await svc.ledger.get_hold(hold.id)).stop_reason == "session_ended"  # type: ignore[union-attr]
    request = await svc.ledger.place_hold(
        user.user_id, 5, model="starter-voice", reference="req_abc", ttl_seconds=60
    )
    not_a_session = await client.post(f"/api/admin/sessions/{request.id}/end", headers=auth(admin))
    assert (not_a_session.status_code, not_a_session.json()["error"]["code"]) == (
        409,
        "not_a_session",
    )
    gone = await client.post("/api/admin/sessions/hold_" + "0" * 24 + "/end", headers=auth(admin))
    assert gone.status_code == 404
    usage = await client.get(f"/api/admin/users/{user.user_id}/usage", headers=auth(admin))
    assert {e["kind"] for e in usage.json()["data"]} == {"topup", "hold"}
    assert len(usage.json()["data"]) == 3
    [logged] = await audit(client, admin, action="session.end")
    assert logged["target"] == f"session:{hold.id}"


async def test_key_controls_by_admin_and_by_owner(
    client: httpx.AsyncClient, sqlite_services: Services, admin: Account
) -> None:
    svc = sqlite_services
    user = await new_account(svc, credits=1000)
    body = {
        "expires_at": "2099-01-01T00:00:00Z",
        "allowed_models": ["realtime-mini"],
        "allowed_origins": ["https://App.example/"],
        "budget": {"credits": 300, "period": "month"},
    }
    response = await client.patch(f"/api/admin/keys/{user.key_id}", headers=auth(admin), json=body)
    key = response.json()
    assert key["allowed_models"] == ["realtime-mini"]
    assert key["allowed_origins"] == ["https://app.example"]
    assert key["budget"]["credits"] == 300 and key["budget"]["remaining"] == 300
    assert key["expires_at"].startswith("2099-01-01")
    bad = await client.patch(
        f"/api/admin/keys/{user.key_id}", headers=auth(admin), json={"allowed_models": ["gpt-9"]}
    )
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "allowed_models"
    # The restricted key cannot lift its own limits…
    own = await client.patch(
        f"/api/realtime2/keys/{user.key_id}", headers=auth(user), json={"budget": None}
    )
    assert (own.status_code, own.json()["error"]["code"]) == (403, "key_restricted")
    # …an unrestricted key of the same user can, and only on that user's keys.
    _, free = await svc.keys.create(user.user_id, "free")
    lifted = await client.patch(
        f"/api/realtime2/keys/{user.key_id}",
        headers={"x-api-key": free},
        json={"budget": None, "allowed_models": None},
    )
    assert lifted.json()["budget"] is None and lifted.json()["allowed_models"] is None
    foreign = await client.patch(
        f"/api/realtime2/keys/{admin.key_id}", headers={"x-api-key": free}, json={"budget": None}
    )
    assert foreign.status_code == 404
    [logged] = await audit(client, admin, action="key.update")
    assert logged["details"]["budget_credits"] == 300
    revoked = await client.post(f"/api/admin/keys/{user.key_id}/revoke", headers=auth(admin))
    assert revoked.json()["revoked_at"] is not None
    assert (await client.get("/api/realtime2/me", headers=auth(user))).status_code == 401


async def test_an_expired_key_gets_a_clear_401(
    client: httpx.AsyncClient, sqlite_services: Services, admin: Account
) -> None:
    user = await new_account(sqlite_services, credits=10)
    await client.patch(
        f"/api/admin/keys/{user.key_id}", headers=auth(admin), json={"expires_at": 1_000_000}
    )
    response = await client.get("/api/realtime2/me", headers=auth(user))
    assert (response.status_code, response.json()["error"]["code"]) == (401, "api_key_expired")
    assert not await sqlite_services.keys.is_active(user.key_id)


async def test_invites_are_shown_once_and_listed_without_codes(
    client: httpx.AsyncClient, admin: Account
) -> None:
    made = await client.post(
        "/api/admin/invites", headers=auth(admin), json={"note": "friend", "expires_in_days": 3}
    )
    assert made.status_code == 201 and made.json()["code"].startswith("inv-")
    listed = (await client.get("/api/admin/invites", headers=auth(admin))).json()["data"]
    assert [i["id"] for i in listed] == [made.json()["id"]] and "code" not in listed[0]
    deleted = await client.delete(f"/api/admin/invites/{made.json()['id']}", headers=auth(admin))
    assert deleted.status_code == 204
    [revoked, created] = await audit(client, admin)
    assert (revoked["action"], created["action"]) == ("invite.revoke", "invite.create")
    assert "inv-" not in str(created) + str(revoked)  # the code never reaches the log


async def test_update_user_role_limits_and_notifications(
    client: httpx.AsyncClient, sqlite_services: Services, admin: Account
) -> None:
    user = await new_account(sqlite_services, credits=10)
    response = await client.patch(
        f"/api/admin/users/{user.user_id}",
        headers=auth(admin),
        json={
            "role": "admin",
            "rpm_limit": 30,
            "balance_below": 100,
            "webhook_url": "https://hooks.example/x",
        },
    )
    body = response.json()
    assert body["role"] == "admin" and body["rpm_limit"] == 30
    assert body["notifications"] == {"balance_below": 100, "webhook_url": "https://hooks.example/x"}
    assert body["webhook_secret"].startswith("whsec_")
    [logged] = await audit(client, admin, action="user.update")
    assert "whsec_" not in str(logged)
    self_demote = await client.patch(
        f"/api/admin/users/{admin.user_id}", headers=auth(admin), json={"role": "user"}
    )
    assert self_demote.status_code == 409


async def test_status_filters(
    client: httpx.AsyncClient, sqlite_services: Services, admin: Account
) -> None:
    svc = sqlite_services
    pending = await svc.users.create("pending@example.com", pending=True)
    disabled = await new_account(svc, credits=0)
    await client.post(f"/api/admin/users/{disabled.user_id}/disable", headers=auth(admin))

    async def ids(status: str) -> list[int]:
        response = await client.get(
            "/api/admin/users", headers=auth(admin), params={"status": status}
        )
        return [u["id"] for u in response.json()["data"]]

    assert await ids("pending") == [pending.id]
    assert await ids("disabled") == [disabled.user_id]
    assert await ids("active") == [admin.user_id]
    approved = await client.post(f"/api/admin/users/{pending.id}/enable", headers=auth(admin))
    assert approved.json()["status"] == "active"
    [entry] = await audit(client, admin, action="user.enable")
    assert entry["details"] == {"was": "pending_approval"}


async def test_a_key_with_an_expiry_cannot_lift_it(
    client: httpx.AsyncClient, sqlite_services: Services
) -> None:
    user = await new_account(sqlite_services, credits=10)
    await sqlite_services.keys.set_controls(
        user.key_id, {"expires_at": datetime.now(UTC) + timedelta(hours=1)}
    )
    lifted = await client.patch(
        f"/api/realtime2/keys/{user.key_id}", headers=auth(user), json={"expires_at": None}
    )
    assert (lifted.status_code, lifted.json()["error"]["code"]) == (403, "key_restricted")
    listed = await client.get("/api/realtime2/keys", headers=auth(user))
    assert listed.json()["data"][0]["expires_at"] is not None

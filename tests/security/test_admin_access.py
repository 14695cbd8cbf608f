"""Who reaches `/api/admin/…` (admins only, by key or by login with CSRF), and what a
disabled user, an expired or restricted key can still do: nothing, at once."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
from fastapi.routing import APIRoute
from websockets.asyncio.client import connect
from websockets.typing import Origin

from realtime2.accounts.metering import MeterPolicy
from realtime2.app import create_app
from realtime2.http import admin, admin_ops
from realtime2.state import Services
from tests.support.accounts import new_account, settled
from tests.support.pages import log_in
from tests.support.server import LiveServer, refused

RENEW_EVERY = MeterPolicy().renew_every_seconds


def _routes() -> list[tuple[str, str]]:
    found = []
    for route in [*admin.router.routes, *admin_ops.router.routes]:
        assert isinstance(route, APIRoute) and route.path.startswith("/api/admin/")
        path = route.path.replace("{user_id}", "1").replace("{key_id}", "key_" + "0" * 16)
        path = path.replace("{hold_id}", "hold_" + "0" * 24)
        path = path.replace("{invite_id}", "inv_" + "0" * 16)
        found += [(method, path) for method in sorted(route.methods or ())]
    return found


async def test_every_admin_route_refuses_non_admins_and_strangers(
    client: httpx.AsyncClient, sqlite_services: Services
) -> None:
    user = await new_account(sqlite_services, credits=10)
    routes = _routes()
    assert len(routes) >= 15
    for method, path in routes:
        anonymous = await client.request(method, path)
        assert anonymous.status_code == 401, (method, path)
        response = await client.request(method, path, headers={"x-api-key": user.key}, json={})
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["error"]["code"] == "admin_required"


async def test_a_demoted_or_disabled_admin_loses_access_at_once(
    client: httpx.AsyncClient, sqlite_services: Services
) -> None:
    svc = sqlite_services
    admin = await new_account(svc, credits=0)
    await svc.users.set_role(admin.user_id, "admin")
    headers = {"x-api-key": admin.key}
    assert (await client.get("/api/admin/users", headers=headers)).status_code == 200
    await svc.users.set_role(admin.user_id, "user")
    assert (await client.get("/api/admin/users", headers=headers)).status_code == 403


async def test_admin_login_cookie_needs_the_csrf_token_to_write(
    client: httpx.AsyncClient, sqlite_services: Services
) -> None:
    svc = sqlite_services
    admin = await new_account(svc, credits=0)
    await svc.users.set_role(admin.user_id, "admin")
    csrf = await log_in(client, admin.email)
    assert (await client.get("/api/admin/users")).status_code == 200
    body = {"email": "made-by-cookie@example.com"}
    forged = await client.post("/api/admin/users", json=body)
    assert (forged.status_code, forged.json()["error"]["code"]) == (403, "csrf_failed")
    made = await client.post("/api/admin/users", json=body, headers={"x-csrf-token": csrf})
    assert made.status_code == 201
    entries = (await client.get("/api/admin/audit")).json()["data"]
    assert entries[0]["actor"]["key_id"] is None  # a login, not a key


async def test_disabling_a_user_ends_their_live_session(fake_server: LiveServer) -> None:
    svc = fake_server.services
    admin = await new_account(svc, credits=0)
    await svc.users.set_role(admin.user_id, "admin")
    user = await new_account(svc, credits=10_000)
    url = fake_server.ws_url + "?model=realtime-mini"
    async with (
        httpx.AsyncClient(base_url=fake_server.url) as http,
        connect(url, additional_headers={"x-api-key": user.key}) as ws,
    ):
        assert json.loads(await ws.recv())["type"] == "session.created"
        response = await http.post(
            f"/api/admin/users/{user.user_id}/disable", headers={"x-api-key": admin.key}
        )
        assert response.json()["status"] == "disabled"
        disabled_at = time.monotonic()
        errors = []
        async with asyncio.timeout(RENEW_EVERY + 5):
            async for frame in ws:
                event = json.loads(frame)
                if event["type"] == "error":
                    errors.append(event["error"])
        took = time.monotonic() - disabled_at
    assert [e["code"] for e in errors] == ["account_disabled"]
    assert took <= RENEW_EVERY + 1
    assert await settled(svc, user.user_id) > 0  # the seconds used are charged
    status, body = await refused(url, additional_headers={"x-api-key": user.key})
    assert (status, body["error"]["code"]) == (403, "account_disabled")


async def test_key_model_list_refuses_a_socket_for_another_model(
    fake_server: LiveServer,
) -> None:
    svc = fake_server.services
    user = await new_account(svc, credits=10_000)
    await svc.keys.set_controls(user.key_id, {"allowed_models": ["realtime-mini"]})
    status, body = await refused(
        fake_server.ws_url + "?model=realtime-pro", additional_headers={"x-api-key": user.key}
    )
    assert (status, body["error"]["code"]) == (403, "model_not_allowed")
    assert "realtime-pro" in body["error"]["message"]
    assert (await svc.ledger.balance(user.user_id)).held == 0


async def test_key_budget_refuses_a_socket_with_402(fake_server: LiveServer) -> None:
    svc = fake_server.services
    user = await new_account(svc, credits=10_000)
    await svc.keys.set_controls(user.key_id, {"budget_credits": 3, "budget_period": "day"})
    status, body = await refused(
        fake_server.ws_url + "?model=realtime-mini", additional_headers={"x-api-key": user.key}
    )
    assert (status, body["error"]["code"]) == (402, "key_budget_exhausted")


async def test_client_secret_origins_follow_the_minting_key(fake_server: LiveServer) -> None:
    svc = fake_server.services
    user = await new_account(svc, credits=10_000)
    await svc.keys.set_controls(user.key_id, {"allowed_origins": ["https://app.example"]})
    async with httpx.AsyncClient(base_url=fake_server.url) as http:
        minted = await http.post(
            "/v1/realtime/client_secrets", headers={"x-api-key": user.key}, json={}
        )
    secret = minted.json()["value"]
    url = fake_server.ws_url + "?model=realtime-mini"
    headers = {"Authorization": f"Bearer {secret}"}
    status, body = await refused(
        url, additional_headers=headers, origin=Origin("https://evil.example")
    )
    assert (status, body["error"]["code"]) == (403, "origin_not_allowed")
    status, body = await refused(url, additional_headers=headers)
    assert (status, body["error"]["code"]) == (403, "origin_not_allowed")
    async with connect(url, additional_headers=headers, origin=Origin("https://app.example")) as ws:
        assert json.loads(await ws.recv())["type"] == "session.created"
    # Disabling the user kills their secrets too.
    from realtime2.accounts.user_admin import UserAdmin

    await UserAdmin(svc.db).disable(user.user_id)
    status, body = await refused(
        url, additional_headers=headers, origin=Origin("https://app.example")
    )
    assert (status, body["error"]["code"]) == (403, "account_disabled")


@pytest.mark.parametrize("mode", ["open", "approval", "invite"])
async def test_signup_modes(tmp_path: object, mode: str) -> None:
    from pathlib import Path

    from realtime2.accounts.invites import Invites
    from realtime2.db.migrate import upgrade
    from tests.support.accounts import make_settings

    assert isinstance(tmp_path, Path)
    svc = Services.build(make_settings(tmp_path, signup=mode, signup_per_hour=6))
    await upgrade(svc.db)
    app = create_app(svc.settings, svc)
    body = {"email": "new@example.com", "password": "long enough pw"}
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as http:
            if mode == "invite":
                no_code = await http.post("/api/signup", json=body)
                assert no_code.status_code == 400
                wrong = await http.post("/api/signup", json={**body, "invite_code": "inv-nope"})
                assert wrong.status_code == 403
                code = (await Invites(svc.db).create(1)).code
                body = {**body, "invite_code": code}
            made = await http.post("/api/signup", json=body)
            assert made.status_code == 201, made.text
            expected = "pending" if mode == "approval" else "active"
            assert made.json()["status"] == expected
            if mode == "invite":
                reuse = await http.post("/api/signup", json={**body, "email": "second@example.com"})
                assert reuse.status_code == 403  # one code, one user
            user = await svc.users.by_email("new@example.com")
            assert user is not None
            can_log_in = await svc.users.verify_password("new@example.com", "long enough pw")
            assert (can_log_in is not None) == (mode != "approval")
            throttled = [
                (await http.post("/api/signup", json={"email": f"x{i}@e.com", "password": "p" * 9}))
                for i in range(6)
            ]
            assert throttled[-1].status_code == 429
    finally:
        await svc.close()


async def test_signup_is_off_by_default(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/signup", json={"email": "a@b.example", "password": "x" * 9})
    assert response.status_code == 404


async def test_key_controls_hold_on_the_pipeline_and_webrtc_calls(
    fake_server: LiveServer,
) -> None:
    from tests.support.peer import TestPeer

    svc = fake_server.services
    user = await new_account(svc, credits=10_000)
    await svc.keys.set_controls(user.key_id, {"allowed_models": ["realtime-mini"]})
    headers = {"x-api-key": user.key}
    form = {"model": "starter-voice", "voice": "marin", "text": "Hello there."}
    async with httpx.AsyncClient(base_url=fake_server.url, timeout=30) as http:
        refused_turn = await http.post("/api/realtime2/pipeline", headers=headers, data=form)
        assert refused_turn.status_code == 403, refused_turn.text
        assert refused_turn.json()["error"]["code"] == "model_not_allowed"
        assert "starter-voice" in refused_turn.json()["error"]["message"]
        peer = TestPeer()
        try:
            call = await http.post(
                "/v1/realtime/calls",
                content=(await peer.offer()).encode(),
                headers={**headers, "content-type": "application/sdp"},
                params={"model": "gpt-realtime"},  # realtime-pro
            )
        finally:
            await peer.close()
        assert (call.status_code, call.json()["error"]["code"]) == (403, "model_not_allowed")
        await svc.keys.set_controls(
            user.key_id,
            {"allowed_models": None, "budget_credits": 2, "budget_period": "total"},
        )
        spent = await http.post("/api/realtime2/pipeline", headers=headers, data=form)
        assert (spent.status_code, spent.json()["error"]["code"]) == (402, "key_budget_exhausted")
    assert (await svc.ledger.balance(user.user_id)).held == 0

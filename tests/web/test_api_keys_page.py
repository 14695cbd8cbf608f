"""Settings → API Keys and the dashboard page, through the in-process app."""

from __future__ import annotations

import httpx

from realtime2.state import Services
from tests.support.accounts import new_account
from tests.support.pages import KEY_ON_PAGE, csrf_of, log_in

KEYS = "/settings/api-keys"


async def create_key(client: httpx.AsyncClient, csrf: str, name: str = "") -> httpx.Response:
    return await client.post(KEYS, data={"csrf_token": csrf, "name": name})


async def test_new_key_is_shown_once_and_works(
    client: httpx.AsyncClient, sqlite_services: Services
) -> None:
    acct = await new_account(sqlite_services, credits=77)
    csrf = await log_in(client, acct.email)
    response = await create_key(client, csrf, "my <server>")
    assert response.status_code == 200
    match = KEY_ON_PAGE.search(response.text)
    assert match, response.text
    raw = match.group(1)
    assert "my &lt;server&gt;" in response.text  # names are escaped
    assert response.headers["cache-control"] == "no-store"
    me = await client.get("/api/realtime2/me", headers={"x-api-key": raw})
    assert me.status_code == 200 and me.json()["email"] == acct.email
    # A plain reload of the page lists the key by prefix only.
    page = await client.get(KEYS)
    assert raw not in page.text and KEY_ON_PAGE.search(page.text) is None
    assert raw[:15] + "…" in page.text
    keys = await sqlite_services.keys.list(acct.user_id)
    assert [k.name for k in keys] == ["test", "my <server>"]


async def test_overlong_name_is_refused(
    client: httpx.AsyncClient, sqlite_services: Services
) -> None:
    acct = await new_account(sqlite_services)
    csrf = await log_in(client, acct.email)
    response = await create_key(client, csrf, "x" * 101)
    assert response.status_code == 400 and KEY_ON_PAGE.search(response.text) is None
    assert len(await sqlite_services.keys.list(acct.user_id)) == 1


async def test_forms_reject_a_wrong_csrf_token(
    client: httpx.AsyncClient, sqlite_services: Services
) -> None:
    acct = await new_account(sqlite_services)
    await log_in(client, acct.email)
    for data in ({"csrf_token": "forged"}, {}):
        assert (await client.post(KEYS, data=data)).status_code == 403
        revoke = await client.post(f"{KEYS}/{acct.key_id}/revoke", data=data)
        assert revoke.status_code == 403
    keys = await sqlite_services.keys.list(acct.user_id)
    assert len(keys) == 1 and keys[0].revoked_at is None


async def test_another_sessions_token_is_rejected(sqlite_services: Services) -> None:
    """A CSRF token is bound to its session, not just any valid token."""
    from realtime2.app import create_app

    a, b = await new_account(sqlite_services), await new_account(sqlite_services)
    app = create_app(sqlite_services.settings, sqlite_services)
    transport = httpx.ASGITransport(app=app)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as ca,
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as cb,
    ):
        await log_in(ca, a.email)
        csrf_b = await log_in(cb, b.email)
        assert (await create_key(ca, csrf_b)).status_code == 403


async def test_writes_without_login_change_nothing(
    client: httpx.AsyncClient, sqlite_services: Services
) -> None:
    acct = await new_account(sqlite_services)
    response = await client.post(f"{KEYS}/{acct.key_id}/revoke", data={"csrf_token": "x"})
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert (await create_key(client, "x")).status_code == 303
    keys = await sqlite_services.keys.list(acct.user_id)
    assert len(keys) == 1 and keys[0].revoked_at is None


async def test_revoke_own_key(client: httpx.AsyncClient, sqlite_services: Services) -> None:
    acct = await new_account(sqlite_services)
    csrf = await log_in(client, acct.email)
    headers = {"x-api-key": acct.key}
    assert (await client.get("/api/realtime2/me", headers=headers)).status_code == 200
    response = await client.post(f"{KEYS}/{acct.key_id}/revoke", data={"csrf_token": csrf})
    assert response.status_code == 303
    page = await client.get(response.headers["location"])
    assert "Revoked " + acct.key[:15] in page.text
    me = await client.get("/api/realtime2/me", headers=headers)
    assert me.status_code == 401 and me.json()["error"]["code"] == "invalid_api_key"


async def test_cannot_revoke_another_users_key(
    client: httpx.AsyncClient, sqlite_services: Services
) -> None:
    me, other = await new_account(sqlite_services), await new_account(sqlite_services)
    csrf = await log_in(client, me.email)
    for ref in (other.key_id, other.key[:15], other.key):
        response = await client.post(f"{KEYS}/{ref}/revoke", data={"csrf_token": csrf})
        assert response.status_code == 404, ref
        assert other.key_id not in response.text
    me_resp = await client.get("/api/realtime2/me", headers={"x-api-key": other.key})
    assert me_resp.status_code == 200
    # Other users' keys never appear on my page.
    page = await client.get(KEYS)
    assert other.key[:15] not in page.text and me.key[:15] in page.text


async def test_pages_carry_security_headers(
    client: httpx.AsyncClient, sqlite_services: Services
) -> None:
    acct = await new_account(sqlite_services)
    await log_in(client, acct.email)
    for path in ("/login", "/dashboard", KEYS):
        headers = (await client.get(path)).headers
        assert "script-src 'self'" in headers["content-security-policy"], path
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "same-origin"
    assert (await client.get("/static/style.css")).status_code == 200
    assert (await client.get("/static/dashboard.js")).status_code == 200


async def test_dashboard_shows_balance_held_and_usage(
    client: httpx.AsyncClient, sqlite_services: Services
) -> None:
    acct = await new_account(sqlite_services, credits=5000)
    ledger = sqlite_services.ledger
    done = await ledger.place_hold(
        acct.user_id,
        400,
        model="realtime-mini",
        reference="call_1",
        ttl_seconds=60,
        api_key_id=acct.key_id,
    )
    await ledger.capture(done.id, 48, final=True, idempotency_key="cap-1", seconds=12.0)
    await ledger.place_hold(
        acct.user_id,
        300,
        model="realtime-pro",
        reference="call_2",
        ttl_seconds=60,
        api_key_id=acct.key_id,
    )
    await log_in(client, acct.email)
    page = await client.get("/dashboard")
    assert page.status_code == 200
    html = page.text
    assert acct.email in html
    assert 'id="balance-available">4,652<' in html  # 5000 − 48 charged − 300 held
    assert 'id="balance-held">300<' in html
    usage = html[html.index('id="usage"') :]
    assert "realtime-mini" in usage and "12.0" in usage and "−48" not in usage
    assert "-48" in usage and "+5,000" in usage and acct.key[:15] + "…" in usage
    # Open reservations are not charges: only the held total shows them.
    assert "realtime-pro" not in usage
    # CSRF token and logout are on every logged-in page.
    assert csrf_of(html)

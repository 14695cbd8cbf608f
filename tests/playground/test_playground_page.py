"""The Playground page and its secret endpoint over HTTP (no browser): login and CSRF are
required, the secret is a working short-lived `ek_…`, and no long-lived key reaches the
page. A call opened with the secret through aiortc checks the whole flow the page uses."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update

from realtime2.db.models import ClientSecret
from realtime2.engine.voices import VOICES
from realtime2.state import Services
from tests.support.accounts import new_account
from tests.support.fakes import fake_engines
from tests.support.pages import log_in
from tests.support.peer import TestPeer
from tests.support.server import LiveServer, live_server

_PAGE_CSRF = re.compile(r'data-csrf="([^"]+)"')


async def _mint(client: httpx.AsyncClient, csrf: str | None) -> httpx.Response:
    headers = {"x-csrf-token": csrf} if csrf is not None else {}
    return await client.post("/playground/secret", headers=headers)


async def _rows(svc: Services) -> list[ClientSecret]:
    async with svc.db.sessions() as tx:
        return list((await tx.execute(select(ClientSecret))).scalars())


async def test_playground_requires_login(client: httpx.AsyncClient) -> None:
    response = await client.get("/playground")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fplayground"


async def test_playground_page_has_no_key(
    client: httpx.AsyncClient, sqlite_services: Services
) -> None:
    acct = await new_account(sqlite_services, credits=1234)
    csrf = await log_in(client, acct.email)
    page = await client.get("/playground")
    assert page.status_code == 200
    html = page.text
    # Scripts only from our own origin, none inline; the page is never cached.
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp
    assert page.headers["cache-control"] == "no-store"
    assert '<script src="/static/playground.js" defer></script>' in html
    assert re.findall(r"<script(?![^>]*\bsrc=)", html) == []
    # What the script needs: the session's CSRF token, the models, the voices, the balance.
    match = _PAGE_CSRF.search(html)
    assert match and match.group(1) == csrf
    assert 'value="realtime-mini"' in html and 'value="realtime-pro"' in html
    for voice in VOICES:
        assert f'value="{voice}"' in html
    assert 'id="pg-balance">1,234<' in html
    assert 'aria-current="page">Playground' in html
    # No long-lived key and no client secret is ever in the page itself.
    assert acct.key not in html and "sk-gptr2-" not in html and "ek_" not in html
    script = await client.get("/static/playground.js")
    assert script.status_code == 200 and "/playground/secret" in script.text
    assert "sk-gptr2-" not in script.text


async def test_secret_requires_login(client: httpx.AsyncClient) -> None:
    response = await _mint(client, "anything")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


async def test_secret_requires_the_csrf_token(
    client: httpx.AsyncClient, sqlite_services: Services
) -> None:
    acct = await new_account(sqlite_services)
    csrf = await log_in(client, acct.email)
    for given in (None, "", "wrong-" + csrf, csrf[:-1]):
        response = await _mint(client, given)
        assert response.status_code == 403, given
        assert response.json()["error"]["code"] == "csrf_failed"
    assert await _rows(sqlite_services) == []
    # A GET (an <img> or link on another site) mints nothing.
    assert (await client.get("/playground/secret")).status_code == 405
    # An API key is not a login: the endpoint is for the dashboard's own page.
    keyed = await client.post(
        "/playground/secret",
        headers={"Authorization": f"Bearer {acct.key}", "x-csrf-token": csrf},
        cookies={"realtime2_session": ""},
    )
    assert keyed.status_code == 401


async def test_secret_works_only_for_realtime_and_expires(
    client: httpx.AsyncClient, sqlite_services: Services
) -> None:
    svc = sqlite_services
    acct = await new_account(svc)
    csrf = await log_in(client, acct.email)
    minted = await _mint(client, csrf)
    assert minted.status_code == 200, minted.text
    assert minted.headers["cache-control"] == "no-store"
    body = minted.json()
    assert set(body) == {"value", "expires_at"}
    secret = body["value"]
    assert secret.startswith("ek_") and len(secret) > 40
    assert abs(body["expires_at"] - (time.time() + 600)) < 10

    (row,) = await _rows(svc)
    assert row.user_id == acct.user_id and row.api_key_id is None
    assert row.secret_hash == svc.keys.hash(secret) and row.secret_hash != secret
    # Every call it opens transcribes the user's speech (the page shows it).
    assert row.session is not None
    assert row.session["audio"]["input"]["transcription"]["model"] == "whisper-1"

    bearer = {"Authorization": f"Bearer {secret}"}
    async with httpx.AsyncClient(transport=client._transport, base_url=client.base_url) as anon:
        # Realtime endpoints accept it (an unknown call is a 404, not a 401)...
        charged = await anon.post(
            "/api/realtime2/charge",
            json={"model": "realtime-mini", "callId": "rtc_x"},
            headers=bearer,
        )
        assert charged.status_code == 404, charged.text
        assert charged.json()["error"]["code"] == "call_not_found"
        # ...nothing else does: it cannot read the account or mint more secrets.
        assert (await anon.get("/api/realtime2/me", headers=bearer)).status_code == 401
        more = await anon.post("/v1/realtime/client_secrets", json={}, headers=bearer)
        assert more.status_code == 401

        # Once expired it is refused.
        async with svc.db.transaction() as tx:
            await tx.execute(
                update(ClientSecret).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )
        expired = await anon.post(
            "/api/realtime2/charge",
            json={"model": "realtime-mini", "callId": "rtc_x"},
            headers=bearer,
        )
        assert expired.status_code == 401
        # Named as such, as an expired API key is (docs/admin.md), not as an unknown one.
        assert expired.json()["error"]["code"] == "api_key_expired"

    # Each press of Talk gets its own secret.
    again = (await _mint(client, csrf)).json()["value"]
    assert again != secret


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[LiveServer]:
    async for server in live_server(tmp_path, fake_engines()):
        yield server


async def test_the_pages_flow_with_a_secret(live: LiveServer) -> None:
    """What playground.js does, step by step, with aiortc in place of the browser."""
    acct = await new_account(live.services, credits=5000)
    async with httpx.AsyncClient(base_url=live.url, timeout=30) as page:
        csrf = await log_in(page, acct.email)
        secret = (await _mint(page, csrf)).json()["value"]
        bearer = {"Authorization": f"Bearer {secret}"}
        peer = TestPeer()
        async with httpx.AsyncClient(base_url=live.url, timeout=30) as js:  # no cookies
            opened = await js.post(
                "/api/realtime2/session",
                json={
                    "model": "realtime-mini",
                    "voice": "coral",
                    "instructions": "Be brief.",
                    "sdp": await peer.offer(),
                },
                headers=bearer,
            )
            assert opened.status_code == 200, opened.text
            call_id = opened.headers["x-openai-call-id"]
            await peer.accept(opened.text)
            await peer.wait_connected()
            # The secret's bound session, then the page's model/voice/instructions.
            first = await peer.wait_for("session.updated")
            mark = peer.events.index(first) + 1
            session = (await peer.wait_for("session.updated", after=mark))["session"]
            assert session["audio"]["output"]["voice"] == "coral"
            assert session["instructions"] == "Be brief."
            assert session["audio"]["input"]["transcription"]["model"] == "whisper-1"

            hung = await js.post(f"/v1/realtime/calls/{call_id}/hangup", headers=bearer)
            assert hung.status_code == 200
            charged = await js.post(
                "/api/realtime2/charge",
                json={"model": "realtime-mini", "callId": call_id},
                headers=bearer,
            )
            assert charged.status_code == 200, charged.text
            result = charged.json()
            assert result["totalChargedCredits"] == 480  # the 120 s minimum at 4/s
            assert result["balance"] == 5000 - 480
        me = await page.get("/api/realtime2/me")  # the page reads the balance by cookie
        assert me.status_code == 200 and me.json()["balance"] == 5000 - 480
        await peer.close()

"""Two server replicas on one PostgreSQL (docs/operations.md): a key created through one
replica's dashboard works on the other, concurrent metered sessions through both spend one
exact ledger, and a WebRTC call is found from either replica (the other one answers 409,
pointing the client back to the replica that runs it).

The replicas are real server processes (`soak.fake_server`: the app with fake engines, as
the soak uses) sharing the database URL and the secret key, on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import websockets
from soak.audit import audit
from soak.run import Server
from websockets.asyncio.client import connect

from realtime2.config import Settings
from realtime2.db.migrate import upgrade
from realtime2.state import Services
from tests.support.accounts import new_account
from tests.support.pages import KEY_ON_PAGE, log_in
from tests.support.peer import TestPeer

pytestmark = pytest.mark.postgres


@pytest.fixture
async def replicas(
    fresh_pg_url: str, tmp_path: Path
) -> AsyncIterator[tuple[Server, Server, Services]]:
    secret = secrets.token_urlsafe(32)  # every replica must hash keys with the same secret
    svc = Services.build(Settings(database_url=fresh_pg_url, secret_key=secret))
    await upgrade(svc.db)
    servers = []
    try:
        for name in ("a", "b"):
            env = {
                "REALTIME2_DATABASE_URL": fresh_pg_url,
                "REALTIME2_SECRET_KEY": secret,
                "REALTIME2_DATA_DIR": str(tmp_path / name),
            }
            servers.append(Server(env, tmp_path / f"replica-{name}.log"))
        await asyncio.gather(*(s.ready() for s in servers))
        yield servers[0], servers[1], svc
    finally:
        for server in servers:
            server.stop()
        await svc.close()


async def _session(server: Server, key: str) -> str:
    try:
        async with connect(
            server.ws_url + "?model=realtime-mini", additional_headers={"x-api-key": key}
        ) as ws:
            assert json.loads(await ws.recv())["type"] == "session.created"
            item = {"type": "message", "role": "user"}
            item["content"] = [{"type": "input_text", "text": "hi"}]  # type: ignore[assignment]
            await ws.send(json.dumps({"type": "conversation.item.create", "item": item}))
            await ws.send(json.dumps({"type": "response.create"}))
            async with asyncio.timeout(20):
                while json.loads(await ws.recv())["type"] != "response.done":
                    pass
        return "ok"
    except websockets.exceptions.InvalidStatus as exc:
        return str(exc.response.status_code)


async def test_two_replicas_share_keys_ledger_and_calls(
    replicas: tuple[Server, Server, Services], fresh_pg_url: str
) -> None:
    a, b, svc = replicas
    acct = await new_account(svc, credits=1000)

    # A key made in replica A's dashboard authenticates on replica B.
    async with httpx.AsyncClient(base_url=a.url) as on_a:
        csrf = await log_in(on_a, acct.email)
        page = await on_a.post("/settings/api-keys", data={"name": "x", "csrf_token": csrf})
        match = KEY_ON_PAGE.search(page.text)
        assert match, page.text[:500]
        key = match.group(1)
    async with httpx.AsyncClient(base_url=b.url) as on_b:
        me = await on_b.get("/api/realtime2/me", headers={"x-api-key": key})
        assert me.status_code == 200 and me.json()["email"] == acct.email

    # Sessions through both replicas draw on one balance: holds are taken under a row lock
    # in the shared database, so ten concurrent sessions that would each reserve a minute
    # (240 credits) cannot together reserve more than the 1000 that exist.
    assert [await _session(a, key), await _session(b, key)] == ["ok", "ok"]
    outcomes = await asyncio.gather(*(_session(s, key) for s in (a, b) * 5))
    assert "ok" in outcomes and "402" in outcomes, outcomes
    assert set(outcomes) <= {"ok", "402"}, outcomes
    result = await audit(fresh_pg_url)
    assert not result.problems, result.problems
    balance = await svc.ledger.balance(acct.user_id)
    assert balance.held == 0 and balance.available >= 0
    assert 1000 - balance.available == result.captured > 0

    # A WebRTC call running on A: A serves it; B says where it is; once ended, both know.
    peer = TestPeer()
    auth = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=a.url) as on_a, httpx.AsyncClient(base_url=b.url) as on_b:
        await svc.ledger.top_up(acct.user_id, 10_000)
        created = await on_a.post(
            "/v1/realtime/calls",
            content=(await peer.offer()).encode(),
            headers={**auth, "content-type": "application/sdp"},
            params={"model": "gpt-realtime-mini"},
        )
        assert created.status_code == 201, created.text
        call_id = created.headers["location"].rsplit("/", 1)[1]
        charge = {"model": "realtime-mini", "callId": call_id}
        elsewhere = await on_b.post("/api/realtime2/charge", json=charge, headers=auth)
        assert elsewhere.status_code == 409
        assert elsewhere.json()["error"]["code"] == "call_on_other_replica"
        assert (await on_a.post("/api/realtime2/charge", json=charge, headers=auth)).is_success
        hangup = await on_a.post(f"/v1/realtime/calls/{call_id}/hangup", headers=auth)
        assert hangup.status_code == 200
        ended = await on_b.post("/api/realtime2/charge", json=charge, headers=auth)
        assert ended.status_code == 200 and ended.json()["chargedCredits"] == 0
    await peer.close()
    result = await audit(fresh_pg_url)
    assert not result.problems, result.problems

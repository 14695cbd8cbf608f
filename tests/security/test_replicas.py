"""Two server replicas on one PostgreSQL and one Redis (docs/operations.md): a key created
through one replica's dashboard works on the other, concurrent metered sessions through both
spend one exact ledger, and a WebRTC call running on one is charged, driven by a sideband
and hung up through the other (over the call bus, `calls.bus`).

The replicas are real server processes (`soak.fake_server`: the app with fake engines, as
the soak uses) sharing the database URL, the secret key and Redis, on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import websockets
from soak.audit import audit
from soak.run import Server
from websockets.asyncio.client import connect

from realtime2.state import Services
from tests.support.accounts import new_account
from tests.support.call_bus import redis_answers
from tests.support.pages import KEY_ON_PAGE, log_in
from tests.support.peer import TestPeer
from tests.support.replicas import two_replicas

pytestmark = pytest.mark.postgres
REDIS_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture
async def replicas(
    fresh_pg_url: str, tmp_path: Path
) -> AsyncIterator[tuple[Server, Server, Services]]:
    if not redis_answers():
        pytest.skip("no Redis answers on 127.0.0.1:6379")
    async with two_replicas(fresh_pg_url, tmp_path, {"REALTIME2_REDIS_URL": REDIS_URL}) as started:
        yield started


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

    # A WebRTC call running on A is controlled through B: B sends each command to A over
    # the call bus and answers with A's result; once ended, both serve the final charge.
    peer = TestPeer()
    auth = {"Authorization": f"Bearer {key}"}
    figures: dict[str, float] = {}
    async with httpx.AsyncClient(base_url=a.url) as on_a, httpx.AsyncClient(base_url=b.url) as on_b:
        await svc.ledger.top_up(acct.user_id, 10_000)
        created = await on_a.post(
            "/v1/realtime/calls",
            content=(await peer.offer()).encode(),
            headers={**auth, "content-type": "application/sdp"},
            params={"model": "gpt-realtime-mini"},
        )
        assert created.status_code == 201, created.text
        await peer.accept(created.text)
        await peer.wait_connected()
        await peer.wait_for("session.created")
        call_id = created.headers["location"].rsplit("/", 1)[1]
        charge = {"model": "realtime-mini", "callId": call_id}
        timings = []
        for _ in range(5):
            started = time.perf_counter()
            through_b = await on_b.post("/api/realtime2/charge", json=charge, headers=auth)
            timings.append(time.perf_counter() - started)
            assert through_b.status_code == 200, through_b.text
        figures["charge_via_other_replica_ms"] = sorted(timings)[2] * 1000
        timings = []
        for _ in range(5):
            started = time.perf_counter()
            assert (await on_a.post("/api/realtime2/charge", json=charge, headers=auth)).is_success
            timings.append(time.perf_counter() - started)
        figures["charge_on_owner_ms"] = sorted(timings)[2] * 1000
        # 120 s at 4/s, charged once whichever replica was asked.
        assert through_b.json()["totalChargedCredits"] == 480

        # The sideband through B reaches the call on A.
        sideband = f"{b.ws_url}?call_id={call_id}"
        async with connect(sideband, additional_headers=auth) as side:
            update = {"type": "session.update", "session": {"type": "realtime"}}
            update["session"]["instructions"] = "Be brief."  # type: ignore[index]
            seen = len(peer.events)
            await side.send(json.dumps(update))
            async with asyncio.timeout(10):
                while json.loads(await side.recv())["type"] != "session.updated":
                    pass
            # The browser's data channel sees the update too.
            assert (await peer.wait_for("session.updated", after=seen))["session"][
                "instructions"
            ] == "Be brief."
            hangup = await on_b.post(f"/v1/realtime/calls/{call_id}/hangup", headers=auth)
            assert hangup.status_code == 200
            async with asyncio.timeout(10):  # the call ending closes the relayed sideband
                await side.wait_closed()
        ended = await on_a.post("/api/realtime2/charge", json=charge, headers=auth)
        assert ended.status_code == 200 and ended.json()["chargedCredits"] == 0
    await peer.close()
    print("\ncall control figures:", json.dumps(figures))
    result = await audit(fresh_pg_url)
    assert not result.problems, result.problems

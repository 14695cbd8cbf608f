"""Three replicas on one PostgreSQL and one Redis behind nginx, started together on an empty
database: limits hold globally, the balancer spreads work over all three, a WebRTC call is
charged, driven and hung up through whichever replica nginx picks, and when one
replica is SIGKILLed mid-run its sessions are cut, the others go on, and once its holds are
swept the ledger balances exactly.

The replicas are `soak.fake_server` processes (the real app and start-up on the fake
engines); nginx is Debian's (`make balancer`). The figures printed at the end are the ones
quoted in docs/operations.md ("A multi-replica run")."""

from __future__ import annotations

import asyncio
import json
import random
import secrets
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets
from openai import AsyncOpenAI
from soak.audit import audit
from soak.clients import Tally, realtime_session
from sqlalchemy import select
from websockets.asyncio.client import ClientConnection, connect

from realtime2.config import Settings
from realtime2.db.models import Hold
from realtime2.state import Services
from tests.support.accounts import Account, new_account
from tests.support.balancer import (
    Balancer,
    Replica,
    nginx_available,
    start_nginx,
    start_replicas,
    wait_ready,
)
from tests.support.pages import post_login
from tests.support.peer import TestPeer
from tests.support.server import refused

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(300)]

REDIS_URL = "redis://127.0.0.1:6379/14"
SECRET = "multi-replica-" + secrets.token_hex(8)


@pytest.fixture
def cluster(fresh_pg_url: str, tmp_path: Path) -> Iterator[tuple[list[Replica], Balancer]]:
    if not nginx_available():
        pytest.skip("nginx is not installed (make balancer)")
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).flushdb()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis answers on 127.0.0.1:6379")
    env = {
        "REALTIME2_DATABASE_URL": fresh_pg_url,
        "REALTIME2_SECRET_KEY": SECRET,
        "REALTIME2_REDIS_URL": REDIS_URL,
        "REALTIME2_RATE_LIMIT_RPM": "100000",
        "REALTIME2_DRAIN_TIMEOUT_S": "5",
    }
    replicas = start_replicas(3, env, tmp_path)
    balancer = None
    try:
        wait_ready([r.url for r in replicas], [r.process for r in replicas], timeout=180)
        balancer = start_nginx([r.port for r in replicas], tmp_path)
        yield replicas, balancer
    finally:
        if balancer is not None:
            balancer.stop()
        for r in replicas:
            r.stop()


async def _turn(ws: ClientConnection) -> None:
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
    await ws.send(json.dumps({"type": "conversation.item.create", "item": item}))
    await ws.send(json.dumps({"type": "response.create"}))
    async with asyncio.timeout(30):
        while (event := json.loads(await ws.recv()))["type"] != "response.done":
            assert event["type"] != "error", event


async def _session(url: str, key: str) -> ClientConnection:
    ws = await connect(url + "?model=realtime-mini", additional_headers={"x-api-key": key})
    assert json.loads(await ws.recv())["type"] == "session.created"
    await _turn(ws)
    return ws


async def _sdk_turn(base_url: str, key: str) -> str:
    client = AsyncOpenAI(base_url=base_url + "/v1", api_key=key)
    async with client.realtime.connect(model="realtime-mini") as conn:
        await conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
        await conn.conversation.item.create(
            item={
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "hi"}],
            }
        )
        await conn.response.create()
        async for event in conn:
            if event.type == "response.done":
                return event.response.status or ""
    return ""


async def test_three_replicas_behind_nginx(
    cluster: tuple[list[Replica], Balancer], fresh_pg_url: str
) -> None:
    replicas, lb = cluster
    figures: dict[str, object] = {}
    svc = Services.build(Settings(database_url=fresh_pg_url, secret_key=SECRET))
    try:
        limited = await new_account(svc, credits=1000)
        await svc.users.set_limits(limited.user_id, rpm=30)
        talker = await new_account(svc, credits=1_000_000)
        async with httpx.AsyncClient(base_url=lb.url, timeout=30) as http:
            # 1. One rate limit for all replicas: 30/min lets 30 of 60 through (plus what
            # refills while they are sent, 0.5 a second), and all three replicas answered.
            started = time.monotonic()
            answers = [
                await http.get("/api/realtime2/me", headers={"x-api-key": limited.key})
                for _ in range(60)
            ]
            took = time.monotonic() - started
            ok = sum(r.status_code == 200 for r in answers)
            upstreams = Counter(r.headers.get("x-upstream") for r in answers)
            assert 30 <= ok <= 30 + int(took * 0.5) + 1, (ok, took)
            assert {r.status_code for r in answers} == {200, 429}
            assert len(upstreams) == 3, upstreams
            figures["rate_limit"] = f"{ok} of 60 through at 30/min across 3 replicas"

            # 2. The login backoff is shared too: 5 free failures spread over the replicas.
            for _ in range(5):
                assert (await post_login(http, limited.email, "wrong!")).status_code == 401
            assert (await post_login(http, limited.email)).status_code == 429

            # 3. Throughput of authenticated requests through the balancer.
            async def burst(n: int) -> int:
                codes = []
                for _ in range(n):
                    r = await http.get("/api/realtime2/me", headers={"x-api-key": talker.key})
                    codes.append(r.status_code)
                return sum(c == 200 for c in codes)

            started = time.monotonic()
            served = sum(await asyncio.gather(*(burst(40) for _ in range(8))))
            rps = served / (time.monotonic() - started)
            assert served == 320
            figures["requests_per_s"] = round(rps)

        # 4. The per-user session cap counts sessions on every replica: at 2, two sessions
        # through the balancer (on different replicas) leave no room for a third.
        capped = await new_account(svc, credits=100_000)
        await svc.users.set_limits(capped.user_id, max_sessions=2)
        pair = [await _session(lb.ws_url, capped.key) for _ in range(2)]
        status, body = await refused(
            lb.ws_url + "?model=realtime-mini", additional_headers={"x-api-key": capped.key}
        )
        assert (status, body["error"]["code"]) == (429, "too_many_sessions")
        for ws in pair:
            await ws.close()
        figures["session_cap"] = "2 of 2 open through the balancer, the third refused 429"

        # 5. Call control through the balancer: a WebRTC call opened through nginx runs on
        # one replica; /charge, the sideband and /hangup sent through nginx reach it
        # whichever replica receives them (over the call bus).
        figures["call_control"] = await _call_control(lb, await new_account(svc, 100_000))

        # 6. Sessions on every replica, one replica SIGKILLed mid-run.
        sockets = [await _session(lb.ws_url, talker.key) for _ in range(9)]
        tally = Tally()
        rng = random.Random(20)
        soak = [
            asyncio.create_task(realtime_session(lb.ws_url, talker.key, tally, turns=4, rng=rng))
            for _ in range(6)
        ]
        await asyncio.sleep(0.5)
        killed_at = time.monotonic()
        replicas[0].kill()
        cut, survived = 0, 0
        for ws in sockets:
            try:
                await _turn(ws)
                await ws.close()
                survived += 1
            except (websockets.exceptions.ConnectionClosed, OSError):
                cut += 1
        await asyncio.gather(*soak)
        assert cut >= 1 and survived >= 1, (cut, survived)
        assert tally.errors() == 0, tally.outcomes
        # New work after the kill lands on the living replicas (nginx skips the dead one).
        assert await _sdk_turn(lb.url, talker.key) == "completed"
        figures["sessions"] = (
            f"9 held open: {cut} cut by the kill, {survived} finished on the other replicas; "
            f"soak sessions {dict(tally.outcomes)}; an SDK session after the kill completed"
        )
        figures["after_kill_s"] = round(time.monotonic() - killed_at, 1)

        # 7. Only the dead replica's holds stay open (the rest settle as their sockets
        # close); swept, the books are exact.
        dead = cut + sum(n for k, n in tally.outcomes.items() if k.startswith("cut:"))
        for _ in range(200):
            if await _open_holds(svc) == dead:
                break
            await asyncio.sleep(0.1)
        assert await _open_holds(svc) == dead
        result = await audit(fresh_pg_url)
        assert result.problems == [], result.problems
        assert result.swept == dead  # the killed replica's sessions, settled by the sweeper
        figures["ledger"] = (
            f"{result.holds} holds, {result.swept} swept after the kill, "
            f"{result.captured} credits captured == {result.recorded_usage} recorded, "
            f"{result.users} users reconciled"
        )
        # The survivors keep serving and limiting.
        wait_ready([r.url for r in replicas[1:]], [r.process for r in replicas[1:]], 10)
    finally:
        await svc.close()
    print("\nmulti-replica figures:", json.dumps(figures, indent=1))


async def _call_control(lb: Balancer, acct: Account) -> str:
    peer = TestPeer()
    async with httpx.AsyncClient(base_url=lb.url, timeout=30) as http:
        http.headers["x-api-key"] = acct.key
        created = await http.post(
            "/api/realtime2/session",
            json={"model": "realtime-mini", "voice": "sage", "sdp": await peer.offer()},
        )
        assert created.status_code == 200, created.text
        await peer.accept(created.text)
        await peer.wait_connected()
        call_id = created.headers["x-openai-call-id"]
        charge = {"model": "realtime-mini", "callId": call_id}
        started = time.monotonic()
        answers = [await http.post("/api/realtime2/charge", json=charge) for _ in range(6)]
        took = (time.monotonic() - started) / len(answers)
        assert [r.status_code for r in answers] == [200] * 6, [r.text for r in answers]
        upstreams = Counter(r.headers.get("x-upstream") for r in answers)
        assert len(upstreams) == 3, upstreams  # the owner and both others answered
        assert sum(r.json()["chargedCredits"] for r in answers) == 480  # the minimum, once
        url = f"{lb.ws_url}?call_id={call_id}"
        async with connect(url, additional_headers={"x-api-key": acct.key}) as side:
            update = {"type": "session.update", "session": {"type": "realtime"}}
            update["session"]["instructions"] = "Be brief."  # type: ignore[index]
            await side.send(json.dumps(update))
            async with asyncio.timeout(10):
                while json.loads(await side.recv())["type"] != "session.updated":
                    pass
            hangup = await http.post(f"/v1/realtime/calls/{call_id}/hangup")
            assert hangup.status_code == 200, hangup.text
            async with asyncio.timeout(10):
                await side.wait_closed()
        ended = (await http.post("/api/realtime2/charge", json=charge)).json()
        assert (ended["chargedCredits"], ended["totalChargedCredits"]) == (0, 480)
    await peer.close()
    return (
        f"a call on {created.headers.get('x-upstream')}: 6 /charge through nginx answered by "
        f"{len(upstreams)} replicas ({took * 1000:.0f} ms each on average), 480 credits "
        "charged once; sideband session.update answered; /hangup through nginx ended it"
    )


async def _open_holds(svc: Services) -> int:
    async with svc.db.sessions() as session:
        return len(list(await session.scalars(select(Hold.id).where(Hold.status == "open"))))

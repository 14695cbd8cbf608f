"""Rate limits and the login throttle shared by replicas through Redis
(`REALTIME2_REDIS_URL`), and what happens when Redis is away.

Two apps on one database and one Redis stand in for two replicas; the multi-process test
behind a real balancer is tests/security/test_multi_replica.py."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from realtime2.app import create_app
from realtime2.db.migrate import upgrade
from realtime2.engine.registry import EngineHost
from realtime2.state import Services
from tests.support.accounts import make_settings, new_account, settled
from tests.support.fakes import fake_engines
from tests.support.pages import post_login
from tests.support.server import free_port, refused, serve_app

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
# A database of its own, emptied before each test (keys are per user id, which repeat).
REDIS_URL = f"redis://{REDIS_HOST}:{REDIS_PORT}/13"


def _redis_answers() -> bool:
    try:
        with socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
async def redis_url() -> str:
    if not _redis_answers():
        pytest.skip(f"no Redis answers on {REDIS_HOST}:{REDIS_PORT}")
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(REDIS_URL)
    await client.flushdb()
    await client.aclose()
    return REDIS_URL


async def _replicas(
    tmp_path: Path, url: str, n: int = 2, **overrides: Any
) -> AsyncIterator[tuple[list[httpx.AsyncClient], Services]]:
    settings = make_settings(tmp_path, redis_url=url, **overrides)
    services = [Services.build(settings) for _ in range(n)]
    await upgrade(services[0].db)
    clients = [
        httpx.AsyncClient(
            transport=httpx.ASGITransport(
                app=create_app(settings, svc),
                client=("203.0.113.9", 40000),
            ),
            base_url="http://testserver",
        )
        for svc in services
    ]
    try:
        yield clients, services[0]
    finally:
        for c in clients:
            await c.aclose()
        for svc in services:
            await svc.close()


async def test_rate_limit_holds_across_replicas(tmp_path: Path, redis_url: str) -> None:
    async for (a, b), svc in _replicas(tmp_path, redis_url, rate_limit_rpm=20):
        acct = await new_account(svc)
        headers = {"Authorization": f"Bearer {acct.key}"}
        codes = [
            (await (a if i % 2 else b).get("/api/realtime2/me", headers=headers)).status_code
            for i in range(60)
        ]
        # 20 of 60 through, whichever replica answered (it was 40 with two in-process buckets).
        assert codes.count(200) == 20 and codes.count(429) == 40
        assert codes[:20] == [200] * 20
        over = await a.get("/api/realtime2/me", headers=headers)
        assert 1 <= int(over.headers["Retry-After"]) <= 3  # 20/min: one token every 3 s
        other = await new_account(svc)
        assert (await b.get("/api/realtime2/me", headers={"x-api-key": other.key})).is_success


async def test_login_throttle_holds_across_replicas(tmp_path: Path, redis_url: str) -> None:
    async for (a, b), svc in _replicas(tmp_path, redis_url):
        acct = await new_account(svc)
        for i in range(5):  # the free failures, spread over both replicas
            response = await post_login(a if i % 2 else b, acct.email, "wrong password!")
            assert response.status_code == 401
        for replica in (a, b):
            blocked = await post_login(replica, acct.email)
            assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) >= 1


async def test_without_redis_each_process_still_limits(tmp_path: Path) -> None:
    # Redis configured but not answering: requests are still served and limited per process.
    url = f"redis://127.0.0.1:{free_port()}/0"
    async for (a, _b), svc in _replicas(tmp_path, url, rate_limit_rpm=3):
        acct = await new_account(svc)
        headers = {"x-api-key": acct.key}
        codes = [(await a.get("/api/realtime2/me", headers=headers)).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        for _ in range(5):
            assert (await post_login(a, acct.email, "wrong password!")).status_code == 401
        assert (await post_login(a, acct.email)).status_code == 429


async def test_session_cap_counts_sessions_on_every_replica(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    a, b = Services.build(settings), Services.build(settings)
    await upgrade(a.db)
    for svc in (a, b):
        svc.engines = EngineHost.with_engines(fake_engines())
    acct = await new_account(a, credits=100_000)
    await a.users.set_limits(acct.user_id, max_sessions=2)
    headers = {"x-api-key": acct.key}
    try:
        async for live_a in serve_app(a):
            async for live_b in serve_app(b):
                url_a = live_a.ws_url + "?model=realtime-mini"
                url_b = live_b.ws_url + "?model=realtime-mini"
                async with connect(url_a, additional_headers=headers) as one:
                    assert json.loads(await one.recv())["type"] == "session.created"
                    async with connect(url_b, additional_headers=headers) as two:
                        assert json.loads(await two.recv())["type"] == "session.created"
                        # Each replica runs one, the user's cap is 2: a third is refused
                        # on either (it was allowed on both with per-process counts).
                        for url in (url_a, url_b):
                            status, body = await refused(url, additional_headers=headers)
                            assert (status, body["error"]["code"]) == (429, "too_many_sessions")
                # Slots free as sessions end; a dead replica's hold frees its slot once
                # it expires (no renewal), before any sweep.
                await settled(a, acct.user_id)
                await a.ledger.place_hold(
                    acct.user_id, 40, model="realtime-mini", reference="rt_dead", ttl_seconds=1
                )
                async with connect(url_b, additional_headers=headers) as three:
                    assert json.loads(await three.recv())["type"] == "session.created"
                    status, _ = await refused(url_a, additional_headers=headers)
                    assert status == 429  # the dead replica's hold still counts...
                    await asyncio.sleep(1.1)
                    async with connect(url_a, additional_headers=headers) as four:
                        # ...until it expires.
                        assert json.loads(await four.recv())["type"] == "session.created"
    finally:
        await b.close()
        await a.close()

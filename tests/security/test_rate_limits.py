"""Per-user request rate limits (429 + Retry-After), `limits set`, and session limits that
answer 429 while an empty balance still answers 402."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import connect

from realtime2.app import create_app
from realtime2.cli import CliError, cmd_limits_set
from realtime2.db.migrate import upgrade
from realtime2.edge.ratelimit import RateLimiter
from realtime2.state import Services
from tests.support.accounts import make_settings, new_account
from tests.support.clock import FakeClock
from tests.support.fakes import fake_engines
from tests.support.server import LiveServer, build_services, serve_app


def test_bucket_bursts_then_refills_at_the_steady_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(60, clock=clock)
    assert [limiter.take("k", 60) for _ in range(60)] == [0.0] * 60
    wait = limiter.take("k", 60)
    assert wait == pytest.approx(1.0)  # 60/min refills one token a second
    clock.advance(0.5)
    assert limiter.take("k", 60) == pytest.approx(0.5)
    clock.advance(0.5)
    assert limiter.take("k", 60) == 0.0
    assert limiter.take("other", 60) == 0.0  # buckets are per key
    assert limiter.take("k", 0) == 0.0  # 0 = unlimited


def test_memory_is_bounded() -> None:
    limiter = RateLimiter(10, max_tracked=100, clock=FakeClock())
    for i in range(1000):
        limiter.take(f"key-{i}", 10)
    assert len(limiter) == 100


async def test_user_limit_is_cached_then_reread() -> None:
    clock = FakeClock()
    limiter = RateLimiter(600, clock=clock)
    calls: list[int] = []
    own: dict[int, int | None] = {1: None}

    async def lookup(uid: int) -> int | None:
        calls.append(uid)
        return own[uid]

    assert await limiter.limit_for(1, lookup) == 600
    own[1] = 5
    assert await limiter.limit_for(1, lookup) == 600  # cached
    clock.advance(11)
    assert await limiter.limit_for(1, lookup) == 5
    assert calls == [1, 1]


@pytest.fixture
async def limited(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Services]]:
    svc = Services.build(make_settings(tmp_path, rate_limit_rpm=3))
    await upgrade(svc.db)
    app = create_app(svc.settings, svc)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c, svc
    await svc.close()


async def test_http_429_with_retry_after_per_user(
    limited: tuple[httpx.AsyncClient, Services],
) -> None:
    client, svc = limited
    ann = await new_account(svc)
    bob = await new_account(svc)
    ann_h = {"Authorization": f"Bearer {ann.key}"}
    for _ in range(3):
        assert (await client.get("/api/realtime2/me", headers=ann_h)).status_code == 200
    over = await client.get("/api/realtime2/usage", headers=ann_h)
    assert over.status_code == 429
    assert over.json()["error"]["code"] == "rate_limit_exceeded"
    assert over.json()["error"]["type"] == "rate_limit_error"
    assert 1 <= int(over.headers["Retry-After"]) <= 20  # 3/min → one token per 20 s
    # Another user has their own bucket; the same user's second key does not.
    assert (await client.get("/api/realtime2/me", headers={"x-api-key": bob.key})).is_success
    _, second = await svc.keys.create(ann.user_id, "second")
    again = await client.get("/api/realtime2/me", headers={"x-api-key": second})
    assert again.status_code == 429
    # Unauthenticated requests are refused as 401 and never reach the limiter.
    assert (await client.get("/api/realtime2/me")).status_code == 401


def _cli(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "realtime2.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )


async def test_limits_set_cli_overrides_the_default(
    tmp_path: Path, limited: tuple[httpx.AsyncClient, Services]
) -> None:
    client, svc = limited
    acct = await new_account(svc)
    env = {
        "REALTIME2_DATABASE_URL": svc.settings.effective_database_url(),
        "REALTIME2_DATA_DIR": str(tmp_path / "data"),
    }
    done = _cli(tmp_path, env, "limits", "set", acct.email, "--rpm", "5", "--max-sessions", "2")
    assert done.returncode == 0, done.stderr
    assert "rpm 5" in done.stdout and "max sessions 2" in done.stdout
    # Refusals, in-process (a subprocess each would cost seconds of imports).
    for email, rpm in ((acct.email, -1), ("nobody@example.com", 1)):
        with pytest.raises(CliError):
            await cmd_limits_set(svc, argparse.Namespace(email=email, rpm=rpm, max_sessions=None))
    headers = {"x-api-key": acct.key}
    codes = [(await client.get("/api/realtime2/me", headers=headers)).status_code for _ in range(6)]
    assert codes == [200] * 5 + [429]


async def _status(url: str, headers: dict[str, str]) -> tuple[int, dict[str, Any], str]:
    with pytest.raises(websockets.exceptions.InvalidStatus) as info:
        async with connect(url, additional_headers=headers):
            pass
    response = info.value.response
    body = json.loads(response.body or b"{}")
    return response.status_code, body, response.headers.get("Retry-After", "")


async def test_session_limit_is_429_and_credit_is_still_402(tmp_path: Path) -> None:
    svc = await build_services(tmp_path, fake_engines())
    live: LiveServer
    async for live in serve_app(svc):
        url = live.ws_url + "?model=realtime-mini"
        acct = await new_account(svc, credits=10_000)
        await svc.users.set_limits(acct.user_id, max_sessions=1)
        headers = {"x-api-key": acct.key}
        async with connect(url, additional_headers=headers) as first:
            assert json.loads(await first.recv())["type"] == "session.created"
            status, body, retry = await _status(url, headers)
            assert (status, body["error"]["code"]) == (429, "too_many_sessions")
            assert int(retry) > 0
        # The slot is released when the first session ends.
        async with connect(url, additional_headers=headers) as again:
            assert json.loads(await again.recv())["type"] == "session.created"
        poor = await new_account(svc, credits=1)
        status, body, _ = await _status(url, {"x-api-key": poor.key})
        assert (status, body["error"]["code"]) == (402, "insufficient_credits")

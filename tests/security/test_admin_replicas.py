"""Admin actions hold on every replica: two server processes on one PostgreSQL
(`soak.fake_server`, as tests/security/test_replicas.py). A session running on replica A
is ended by an admin through replica B; a user disabled through B is refused at once on A
and their session on A ends at its next renewal."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from soak.run import Server
from websockets.asyncio.client import ClientConnection, connect

from realtime2.accounts.metering import MeterPolicy
from realtime2.state import Services
from tests.support.accounts import new_account, settled
from tests.support.replicas import two_replicas
from tests.support.session_end import errors_until_closed

pytestmark = pytest.mark.postgres
RENEW_EVERY = MeterPolicy().renew_every_seconds


@pytest.fixture
async def replicas(
    fresh_pg_url: str, tmp_path: Path
) -> AsyncIterator[tuple[Server, Server, Services]]:
    async with two_replicas(fresh_pg_url, tmp_path) as started:
        yield started


async def _error_ending(ws: ClientConnection) -> tuple[list[str], float]:
    errors, took = await errors_until_closed(ws, RENEW_EVERY + 5)
    return [e["code"] for e in errors], took


async def test_admin_actions_through_b_reach_sessions_on_a(
    replicas: tuple[Server, Server, Services],
) -> None:
    a, b, svc = replicas
    admin = await new_account(svc, credits=0)
    await svc.users.set_role(admin.user_id, "admin")
    user = await new_account(svc, credits=10_000)
    as_admin = {"x-api-key": admin.key}
    url = a.ws_url + "?model=realtime-mini"
    async with httpx.AsyncClient(base_url=b.url, headers=as_admin) as on_b:
        # One session on A, ended through B.
        async with connect(url, additional_headers={"x-api-key": user.key}) as ws:
            assert json.loads(await ws.recv())["type"] == "session.created"
            [running] = (await on_b.get(f"/api/admin/users/{user.user_id}/sessions")).json()["data"]
            ended = await on_b.post(f"/api/admin/sessions/{running['id']}/end")
            assert ended.status_code == 200, ended.text
            codes, took = await _error_ending(ws)
        assert codes == ["session_ended"] and took <= RENEW_EVERY + 1
        charged = await settled(svc, user.user_id)
        assert charged > 0  # the seconds it ran

        # Another on A; the user is disabled through B.
        async with connect(url, additional_headers={"x-api-key": user.key}) as ws:
            assert json.loads(await ws.recv())["type"] == "session.created"
            disabled = await on_b.post(f"/api/admin/users/{user.user_id}/disable")
            assert disabled.json()["status"] == "disabled"
            async with httpx.AsyncClient(base_url=a.url) as on_a:
                refused = await on_a.get("/api/realtime2/me", headers={"x-api-key": user.key})
            assert (refused.status_code, refused.json()["error"]["code"]) == (
                403,
                "account_disabled",
            )
            codes, took = await _error_ending(ws)
        assert codes == ["account_disabled"] and took <= RENEW_EVERY + 1
        assert await settled(svc, user.user_id) > charged
        actions = [e["action"] for e in (await on_b.get("/api/admin/audit")).json()["data"]]
        assert actions == ["user.disable", "session.end"]

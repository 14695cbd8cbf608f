"""Draining a gateway (SIGTERM → `app.drain_app`): relayed sessions get
`server_shutting_down` and are settled before the drain returns (without the relay watching
the drain they ran on until uvicorn cut them); new sessions are refused with 503 and /readyz
says draining. Local sessions: tests/edge/test_drain.py."""

from __future__ import annotations

import asyncio
import json

import httpx
from tests.support.accounts import new_account, settled
from tests.support.gateway import Pair
from tests.support.server import refused
from websockets.asyncio.client import ClientConnection, connect

from realtime2.app import drain_app


async def _errors_until_closed(ws: ClientConnection) -> list[str]:
    codes = []
    async with asyncio.timeout(10):
        async for frame in ws:
            event = json.loads(frame)
            if event["type"] == "error":
                codes.append(event["error"]["code"])
    return codes


async def test_drain_ends_relayed_sessions(pair: Pair) -> None:
    a = pair.a
    user = await new_account(a.services, credits=100_000)
    headers = {"x-api-key": user.key}
    relayed_url = a.ws_url + "?model=gpt-realtime"  # both relayed to the upstream
    mini_url = a.ws_url + "?model=realtime-mini"
    async with (
        connect(relayed_url, additional_headers=headers) as relayed,
        connect(mini_url, additional_headers=headers) as mini,
    ):
        for ws in (relayed, mini):
            assert json.loads(await ws.recv())["type"] == "session.created"
        drained = asyncio.create_task(drain_app(a.app))
        relayed_errors, mini_errors = await asyncio.gather(
            _errors_until_closed(relayed), _errors_until_closed(mini)
        )
        assert await asyncio.wait_for(drained, 10) == 0  # nothing left running
    assert relayed_errors == ["server_shutting_down"]
    assert mini_errors == ["server_shutting_down"]
    assert await settled(a.services, user.user_id) > 0
    status, body = await refused(mini_url, additional_headers=headers)
    assert (status, body["error"]["code"]) == (503, "server_draining")
    async with httpx.AsyncClient() as http:
        ready = await http.get(a.url + "/readyz")
    assert ready.status_code == 503 and ready.json()["draining"] is True

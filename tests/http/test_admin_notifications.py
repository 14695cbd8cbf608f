"""Notification webhooks reach a real HTTP receiver, signed the Standard Webhooks way
(verified with the same `calls.webhooks.sign`), to the user's URL and the operator's."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from realtime2.accounts.user_admin import UserAdmin
from realtime2.calls.webhooks import new_secret, sign
from realtime2.http.admin_webhooks import notify_once
from realtime2.state import Services
from tests.support.accounts import new_account
from tests.support.server import running


async def test_balance_low_is_delivered_signed(sqlite_services: Services) -> None:
    svc = sqlite_services
    received: list[tuple[str, dict[str, str], str]] = []

    async def hook(request: Request) -> Response:
        body = (await request.body()).decode()
        received.append((request.url.path, dict(request.headers), body))
        return Response(status_code=204)

    receiver = Starlette(routes=[Route("/{name}", hook, methods=["POST"])])
    async with running(receiver) as server:
        base = f"http://127.0.0.1:{server.config.port}"
        user_secret, operator_secret = new_secret(), new_secret()
        svc.settings.notify_webhook_url = f"{base}/operator"
        svc.settings.notify_webhook_secret = operator_secret
        acct = await new_account(svc, credits=100)
        admin = UserAdmin(svc.db)
        await admin.set_threshold(acct.user_id, 80)
        await admin.set_webhook(acct.user_id, f"{base}/user", user_secret)
        hold = await svc.ledger.place_hold(
            acct.user_id, 30, model="m", reference="req_1", ttl_seconds=60
        )
        await svc.ledger.capture(hold.id, 30, final=True, idempotency_key="spend")
        async with httpx.AsyncClient() as client:
            tasks = await notify_once(svc, client, asyncio.Semaphore(4))
            assert all(await asyncio.gather(*tasks))
            assert await notify_once(svc, client, asyncio.Semaphore(4)) == []  # once
    assert sorted(path for path, _, _ in received) == ["/operator", "/user"]
    for path, headers, body in received:
        secret = user_secret if path == "/user" else operator_secret
        expected = sign(secret, headers["webhook-id"], int(headers["webhook-timestamp"]), body)
        assert headers["webhook-signature"] == expected
        event: dict[str, Any] = json.loads(body)
        assert event["type"] == "balance.low"
        assert event["data"]["balance"] == 70 and event["data"]["threshold"] == 80

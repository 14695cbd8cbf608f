"""`rate_limits.updated` over `/v1/realtime`: the caller's real limits at each response.

`requests` is the user's requests-per-minute bucket; `tokens` counts credits (this
server's unit): what the account can still spend, and for how many seconds at the
session's rate (`edge.session_limits`).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from websockets.asyncio.client import connect

from tests.support.accounts import new_account
from tests.support.server import LiveServer
from tests.support.validate import assert_valid


async def _until(ws: Any, kind: str, seen: list[dict[str, Any]]) -> dict[str, Any]:
    while True:
        event: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert_valid(event)
        seen.append(event)
        if event["type"] == kind:
            return event


async def test_each_response_reports_requests_and_credits_left(fake_server: LiveServer) -> None:
    svc = fake_server.services
    acct = await new_account(svc, credits=10_000)
    rpm = 6  # one request back every 10 s: the handshake's is still missing
    await svc.users.set_limits(acct.user_id, rpm=rpm)
    headers = {"Authorization": f"Bearer {acct.key}"}
    seen: list[dict[str, Any]] = []
    async with connect(
        fake_server.ws_url + "?model=realtime-mini", additional_headers=headers
    ) as ws:
        await _until(ws, "session.created", seen)
        update = {"type": "realtime", "output_modalities": ["text"]}
        await ws.send(json.dumps({"type": "session.update", "session": update}))
        await _until(ws, "session.updated", seen)
        await asyncio.sleep(0.2)  # the first balance read
        reports = []
        for _ in range(2):
            await ws.send(json.dumps({"type": "response.create"}))
            await _until(ws, "response.done", seen)
            types = [e["type"] for e in seen]
            created = len(types) - 1 - types[::-1].index("response.created")
            assert types[created + 1] == "rate_limits.updated"  # right after it
            reports.append({r["name"]: r for r in seen[created + 1]["rate_limits"]})
            await asyncio.sleep(0.1)
    for report in reports:
        requests, credits = report["requests"], report["tokens"]
        # The handshake spent one request of the user's bucket.
        assert requests["limit"] == rpm and requests["remaining"] <= rpm - 1
        assert 0 < requests["reset_seconds"] <= 10
        # realtime-mini bills 4 credits a second: what is left, and for how long.
        assert credits["limit"] <= 10_000 and credits["remaining"] <= credits["limit"]
        assert credits["remaining"] > 10_000 - 4 * 10
        assert credits["reset_seconds"] == credits["remaining"] // 4

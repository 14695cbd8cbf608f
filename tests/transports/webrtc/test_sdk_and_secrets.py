"""The official `openai` SDK against the WebRTC endpoints: both body forms of
`realtime.calls.create`, hangup, client secrets used as bearer tokens, sideband."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import websockets
from openai import AsyncOpenAI, AuthenticationError
from sqlalchemy import select
from websockets.asyncio.client import connect

from realtime2.accounts.client_secrets import ClientSecrets
from realtime2.db.models import ClientSecret
from realtime2.state import Services
from realtime2.transports.webrtc.call import WebRtcCall
from tests.support.accounts import new_account
from tests.support.peer import TestPeer
from tests.support.server import LiveServer


def sdk(live: LiveServer, key: str) -> AsyncOpenAI:
    return AsyncOpenAI(base_url=live.url + "/v1", api_key=key, max_retries=0)


@pytest.mark.parametrize("with_session", [False, True], ids=["raw-sdp", "multipart"])
async def test_sdk_calls_create_both_forms(live: LiveServer, with_session: bool) -> None:
    acct = await new_account(live.services, credits=10_000)
    client = sdk(live, acct.key)
    peer = TestPeer()
    session = {"type": "realtime", "model": "gpt-realtime-mini", "instructions": "Be brief."}
    if with_session:
        answer = await client.realtime.calls.create(sdp=await peer.offer(), session=session)  # type: ignore[arg-type]
    else:
        answer = await client.realtime.calls.create(sdp=await peer.offer())
    assert answer.response.status_code == 201
    assert answer.response.headers["content-type"].startswith("application/sdp")
    call_id = answer.response.headers["location"].removeprefix("/v1/realtime/calls/")
    await peer.accept(answer.text)
    await peer.wait_connected()
    updated = await peer.wait_for("session.updated") if with_session else None
    created = await peer.wait_for("session.created")
    if updated is not None:
        assert updated["session"]["instructions"] == "Be brief."
        assert created["session"]["model"] == "gpt-realtime-mini"
    call = live_call(live, call_id)
    assert call.tier == ("realtime-mini" if with_session else "realtime-pro")
    await client.realtime.calls.hangup(call_id)
    assert call.ended.is_set() and call.end_reason == "hangup"
    await peer.close()


def live_call(live: LiveServer, call_id: str) -> WebRtcCall:
    call = live.calls.get(call_id)
    assert call is not None
    return call


async def test_client_secret_opens_calls_and_nothing_else(live: LiveServer) -> None:
    svc = live.services
    acct = await new_account(svc, credits=10_000)
    secret = await sdk(live, acct.key).realtime.client_secrets.create(
        session={"type": "realtime", "instructions": "Speak like a pirate."},
        expires_after={"anchor": "created_at", "seconds": 600},
    )
    assert secret.value.startswith("ek_")
    assert secret.session.type == "realtime"
    assert abs(secret.expires_at - (datetime.now(UTC).timestamp() + 600)) < 5
    rows = await _rows(svc)  # stored as a keyed hash only
    assert len(rows) == 1 and rows[0].secret_hash != secret.value
    assert rows[0].secret_hash == svc.keys.hash(secret.value)

    peer = TestPeer()
    browser = sdk(live, secret.value)
    answer = await browser.realtime.calls.create(sdp=await peer.offer())
    call_id = answer.response.headers["location"].rsplit("/", 1)[1]
    await peer.accept(answer.text)
    await peer.wait_connected()
    updated = await peer.wait_for("session.updated")
    assert updated["session"]["instructions"] == "Speak like a pirate."

    async with httpx.AsyncClient(base_url=live.url) as http:
        ek = {"Authorization": f"Bearer {secret.value}"}
        charge = {"model": "realtime-pro", "callId": call_id}
        response = await http.post("/api/realtime2/charge", json=charge, headers=ek)
        assert response.status_code == 200 and response.json()["chargedCredits"] == 120 * 16
        # A client secret cannot mint secrets or manage keys.
        response = await http.post("/v1/realtime/client_secrets", json={}, headers=ek)
        assert response.json()["error"]["code"] == "invalid_api_key"
        response = await http.get("/api/realtime2/me", headers=ek)
        assert response.json()["error"]["code"] == "invalid_api_key"
    await browser.realtime.calls.hangup(call_id)
    await peer.close()
    # Billed to the owner of the key that minted the secret.
    assert (await svc.ledger.balance(acct.user_id)).posted == 10_000 - 120 * 16


async def _rows(svc: Services) -> list[ClientSecret]:
    async with svc.db.sessions() as tx:
        return list(await tx.scalars(select(ClientSecret)))


async def test_expired_unknown_and_revoked_secrets_are_refused(live: LiveServer) -> None:
    svc = live.services
    acct = await new_account(svc, credits=10_000)
    past = ClientSecrets(
        svc.db, svc.keys.hash, clock=lambda: datetime.now(UTC) - timedelta(hours=1)
    )
    expired = await past.create(acct.user_id, api_key_id=acct.key_id, session=None, ttl_seconds=60)
    fresh = await ClientSecrets(svc.db, svc.keys.hash).create(
        acct.user_id, api_key_id=acct.key_id, session=None
    )
    peer = TestPeer()
    sdp = await peer.offer()
    for value in (expired.value, "ek_unknown"):
        with pytest.raises(AuthenticationError) as info:
            await sdk(live, value).realtime.calls.create(sdp=sdp)
        assert info.value.code == "invalid_api_key"
    async with httpx.AsyncClient(base_url=live.url) as http:
        response = await http.post(
            "/v1/realtime/client_secrets",
            json={"expires_after": {"anchor": "created_at", "seconds": 5}},
            headers={"Authorization": f"Bearer {acct.key}"},
        )
        assert response.status_code == 400
        assert response.json()["error"]["param"] == "expires_after.seconds"
    await svc.keys.revoke(acct.key_id)
    with pytest.raises(AuthenticationError):
        await sdk(live, fresh.value).realtime.calls.create(sdp=sdp)
    await peer.close()


async def test_sideband_sees_events_and_drives_the_call(live: LiveServer) -> None:
    svc = live.services
    owner = await new_account(svc, credits=10_000)
    other = await new_account(svc, credits=10_000)
    peer = TestPeer()
    answer = await sdk(live, owner.key).realtime.calls.create(sdp=await peer.offer())
    call_id = answer.response.headers["location"].rsplit("/", 1)[1]
    await peer.accept(answer.text)
    await peer.wait_connected()
    await peer.wait_for("session.created")
    url = f"{live.ws_url}?call_id={call_id}"
    with pytest.raises(websockets.exceptions.InvalidStatus) as info:
        async with connect(url, additional_headers={"x-api-key": other.key}):
            pass
    assert info.value.response.status_code == 404
    async with connect(url, additional_headers={"x-api-key": owner.key}) as ws:
        await ws.send(
            json.dumps(
                {
                    "type": "session.update",
                    "session": {"type": "realtime", "instructions": "From the sideband."},
                }
            )
        )
        seen = json.loads(await ws.recv())
        assert seen["type"] == "session.updated"
        on_channel = await peer.wait_for("session.updated")
        assert on_channel["session"]["instructions"] == "From the sideband."
        await sdk(live, owner.key).realtime.calls.hangup(call_id)
        with pytest.raises(websockets.exceptions.ConnectionClosed):
            while True:
                await ws.recv()
    await peer.close()

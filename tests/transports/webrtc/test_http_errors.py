"""Refusals of the WebRTC endpoints before any media work (fake engines, no peer needed
except where an SDP offer must be valid)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.accounts import new_account
from tests.support.peer import TestPeer
from tests.support.server import LiveServer

VIDEO_ONLY = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:96 VP8/90000\r\n"
    "a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n"
    "a=fingerprint:sha-256 00:11\r\na=setup:actpass\r\na=mid:0\r\n"
)


def code(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


@pytest.fixture
async def http(live: LiveServer) -> Any:
    async with httpx.AsyncClient(base_url=live.url) as client:
        yield client


async def test_seed_session_refusals(live: LiveServer, http: httpx.AsyncClient) -> None:
    acct = await new_account(live.services, credits=10_000)
    auth = {"Authorization": f"Bearer {acct.key}"}
    peer = TestPeer()
    sdp = await peer.offer()
    url = "/api/realtime2/session"
    good = {"model": "realtime-mini", "voice": "marin", "sdp": sdp}
    assert code(await http.post(url, json=good)) == (401, "unauthorized")
    bad_key = {"x-api-key": "sk-gptr2-nope"}
    assert code(await http.post(url, json=good, headers=bad_key)) == (401, "invalid_api_key")
    for model in ("starter-voice", "gpt-4", None):
        body: dict[str, Any] = {**good, "model": model}
        assert code(await http.post(url, json=body, headers=auth)) == (400, "unsupported_model")
    body = {**good, "voice": "alloy-ish"}
    assert code(await http.post(url, json=body, headers=auth)) == (400, "unsupported_voice")
    for sdp_value in (None, "", "hello", "v=0\r\nm=audio", VIDEO_ONLY, 42):
        body = {**good, "sdp": sdp_value}
        assert code(await http.post(url, json=body, headers=auth)) == (400, "invalid_sdp"), (
            sdp_value
        )
    assert code(await http.post(url, content=b"{", headers=auth)) == (400, "invalid_json")
    poor = await new_account(live.services, credits=479)  # 120 s x 4 is 480
    response = await http.post(url, json=good, headers={"x-api-key": poor.key})
    assert code(response) == (402, "insufficient_credits")
    assert (await live.services.ledger.balance(poor.user_id)).available == 479
    await peer.close()


async def test_calls_content_types_and_unknown_ids(
    live: LiveServer, http: httpx.AsyncClient
) -> None:
    acct = await new_account(live.services, credits=10_000)
    auth = {"Authorization": f"Bearer {acct.key}"}
    url = "/v1/realtime/calls"
    response = await http.post(url, content=b"v=0", headers={**auth, "content-type": "text/plain"})
    assert code(response) == (415, "unsupported_media_type")
    response = await http.post(url, json={"sdp": "v=0"}, headers=auth)
    assert code(response) == (415, "unsupported_media_type")
    response = await http.post(url, files={"session": (None, b"{}")}, headers=auth)
    assert code(response) == (400, "invalid_sdp")
    peer = TestPeer()
    sdp = await peer.offer()
    files = {"sdp": (None, sdp.encode()), "session": (None, b"{nope")}
    assert code(await http.post(url, files=files, headers=auth)) == (400, "invalid_json")
    files = {"sdp": (None, sdp.encode()), "session": (None, b'{"type":"realtime","model":"x"}')}
    assert code(await http.post(url, files=files, headers=auth)) == (400, "unsupported_model")
    bad_voice = b'{"type":"realtime","audio":{"output":{"voice":"nobody"}}}'
    files = {"sdp": (None, sdp.encode()), "session": (None, bad_voice)}
    response = await http.post(url, files=files, headers=auth)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "session.audio.output.voice"
    response = await http.post(
        url, content=VIDEO_ONLY.encode(), headers={**auth, "content-type": "application/sdp"}
    )
    assert code(response) == (400, "invalid_sdp")

    charge = {"model": "realtime-mini", "callId": "rtc_unknown"}
    response = await http.post("/api/realtime2/charge", json=charge, headers=auth)
    assert code(response) == (404, "call_not_found")
    # A field the endpoint does not know is refused by name, not ignored.
    extra = {**charge, "seconds": 5}
    response = await http.post("/api/realtime2/charge", json=extra, headers=auth)
    assert code(response) == (400, "unknown_parameter")
    assert response.json()["error"]["param"] == "seconds"
    response = await http.post("/v1/realtime/calls/rtc_unknown/hangup", headers=auth)
    assert code(response) == (404, "call_not_found")
    response = await http.post("/api/realtime2/charge", json=charge)
    assert code(response) == (401, "unauthorized")
    await peer.close()


async def test_other_users_call_is_not_found_and_model_must_match(
    live: LiveServer, http: httpx.AsyncClient
) -> None:
    owner = await new_account(live.services, credits=10_000)
    other = await new_account(live.services, credits=10_000)
    peer = TestPeer()
    response = await http.post(
        "/v1/realtime/calls",
        content=(await peer.offer()).encode(),
        headers={"Authorization": f"Bearer {owner.key}", "content-type": "application/sdp"},
        params={"model": "gpt-realtime-mini"},
    )
    assert response.status_code == 201, response.text
    call_id = response.headers["location"].rsplit("/", 1)[1]
    intruder = {"Authorization": f"Bearer {other.key}"}
    charge = {"model": "realtime-mini", "callId": call_id}
    response = await http.post("/api/realtime2/charge", json=charge, headers=intruder)
    assert code(response) == (404, "call_not_found")
    response = await http.post(f"/v1/realtime/calls/{call_id}/hangup", headers=intruder)
    assert code(response) == (404, "call_not_found")
    mine = {"Authorization": f"Bearer {owner.key}"}
    response = await http.post(
        "/api/realtime2/charge", json={**charge, "model": "realtime-pro"}, headers=mine
    )
    assert code(response) == (400, "model_mismatch")
    # Never connected: nothing is charged, and hanging up ends it.
    response = await http.post("/api/realtime2/charge", json=charge, headers=mine)
    assert response.json()["totalChargedCredits"] == 0
    assert (
        await http.post(f"/v1/realtime/calls/{call_id}/hangup", headers=mine)
    ).status_code == 200
    balance = await live.services.ledger.balance(owner.user_id)
    assert (balance.available, balance.held) == (10_000, 0)
    await peer.close()

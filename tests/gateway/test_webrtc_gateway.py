"""WebRTC calls through gateway A to upstream B: B answers the offer (media flows client↔B
directly), A meters the call through a sideband on B and bills its own user; B bills only
the key A holds."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from fastapi import WebSocket
from openai import AsyncOpenAI
from sqlalchemy import select
from tests.support.accounts import new_account, settled
from tests.support.gateway import Pair, gateway_to
from tests.support.peer import TestPeer
from tests.support.server import free_port
from tests.support.validate import assert_valid
from websockets.asyncio.client import connect

from realtime2.accounts.metering import MeterPolicy
from realtime2.calls import open as call_open
from realtime2.db.models import RealtimeCall
from realtime2.edge.admission import refuse_handshake
from realtime2.edge.session_config import check_session
from realtime2.errors import ApiError
from realtime2.gateway.call_http import upstream_call_id
from realtime2.gateway.call_open import upstream_session
from realtime2.state import Services
from realtime2.transports import sideband_relay

MINI_RATE = 4  # realtime-mini credits per second
MINIMUM = 120 * MINI_RATE


async def calls_of(svc: Services, user_id: int) -> list[RealtimeCall]:
    async with svc.db.sessions() as tx:
        rows = await tx.scalars(select(RealtimeCall).where(RealtimeCall.user_id == user_id))
        return list(rows)


async def ended_call(svc: Services, user_id: int, within: float = 10.0) -> RealtimeCall:
    """The user's only call once its record says it ended."""
    async with asyncio.timeout(within):
        while True:
            rows = await calls_of(svc, user_id)
            assert len(rows) == 1
            if rows[0].status == "ended":
                return rows[0]
            await asyncio.sleep(0.05)


def text_turn(peer: TestPeer, text: str) -> None:
    content = [{"type": "input_text", "text": text}]
    peer.send(
        {
            "type": "conversation.item.create",
            "item": {"type": "message", "role": "user", "content": content},
        }
    )
    peer.send({"type": "response.create"})


async def test_seed_flow_through_the_gateway(pair: Pair) -> None:
    a, b, up = pair.a.services, pair.b.services, pair.upstream_account
    user = await new_account(a, credits=10_000)
    headers = {"Authorization": f"Bearer {user.key}"}
    peer = TestPeer()
    async with httpx.AsyncClient(base_url=pair.a.url) as http:
        body = {
            "model": "realtime-mini",
            "voice": "marin",
            "instructions": "You are concise and natural.",
            "sdp": await peer.offer(),
        }
        response = await http.post("/api/realtime2/session", json=body, headers=headers)
        assert response.status_code == 200, response.text
        call_id = response.headers["x-openai-call-id"]
        assert call_id.startswith("rtc_")
        # B made the call (for the account whose key A holds) and its id is not shown.
        [b_call] = await calls_of(b, up.user_id)
        assert b_call.model == "realtime-mini" and b_call.id != call_id
        assert b_call.id not in response.text and b_call.id not in str(response.headers)
        assert up.key not in response.text
        assert (await a.ledger.balance(user.user_id)).held >= MINIMUM  # metered from creation

        await peer.accept(response.text)
        await peer.wait_connected()
        updated = await peer.wait_for("session.updated")
        assert updated["session"]["instructions"] == "You are concise and natural."
        assert updated["session"]["audio"]["output"]["voice"] == "marin"
        assert updated["session"]["model"] == "gpt-realtime-mini"  # B's name for the tier

        # Events and audio come from B's engine over the direct media path.
        mark = len(peer.events)
        text_turn(peer, "hello")
        done = await peer.wait_for("response.done", after=mark)
        assert done["response"]["status"] == "completed"
        await peer.wait_for("output_audio_buffer.stopped", after=mark)
        async with asyncio.timeout(5):
            await peer.heard_sound.wait()
        for event in peer.events:
            assert_valid(event)

        # The client's own sideband on A is relayed through A's sideband on B.
        async with connect(
            f"{pair.a.ws_url}?call_id={call_id}", additional_headers=headers
        ) as side:
            update = {"type": "session.update", "session": {"type": "realtime"}}
            update["session"]["instructions"] = "From the sideband."
            await side.send(json.dumps(update))
            seen = json.loads(await asyncio.wait_for(side.recv(), 10))
            while seen["type"] != "session.updated":
                seen = json.loads(await asyncio.wait_for(side.recv(), 10))
            assert seen["session"]["instructions"] == "From the sideband."
        on_channel = await peer.wait_for("session.updated", after=mark)
        assert on_channel["session"]["instructions"] == "From the sideband."

        # A's /charge bills A's user the 120 s minimum, once.
        charge = {"model": "realtime-mini", "callId": call_id}
        first = (await http.post("/api/realtime2/charge", json=charge, headers=headers)).json()
        assert (first["chargedSeconds"], first["chargedCredits"]) == (120, MINIMUM)
        again = (await http.post("/api/realtime2/charge", json=charge, headers=headers)).json()
        assert again["chargedCredits"] == 0 and again["totalChargedCredits"] == MINIMUM
        wrong = await http.post(
            "/api/realtime2/charge", json={**charge, "model": "realtime-pro"}, headers=headers
        )
        assert wrong.json()["error"]["code"] == "model_mismatch"

        # Hangup through A ends the call on B and settles A's meter.
        hung = await http.post(f"/v1/realtime/calls/{call_id}/hangup", headers=headers)
        assert hung.status_code == 200
        after = (await http.post("/api/realtime2/charge", json=charge, headers=headers)).json()
        assert after["chargedCredits"] == 0 and after["totalChargedCredits"] == MINIMUM
    await peer.close()

    ours = await ended_call(a, user.user_id)
    assert (ours.id, ours.end_reason, ours.charged) == (call_id, "hangup", MINIMUM)
    assert (await ended_call(b, up.user_id)).end_reason == "hangup"
    assert await settled(a, user.user_id) == MINIMUM
    balance = await a.ledger.balance(user.user_id)
    assert (balance.posted, balance.held) == (10_000 - MINIMUM, 0)
    capture = next(e for e in await a.ledger.entries(user.user_id) if e.kind == "capture")
    details = capture.details or {}
    assert capture.api_key_id == user.key_id
    assert details["upstream_model"] == "gpt-realtime-mini"
    assert details["upstream_usage"]["responses"] >= 1  # seen on the metering sideband

    # B billed only the account whose key A holds; A's user key means nothing to B.
    assert await settled(b, up.user_id) == MINIMUM
    b_keys = {e.api_key_id for e in await b.ledger.entries(up.user_id) if e.kind != "topup"}
    assert b_keys == {up.key_id}
    async with httpx.AsyncClient(base_url=pair.b.url) as http:
        mine = await http.post("/api/realtime2/charge", json=charge, headers=headers)
    assert (mine.status_code, mine.json()["error"]["code"]) == (401, "invalid_api_key")


async def test_sdk_call_through_the_gateway_ends_when_the_upstream_ends_it(pair: Pair) -> None:
    a, b, up = pair.a.services, pair.b.services, pair.upstream_account
    user = await new_account(a, credits=10_000)
    client = AsyncOpenAI(base_url=pair.a.url + "/v1", api_key=user.key, max_retries=0)
    peer = TestPeer()
    session: Any = {"type": "realtime", "model": "gpt-realtime-mini", "instructions": "Be brief."}
    answer = await client.realtime.calls.create(sdp=await peer.offer(), session=session)
    assert answer.response.status_code == 201
    assert answer.response.headers["content-type"].startswith("application/sdp")
    call_id = answer.response.headers["location"].removeprefix("/v1/realtime/calls/")
    assert call_id.startswith("rtc_")
    await peer.accept(answer.text)
    await peer.wait_connected()
    updated = await peer.wait_for("session.updated")
    assert updated["session"]["instructions"] == "Be brief."

    # The upstream ends the call on its own (here: hung up with the key A holds).
    [b_call] = await calls_of(b, up.user_id)
    async with httpx.AsyncClient(base_url=pair.b.url) as http:
        hung = await http.post(
            f"/v1/realtime/calls/{b_call.id}/hangup",
            headers={"Authorization": f"Bearer {up.key}"},
        )
        assert hung.status_code == 200
    ours = await ended_call(a, user.user_id)
    assert (ours.end_reason, ours.charged) == ("upstream_closed", MINIMUM)
    assert await settled(a, user.user_id) == MINIMUM
    # Hanging up an ended call is fine; it is still the user's.
    await client.realtime.calls.hangup(call_id)
    await peer.close()


async def _refuse_sideband(websocket: WebSocket, call_id: str) -> None:
    await refuse_handshake(websocket, ApiError(403, "sideband_refused", "No sideband for you."))


async def test_refused_sideband_hangs_up_the_upstream_call(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only B serves sideband sockets in this test: A's own calls never reach this path.
    monkeypatch.setattr(sideband_relay, "attach_sideband", _refuse_sideband)
    a, b, up = pair.a.services, pair.b.services, pair.upstream_account
    user = await new_account(a, credits=10_000)
    peer = TestPeer()
    async with httpx.AsyncClient(base_url=pair.a.url) as http:
        body = {"model": "realtime-mini", "voice": "marin", "sdp": await peer.offer()}
        response = await http.post(
            "/api/realtime2/session", json=body, headers={"x-api-key": user.key}
        )
    await peer.close()
    assert response.status_code == 502, response.text
    error = response.json()["error"]
    assert error["code"] == "upstream_unavailable"
    assert "hung up" in error["message"] and "HTTP 403" in error["message"]
    assert up.key not in response.text
    # B's call was hung up at once; nobody was charged for it.
    assert (await ended_call(b, up.user_id)).end_reason == "hangup"
    assert await settled(b, up.user_id) == 0
    assert await calls_of(a, user.user_id) == []
    balance = await a.ledger.balance(user.user_id)
    assert (balance.posted, balance.held) == (10_000, 0)


async def test_unreachable_upstream_and_short_credit_start_nothing(
    pair: Pair, tmp_path: Any
) -> None:
    peer = TestPeer()
    offer = await peer.offer()
    await peer.close()
    body = {"model": "realtime-mini", "voice": "marin", "sdp": offer}

    # Too little credit for the 120 s minimum: refused before the upstream is asked.
    poor = await new_account(pair.a.services, credits=MINIMUM - 1)
    async with httpx.AsyncClient(base_url=pair.a.url) as http:
        response = await http.post(
            "/api/realtime2/session", json=body, headers={"x-api-key": poor.key}
        )
    assert response.json()["error"]["code"] == "insufficient_credits"
    assert await calls_of(pair.b.services, pair.upstream_account.user_id) == []

    # An upstream that is down: 502, nothing held or charged.
    dead = f"http://127.0.0.1:{free_port()}/v1"
    async with gateway_to(tmp_path / "dead", dead, "sk-upstream-secret") as a:
        user = await new_account(a.services, credits=10_000)
        async with httpx.AsyncClient(base_url=a.url) as http:
            response = await http.post(
                "/api/realtime2/session", json=body, headers={"x-api-key": user.key}
            )
        assert response.status_code == 502
        error = response.json()["error"]
        assert error["code"] == "upstream_unavailable"
        assert "could not be reached" in error["message"]
        assert "sk-upstream-secret" not in response.text
        balance = await a.services.ledger.balance(user.user_id)
        assert (balance.posted, balance.held) == (10_000, 0)


async def test_credit_running_out_hangs_up_the_upstream_call(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = MeterPolicy(
        window_seconds=1, minimum_start_seconds=1, minimum_billed_seconds=1, renew_every_seconds=0.2
    )
    monkeypatch.setattr(call_open, "CALL_METER_POLICY", policy)
    a, b, up = pair.a.services, pair.b.services, pair.upstream_account
    user = await new_account(a, credits=2 * MINI_RATE)  # two seconds
    peer = TestPeer()
    async with httpx.AsyncClient(base_url=pair.a.url) as http:
        body = {"model": "realtime-mini", "voice": "marin", "sdp": await peer.offer()}
        response = await http.post(
            "/api/realtime2/session", json=body, headers={"x-api-key": user.key}
        )
    assert response.status_code == 200, response.text
    await peer.accept(response.text)
    ours = await ended_call(a, user.user_id, within=15)
    assert ours.end_reason == "insufficient_credits"
    assert (await ended_call(b, up.user_id)).end_reason == "hangup"
    balance = await a.ledger.balance(user.user_id)
    assert (balance.posted, balance.held) == (0, 0)
    await peer.close()


def test_upstream_session_merges_configs_in_order() -> None:
    first = check_session({"instructions": "one", "audio": {"output": {"voice": "sage"}}})
    quiet = {"input": {"noise_reduction": None}}
    second = check_session({"model": "realtime-mini", "audio": quiet})
    merged = upstream_session([first, second], "gpt-realtime-mini")
    assert merged == {
        "type": "realtime",
        "model": "gpt-realtime-mini",
        "instructions": "one",
        "audio": {"output": {"voice": "sage"}, "input": {"noise_reduction": None}},
    }
    assert first.config["audio"] == {"output": {"voice": "sage"}}  # inputs untouched


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"location": "/v1/realtime/calls/rtc_abc123"}, "rtc_abc123"),
        ({"x-openai-call-id": "rtc_xyz"}, "rtc_xyz"),
        ({"location": "/v1/realtime/calls/../../admin?x=1"}, None),
        ({}, None),
    ],
)
def test_upstream_call_id_is_taken_only_when_plain(
    headers: dict[str, str], expected: str | None
) -> None:
    response = httpx.Response(201, headers=headers, text="v=0\r\n")
    if expected is None:
        with pytest.raises(ApiError) as info:
            upstream_call_id(response)
        assert info.value.code == "upstream_unavailable"
    else:
        assert upstream_call_id(response) == expected

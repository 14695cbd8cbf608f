"""WebRTC calls end to end with an aiortc client and fake engines."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import numpy as np

from tests.support.accounts import new_account
from tests.support.peer import TestPeer
from tests.support.server import LiveServer
from tests.support.validate import assert_valid


async def open_seed_call(
    http: httpx.AsyncClient, key: str, peer: TestPeer, **body: Any
) -> httpx.Response:
    payload = {"model": "realtime-mini", "voice": "marin", "sdp": await peer.offer(), **body}
    return await http.post(
        "/api/realtime2/session", json=payload, headers={"Authorization": f"Bearer {key}"}
    )


async def test_seed_flow_events_audio_charge_and_hangup(live: LiveServer) -> None:
    svc = live.services
    acct = await new_account(svc, credits=10_000)
    peer = TestPeer()
    async with httpx.AsyncClient(base_url=live.url) as http:
        started = time.monotonic()
        response = await open_seed_call(
            http, acct.key, peer, instructions="You are concise and natural."
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/sdp")
        call_id = response.headers["x-openai-call-id"]
        assert call_id.startswith("rtc_")
        answer = response.text
        assert "a=candidate" in answer and "127.0.0.1" in answer
        await peer.accept(answer)
        await peer.wait_connected()
        connect_ms = (time.monotonic() - started) * 1000

        created = await peer.wait_for("session.created")
        updated = await peer.wait_for("session.updated")
        assert_valid(created)
        assert updated["session"]["instructions"] == "You are concise and natural."
        assert updated["session"]["audio"]["output"]["voice"] == "marin"

        mark = len(peer.events)
        peer.send(
            {
                "type": "conversation.item.create",
                "item": {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": "hello"}],
                },
            }
        )
        peer.send({"type": "response.create"})
        done = await peer.wait_for("response.done", after=mark)
        assert done["response"]["status"] == "completed"
        await peer.wait_for("output_audio_buffer.started", after=mark)
        await peer.wait_for("output_audio_buffer.stopped", after=mark)
        for event in peer.events:
            assert_valid(event)
            assert event["type"] != "response.output_audio.delta" or event["delta"] == ""
        async with asyncio.timeout(5):
            await peer.heard_sound.wait()
        heard = np.frombuffer(bytes(peer.heard), "<i2")
        assert np.abs(heard).max() > 1000  # the fake TTS tone came through the Opus track

        headers = {"Authorization": f"Bearer {acct.key}"}
        body = {"model": "realtime-mini", "callId": call_id}
        first = (await http.post("/api/realtime2/charge", json=body, headers=headers)).json()
        assert first["chargedSeconds"] == 120 and first["chargedCredits"] == 480
        again = (await http.post("/api/realtime2/charge", json=body, headers=headers)).json()
        assert again["chargedCredits"] == 0 and again["totalChargedCredits"] == 480
        assert again["balance"] == 10_000 - 480

        hung = await http.post(f"/v1/realtime/calls/{call_id}/hangup", headers=headers)
        assert hung.status_code == 200
        after = (await http.post("/api/realtime2/charge", json=body, headers=headers)).json()
        assert after["chargedCredits"] == 0 and after["totalChargedCredits"] == 480
    await peer.close()
    balance = await svc.ledger.balance(acct.user_id)
    assert (balance.posted, balance.held) == (10_000 - 480, 0)
    print(f"ICE+DTLS connected {connect_ms:.0f} ms after POST")

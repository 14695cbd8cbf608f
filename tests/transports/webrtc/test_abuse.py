"""Abuse of the WebRTC endpoints costs the attacker, not the server (issue 15): a flooded
data channel, offers with hundreds of ICE candidates or private ones, offers that never
connect, sideband sockets, and a client secret used for another model."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from aiortc import RTCIceTransport
from websockets.asyncio.client import connect

from realtime2.accounts.client_secrets import ClientSecrets
from realtime2.transports.webrtc.call import WebRtcCall
from realtime2.transports.webrtc.ice import (
    MAX_REMOTE_CANDIDATES,
    allows_private_candidates,
    screen_candidates,
)
from realtime2.transports.webrtc.inbox import MAX_MESSAGES, Inbox
from tests.support.accounts import new_account
from tests.support.fakes import fake_engines
from tests.support.peer import TestPeer
from tests.support.server import LiveServer, build_services, serve_app


async def _server(tmp_path: Path, **settings: object) -> AsyncIterator[LiveServer]:
    svc = await build_services(tmp_path, fake_engines(), **settings)
    async for server in serve_app(svc):
        yield server


async def _post_offer(
    live: LiveServer, key: str, sdp: str, model: str = "realtime-mini"
) -> httpx.Response:
    async with httpx.AsyncClient(base_url=live.url) as http:
        return await http.post(
            "/api/realtime2/session",
            json={"model": model, "voice": "sage", "sdp": sdp},
            headers={"Authorization": f"Bearer {key}"},
        )


async def _connected_call(
    live: LiveServer, key: str, peer: TestPeer, sdp: str | None = None
) -> WebRtcCall:
    response = await _post_offer(live, key, sdp or await peer.offer())
    assert response.status_code == 200, response.text
    await peer.accept(response.text)
    await peer.wait_connected()
    call = live.calls.get(response.headers["x-openai-call-id"])
    assert isinstance(call, WebRtcCall)
    return call


def _remote_candidates(call: WebRtcCall) -> list[Any]:
    transports: dict[int, RTCIceTransport] = {}
    for transceiver in call.pc.getTransceivers():
        ice = transceiver.receiver.transport.transport
        transports[id(ice)] = ice
    if call.pc.sctp is not None:
        ice = call.pc.sctp.transport.transport
        transports[id(ice)] = ice
    return [c for t in transports.values() for c in t.getRemoteCandidates()]


# --- the data-channel inbox ----------------------------------------------------------


async def test_inbox_is_bounded_in_messages_and_bytes() -> None:
    inbox = Inbox(max_messages=3, max_bytes=10)
    assert inbox.offer("a" * 20)  # one message always fits, whatever its size
    assert not inbox.offer("b")
    assert await inbox.get() == "a" * 20
    assert inbox.offer("1234") and inbox.offer("1234") and not inbox.offer("123")
    assert inbox.offer("12") and not inbox.offer("")  # three messages
    waiting = asyncio.create_task(inbox.put("late"))
    await asyncio.sleep(0.01)
    assert not waiting.done()  # a sideband waits for room instead
    assert await inbox.get() == "1234"
    await asyncio.wait_for(waiting, 1)
    assert [await inbox.get() for _ in range(3)] == ["1234", "12", "late"]


async def test_a_peer_flooding_the_data_channel_is_hung_up_on(live: LiveServer) -> None:
    acct = await new_account(live.services, credits=10_000)
    peer = TestPeer()
    call = await _connected_call(live, acct.key, peer)
    await peer.wait_for("session.created")
    channel = call._channel
    assert channel is not None
    message = json.dumps({"type": "session.update", "session": {"type": "realtime"}})
    # aiortc hands a burst of messages to the callback without yielding in between.
    for _ in range(10 * MAX_MESSAGES):
        channel.emit("message", message)
        assert len(call._inbox) <= MAX_MESSAGES
    error = await peer.wait_for("error")
    assert error["error"]["code"] == "too_many_client_events"
    async with asyncio.timeout(10):
        await call.ended.wait()
    assert call.end_reason == "client_flood"
    assert live.app.state.session_slots.active == 0
    await peer.close()


# --- ICE candidates ------------------------------------------------------------------


def _with_candidates(sdp: str, addresses: list[str]) -> str:
    lines = sdp.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("a=candidate:")) + 1
    fake = [
        f"a=candidate:f{n} 1 udp 2130706431 {address} {10000 + n} typ host"
        for n, address in enumerate(addresses)
    ]
    return "\r\n".join(lines[:at] + fake + lines[at:]) + "\r\n"


async def test_remote_candidates_are_capped(live: LiveServer) -> None:
    """The server sent STUN to all 500 addresses an offer listed; now to 16 at most."""
    acct = await new_account(live.services, credits=10_000)
    peer = TestPeer()
    # Loopback addresses, so the checks the server still makes stay on this machine.
    many = [f"127.0.{1 + n // 250}.{1 + n % 250}" for n in range(500)]
    sdp = _with_candidates(await peer.offer(), many)
    call = await _connected_call(live, acct.key, peer, sdp)
    remote = _remote_candidates(call)
    assert 0 < len(remote) <= MAX_REMOTE_CANDIDATES
    assert remote[0].ip == "127.0.0.1"  # the peer's own candidate came first and stayed
    await peer.close()


def test_private_candidates_are_skipped_unless_allowed() -> None:
    sdp = "\r\n".join(
        [
            "v=0",
            "a=candidate:1 1 udp 1 10.0.0.5 5000 typ host",
            "a=candidate:2 1 udp 1 192.168.1.9 5000 typ host",
            "a=candidate:3 1 udp 1 127.0.0.1 5000 typ host",
            "a=candidate:4 1 udp 1 169.254.1.1 5000 typ host",
            "a=candidate:5 1 udp 1 fd00::1 5000 typ host",
            "a=candidate:6 1 udp 1 0f1e2d3c-aaaa.local 5000 typ host",
            "a=candidate:7 1 udp 1 8.8.4.4 5000 typ srflx raddr 0.0.0.0 rport 0",
            "a=candidate:8 1 udp 1 evil.example.com 5000 typ host",
            "a=candidate:9 1 udp 1 224.0.0.1 5000 typ host",
            "a=candidate:7 1 udp 1 8.8.4.4 5000 typ srflx raddr 0.0.0.0 rport 0",
            "a=candidate:bad",
            "a=end-of-candidates",
        ]
    )
    screened, dropped = screen_candidates(sdp, allow_private=False)
    assert [line.split()[4] for line in screened.splitlines() if "candidate:" in line] == [
        "8.8.4.4",
        "8.8.4.4",  # the same candidate repeated in another section counts once
    ]
    assert dropped == 9 and "a=end-of-candidates" not in screened
    screened, dropped = screen_candidates(sdp, allow_private=True)
    assert dropped == 3  # a DNS name, multicast and a malformed line, always
    assert "a=end-of-candidates" not in screened
    # Unset, the setting follows the server's own hosts.
    assert allows_private_candidates(["127.0.0.1"], None)
    assert allows_private_candidates(["10.1.2.3", "::1"], None)
    assert not allows_private_candidates(["1.2.3.4"], None)
    assert not allows_private_candidates(["10.1.2.3", "1.2.3.4"], None)
    assert allows_private_candidates(["1.2.3.4"], True)
    assert not allows_private_candidates(["127.0.0.1"], False)
    untouched = "v=0\r\na=candidate:1 1 udp 1 8.8.4.4 5000 typ host\r\na=end-of-candidates\r\n"
    assert screen_candidates(untouched, allow_private=False) == (untouched, 0)


@pytest.fixture
async def no_private(tmp_path: Path) -> AsyncIterator[LiveServer]:
    async for server in _server(tmp_path, webrtc_allow_private_candidates=False):
        yield server


async def test_a_peer_whose_candidates_were_skipped_still_connects(no_private: LiveServer) -> None:
    """With private candidates off the server contacts none of the peer's addresses, and
    learns the peer from the peer's own checks instead."""
    acct = await new_account(no_private.services, credits=10_000)
    peer = TestPeer()
    call = await _connected_call(no_private, acct.key, peer)
    assert not [c for c in _remote_candidates(call) if c.type == "host"]
    await peer.wait_for("session.created")
    await peer.close()


# --- calls that never connect --------------------------------------------------------


@pytest.fixture
async def two_pending(tmp_path: Path) -> AsyncIterator[LiveServer]:
    async for server in _server(tmp_path, max_pending_calls_per_user=2):
        yield server


async def test_unconnected_calls_count_against_the_user(two_pending: LiveServer) -> None:
    live = two_pending
    acct = await new_account(live.services, credits=10_000)
    other = await new_account(live.services, credits=10_000)
    peers = [TestPeer() for _ in range(5)]
    first = await _post_offer(live, acct.key, await peers[0].offer())
    second = await _post_offer(live, acct.key, await peers[1].offer())
    assert (first.status_code, second.status_code) == (200, 200)
    refused = await _post_offer(live, acct.key, await peers[2].offer())
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "too_many_pending_calls"
    assert live.app.state.session_slots.active == 2  # the refused offer took no slot
    # Another user is not affected.
    assert (await _post_offer(live, other.key, await peers[3].offer())).status_code == 200
    # Once a call connects it is no longer pending.
    await peers[0].accept(first.text)
    await peers[0].wait_connected()
    assert (await _post_offer(live, acct.key, await peers[4].offer())).status_code == 200
    # A pending call that ends (hangup) frees its place too.
    call = live.calls.get(second.headers["x-openai-call-id"])
    assert call is not None
    call.hang_up()
    await asyncio.wait_for(call.wait_ended(), 10)
    assert live.calls.pending.count(acct.user_id) == 1
    for peer in peers:
        await peer.close()


# --- sideband sockets ----------------------------------------------------------------


@pytest.fixture
async def two_sessions(tmp_path: Path) -> AsyncIterator[LiveServer]:
    async for server in _server(tmp_path, max_sessions_per_user=2):
        yield server


async def test_sideband_sockets_take_a_session_slot(two_sessions: LiveServer) -> None:
    live = two_sessions
    acct = await new_account(live.services, credits=10_000)
    peer = TestPeer()
    call = await _connected_call(live, acct.key, peer)
    slots = live.app.state.session_slots
    url = f"{live.url.replace('http://', 'ws://')}/v1/realtime?call_id={call.id}"
    headers = {"x-api-key": acct.key}
    async with connect(url, additional_headers=headers):
        assert slots.active == 2
        with pytest.raises(websockets.exceptions.InvalidStatus) as info:
            async with connect(url, additional_headers=headers):
                pass
        assert info.value.response.status_code == 429
    for _ in range(100):
        if slots.active == 1:
            break
        await asyncio.sleep(0.02)
    assert slots.active == 1  # the sideband gave its slot back
    await peer.close()


# --- client secrets ------------------------------------------------------------------


async def test_a_client_secret_opens_only_its_model(live: LiveServer) -> None:
    """An `ek_` minted for realtime-mini opened realtime-pro (16 credits/s instead of 4)."""
    svc = live.services
    acct = await new_account(svc, credits=10_000)
    secrets = ClientSecrets(svc.db, svc.keys.hash)
    mini = await secrets.create(
        acct.user_id,
        api_key_id=acct.key_id,
        session={"type": "realtime", "model": "gpt-realtime-mini"},
    )
    peer = TestPeer()
    sdp = await peer.offer()
    refused = await _post_offer(live, mini.value, sdp, model="realtime-pro")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "model_not_allowed"
    assert refused.json()["error"]["param"] == "model"
    async with httpx.AsyncClient(base_url=live.url) as http:
        files = {
            "sdp": (None, sdp),
            "session": (None, json.dumps({"type": "realtime", "model": "gpt-realtime"})),
        }
        response = await http.post(
            "/v1/realtime/calls",
            files=files,
            headers={"Authorization": f"Bearer {mini.value}"},
        )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "model_not_allowed"
    auth = {"Authorization": f"Bearer {mini.value}"}
    for query in ("?model=gpt-realtime", "?model=realtime-pro", "?intent=transcription"):
        with pytest.raises(websockets.exceptions.InvalidStatus) as info:
            async with connect(
                live.url.replace("http", "ws") + "/v1/realtime" + query, additional_headers=auth
            ):
                pass
        assert info.value.response.status_code == 403, query
        assert b"model_not_allowed" in info.value.response.body
    with pytest.raises(websockets.exceptions.InvalidStatus) as info:
        url = live.url.replace("http", "ws") + "/v1/realtime/translations"
        async with connect(url, additional_headers=auth):
            pass
    assert info.value.response.status_code == 403
    assert live.app.state.session_slots.active == 0
    # Its own model opens, with or without naming it.
    for query in ("?model=realtime-mini", ""):
        url = live.url.replace("http", "ws") + "/v1/realtime" + query
        async with connect(url, additional_headers=auth) as ws:
            created = json.loads(await ws.recv())
            assert created["type"] == "session.created"
            assert created["session"]["model"] in ("realtime-mini", "gpt-realtime-mini")
    call = await _connected_call(live, mini.value, peer, sdp)
    assert call.tier == "realtime-mini"
    await peer.close()

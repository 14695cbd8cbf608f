"""Clients that vanish, stall (stop reading) or send half a frame hold no session slot and
no credit beyond the WebSocket keep-alive timeout.

uvicorn pings every `ws_ping_interval` and drops a peer that has not answered within
`ws_ping_timeout` (20 s + 20 s in `realtime2 serve`); here both are 0.5 s so the test takes
seconds. Dropping the socket ends the session, which releases its slot and settles its
hold (what was used is charged; the rest is released).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from realtime2.app import create_app
from realtime2.state import Services
from tests.support.accounts import Account, new_account
from tests.support.fakes import fake_engines
from tests.support.server import build_services, running


@pytest.fixture
async def strict_server(tmp_path: Path) -> AsyncIterator[tuple[int, Services]]:
    svc = await build_services(tmp_path, fake_engines())
    app = create_app(svc.settings, svc)
    try:
        async with running(app, ws_ping_interval=0.5, ws_ping_timeout=0.5) as server:
            yield server.config.port, svc
    finally:
        await svc.close()


def _handshake(port: int, key: str) -> socket.socket:
    """A raw client: the upgrade request, the 101 reply, and then whatever the test does."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    nonce = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            "GET /v1/realtime?model=realtime-mini HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {nonce}\r\nSec-WebSocket-Version: 13\r\n"
            f"x-api-key: {key}\r\n\r\n"
        ).encode()
    )
    reply = b""
    while b"\r\n\r\n" not in reply:
        reply += sock.recv(1)  # byte by byte: leave every frame after the headers unread
    assert reply.startswith(b"HTTP/1.1 101"), reply
    return sock


async def _active_sessions(port: int) -> float:
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
    for line in text.splitlines():
        if line.startswith('realtime2_sessions_active{transport="websocket"}'):
            return float(line.split()[-1])
    return 0.0


async def _session_ends(port: int, svc: Services, acct: Account, seconds: float = 5) -> None:
    for _ in range(int(seconds * 20)):
        held = (await svc.ledger.balance(acct.user_id)).held
        if held == 0 and await _active_sessions(port) == 0:
            projection, sums = await svc.ledger.reconcile(acct.user_id)
            assert projection == sums
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the session still holds credit or a slot")


async def _session_started(svc: Services, acct: Account) -> None:
    for _ in range(100):
        if (await svc.ledger.balance(acct.user_id)).held > 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("no session started")


async def test_a_client_that_stops_reading_is_dropped(
    strict_server: tuple[int, Services],
) -> None:
    port, svc = strict_server
    acct = await new_account(svc, credits=10_000)
    sock = await asyncio.to_thread(_handshake, port, acct.key)
    try:
        await _session_started(svc, acct)
        await _session_ends(port, svc, acct)  # pings go unanswered: dropped
    finally:
        sock.close()


async def test_half_a_frame_then_silence_is_dropped(strict_server: tuple[int, Services]) -> None:
    port, svc = strict_server
    acct = await new_account(svc, credits=10_000)
    sock = await asyncio.to_thread(_handshake, port, acct.key)
    try:
        await _session_started(svc, acct)
        # A masked text frame announcing 1000 bytes, of which only 10 arrive.
        sock.sendall(bytes([0x81, 0x80 | 126]) + (1000).to_bytes(2, "big") + os.urandom(4))
        sock.sendall(b"x" * 10)
        await _session_ends(port, svc, acct)
    finally:
        sock.close()


async def test_a_client_that_vanishes_mid_turn_is_settled(
    strict_server: tuple[int, Services],
) -> None:
    port, svc = strict_server
    acct = await new_account(svc, credits=10_000)
    ws = await connect(
        f"ws://127.0.0.1:{port}/v1/realtime?model=realtime-mini",
        additional_headers={"x-api-key": acct.key},
    )
    assert json.loads(await ws.recv())["type"] == "session.created"
    await ws.send(json.dumps({"type": "response.create"}))
    ws.transport.abort()  # no close frame, no FIN handshake: the peer is just gone
    await _session_ends(port, svc, acct)
    # What was used is charged (realtime-mini, at least one second), nothing twice.
    assert 10_000 - (await svc.ledger.balance(acct.user_id)).available in range(4, 41)

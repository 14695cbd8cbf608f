"""`/v1/realtime` through gateway A to upstream B: the relay, its metering and its failures."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
import websockets
from openai import AsyncOpenAI
from tests.support.accounts import new_account, settled
from tests.support.fakes import fake_engines
from tests.support.gateway import Pair, created_event, fake_upstream, gateway_to
from tests.support.server import LiveServer, build_services, free_port, refused, serve_app
from tests.support.validate import assert_valid
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection


async def test_sdk_turn_through_the_gateway(pair: Pair) -> None:
    a, b = pair.a.services, pair.b.services
    user = await new_account(a, credits=10_000)
    client = AsyncOpenAI(base_url=pair.a.url + "/v1", api_key=user.key)
    seen: list[str] = []
    started = time.monotonic()
    async with client.realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
        await conn.conversation.item.create(
            item={
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "hello"}],
            }
        )
        await conn.response.create()
        async for event in conn:
            assert_valid(event.model_dump(mode="json", exclude_unset=True))
            seen.append(event.type)
            if event.type == "response.done":
                assert event.response.status == "completed"
                break
    elapsed = time.monotonic() - started
    assert seen[0] == "session.created" and "response.output_text.delta" in seen

    # A charged its own user at realtime-pro's 16/s for the seconds used, once.
    charged = await settled(a, user.user_id)
    assert charged % 16 == 0 and 16 <= charged <= 16 * (int(elapsed) + 2)
    capture = next(e for e in await a.ledger.entries(user.user_id) if e.kind == "capture")
    assert capture.api_key_id == user.key_id
    details = capture.details or {}
    assert details["upstream_model"] == "realtime-pro"
    usage = details["upstream_usage"]
    assert usage["responses"] == 1 and usage["input_tokens"] == 12 and usage["output_tokens"] == 3
    assert usage["total_tokens"] == 15 and usage["input_text_tokens"] == 12

    # B billed its own account, through the key A holds; A's user key means nothing to B.
    up = pair.upstream_account
    b_charged = await settled(b, up.user_id)
    assert b_charged > 0 and b_charged % 16 == 0
    b_keys = {e.api_key_id for e in await b.ledger.entries(up.user_id) if e.kind != "topup"}
    assert b_keys == {up.key_id}
    status, body = await refused(
        pair.b.ws_url + "?model=realtime-pro", additional_headers={"x-api-key": user.key}
    )
    assert (status, body["error"]["code"]) == (401, "invalid_api_key")


async def test_unmapped_model_stays_on_the_local_engine(tmp_path: Path) -> None:
    b_services = await build_services(tmp_path / "b", fake_engines())
    async for b in serve_app(b_services):
        up = await new_account(b.services, credits=1000)
        async with gateway_to(
            tmp_path, b.url + "/v1", up.key, upstream_models="realtime-pro=realtime-pro"
        ) as a:
            user = await new_account(a.services, credits=1000)
            async with connect(
                a.ws_url + "?model=realtime-mini", additional_headers={"x-api-key": user.key}
            ) as ws:
                assert json.loads(await ws.recv())["type"] == "session.created"
            assert await settled(a.services, user.user_id) == 4
            assert (await b.services.ledger.balance(up.user_id)).available == 1000


async def test_unreachable_upstream_charges_nothing(tmp_path: Path) -> None:
    async with gateway_to(tmp_path, f"http://127.0.0.1:{free_port()}/v1", "sk-up-secret") as a:
        user = await new_account(a.services, credits=1000)
        status, body = await refused(
            a.ws_url + "?model=realtime-mini", additional_headers={"x-api-key": user.key}
        )
        assert (status, body["error"]["code"]) == (502, "upstream_unavailable")
        assert "could not be reached" in body["error"]["message"]
        assert (await a.services.ledger.balance(user.user_id)).available == 1000
        assert [e.kind for e in await a.services.ledger.entries(user.user_id)] == ["topup"]


async def test_upstream_http_error_carries_its_message_without_secrets(tmp_path: Path) -> None:
    b_services = await build_services(tmp_path / "b", fake_engines())
    async for b in serve_app(b_services):
        wrong_key = "sk-gptr2-" + "x" * 43  # B answers 401 invalid_api_key
        async with gateway_to(tmp_path, b.url + "/v1", wrong_key) as a:
            user = await new_account(a.services, credits=1000)
            status, body = await refused(
                a.ws_url + "?model=realtime-pro", additional_headers={"x-api-key": user.key}
            )
            message = body["error"]["message"]
            assert (status, body["error"]["code"]) == (502, "upstream_unavailable")
            assert "HTTP 401" in message and "revoked" in message
            assert wrong_key not in json.dumps(body) and user.key not in json.dumps(body)
            assert (await a.services.ledger.balance(user.user_id)).available == 1000


async def test_slow_upstream_handshake_times_out(tmp_path: Path) -> None:
    # A TCP listener that accepts and never answers the HTTP upgrade.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/v1"
        async with gateway_to(tmp_path, url, "sk-up", upstream_connect_timeout_s=0.5) as a:
            user = await new_account(a.services, credits=1000)
            started = time.monotonic()
            status, body = await refused(
                a.ws_url + "?model=realtime-pro", additional_headers={"x-api-key": user.key}
            )
            assert time.monotonic() - started < 5
            assert (status, body["error"]["code"]) == (504, "upstream_unavailable")
            assert (await a.services.ledger.balance(user.user_id)).available == 1000


async def test_upstream_stopping_mid_session_ends_and_bills_it(tmp_path: Path) -> None:
    b_services = await build_services(tmp_path / "b", fake_engines())
    b_server = cast(AsyncGenerator[LiveServer, None], serve_app(b_services))
    b = await b_server.__anext__()
    up = await new_account(b.services, credits=10_000)
    async with gateway_to(tmp_path, b.url + "/v1", up.key) as a:
        user = await new_account(a.services, credits=10_000)
        started = time.monotonic()
        async with connect(
            a.ws_url + "?model=realtime-mini", additional_headers={"x-api-key": user.key}
        ) as ws:
            assert json.loads(await ws.recv())["type"] == "session.created"
            await asyncio.sleep(1.2)
            await b_server.aclose()  # B shuts down while the session runs
            with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
                while True:
                    await asyncio.wait_for(ws.recv(), 10)
        elapsed = time.monotonic() - started
        # uvicorn closes its sockets with 1012 (service restart) on shutdown: relayed as is.
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012
        charged = await settled(a.services, user.user_id)
        assert 4 * 2 <= charged <= 4 * (int(elapsed) + 1)
        entries = await a.services.ledger.entries(user.user_id)
        capture = next(e for e in entries if e.kind == "capture")
        assert (capture.details or {})["reason"] == "upstream_closed"


async def test_upstream_vanishing_gives_an_error_event(tmp_path: Path) -> None:
    async def vanish(ws: ServerConnection) -> None:
        await ws.send(created_event())
        await asyncio.sleep(0.3)
        ws.transport.abort()  # no close frame: a crash or a network drop

    async with fake_upstream(vanish) as upstream, gateway_to(tmp_path, upstream.url, "k") as a:
        user = await new_account(a.services, credits=1000)
        async with connect(
            a.ws_url + "?model=realtime-pro", additional_headers={"x-api-key": user.key}
        ) as ws:
            assert json.loads(await ws.recv())["type"] == "session.created"
            error = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert_valid(error)
            assert error["error"]["code"] == "upstream_unavailable"
            with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1011
        assert await settled(a.services, user.user_id) == 16  # one started second


async def test_frames_headers_and_close_codes_pass_through(tmp_path: Path) -> None:
    async def echo(ws: ServerConnection) -> None:
        await ws.send(created_event())
        headers = ws.request.headers if ws.request else {}
        # An upstream echoing its credential must not leak it to the client.
        leak = {"type": "error", "event_id": "e", "error": {"type": "x", "code": "y",
                "message": f"seen {headers.get('authorization')}"}}  # fmt: skip
        await ws.send(json.dumps(leak))
        async for frame in ws:
            if frame == "bye":
                await ws.close(4002, "upstream says bye")
                return
            await ws.send(frame)

    async with fake_upstream(echo) as upstream:
        async with gateway_to(tmp_path, upstream.url, "sk-upstream-secret-123") as a:
            user = await new_account(a.services, credits=1000)
            headers = {"Authorization": f"Bearer {user.key}", "OpenAI-Beta": "realtime=v1"}
            async with connect(
                a.ws_url + "?model=gpt-realtime-mini", additional_headers=headers
            ) as ws:
                await ws.recv()
                leaked = await ws.recv()
                assert "sk-upstream-secret-123" not in leaked and "[redacted]" in leaked
                odd = '{"type":"conversation.item.create",  "x": 1}'  # spacing kept verbatim
                await ws.send(odd)
                assert await ws.recv() == odd
                await ws.send(b"\x00\x01")
                assert await ws.recv() == b"\x00\x01"
                await ws.close(4001, "client says bye")
            async with connect(a.ws_url + "?model=realtime-mini", additional_headers=headers) as ws:
                await ws.recv(), await ws.recv()
                await ws.send("bye")
                with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
                    await asyncio.wait_for(ws.recv(), 5)
            assert closed.value.rcvd is not None
            assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4002, "upstream says bye")
        request: dict[str, Any] = upstream.requests[0]
        assert request["path"] == "/v1/realtime?model=gpt-realtime-mini"
        assert request["headers"]["authorization"] == "Bearer sk-upstream-secret-123"
        assert request["headers"]["openai-beta"] == "realtime=v1"
        assert user.key not in json.dumps(upstream.requests)
        assert upstream.closes[0] == (4001, "client says bye")


async def test_running_out_of_credit_closes_the_upstream(pair: Pair) -> None:
    a, b = pair.a.services, pair.b.services
    user = await new_account(a, credits=16 * 6)  # six seconds of realtime-pro
    started = time.monotonic()
    async with connect(
        pair.a.ws_url + "?model=realtime-pro", additional_headers={"x-api-key": user.key}
    ) as ws:
        events = []
        with pytest.raises(websockets.exceptions.ConnectionClosed):
            while True:
                events.append(json.loads(await asyncio.wait_for(ws.recv(), 15)))
    assert time.monotonic() - started < 12
    assert events[-1]["error"]["code"] == "insufficient_credits"
    assert_valid(events[-1])
    assert await settled(a, user.user_id) == 16 * 6
    # B's session ended too: its hold on the upstream account is settled, no slot is held.
    assert await settled(b, pair.upstream_account.user_id) > 0
    assert pair.b.services is b


async def test_client_secret_is_ours_and_its_session_goes_upstream(tmp_path: Path) -> None:
    async def record(ws: ServerConnection) -> None:
        await ws.send(created_event())
        async for frame in ws:
            await ws.send(frame)  # echo: the test reads back what reached the upstream

    async with (
        fake_upstream(record) as upstream,
        gateway_to(tmp_path, upstream.url, "sk-upstream-secret-123") as a,
    ):
        user = await new_account(a.services, credits=1000)
        async with httpx.AsyncClient() as http:
            minted = await http.post(
                a.url + "/v1/realtime/client_secrets",
                headers={"x-api-key": user.key},
                json={"session": {"type": "realtime", "instructions": "Be brief."}},
            )
        assert minted.status_code == 200, minted.text
        secret = minted.json()["value"]
        assert secret.startswith("ek_") and "sk-upstream" not in minted.text
        protocols = ["realtime", f"openai-insecure-api-key.{secret}"]
        async with connect(
            a.ws_url + "?model=realtime-pro",
            subprotocols=protocols,  # type: ignore[arg-type]
        ) as ws:
            assert ws.subprotocol == "realtime"
            assert json.loads(await ws.recv())["type"] == "session.created"
            bound = json.loads(await ws.recv())  # the secret's config, sent first
        assert bound["type"] == "session.update"
        assert bound["session"]["instructions"] == "Be brief."
        assert "model" not in bound["session"]
        headers = upstream.requests[0]["headers"]
        assert headers["authorization"] == "Bearer sk-upstream-secret-123"
        assert secret not in json.dumps(upstream.requests)
        assert await settled(a.services, user.user_id) == 16

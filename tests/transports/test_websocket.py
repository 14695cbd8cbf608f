"""`/v1/realtime` over a real socket with fake engines: admission, the SDK, metering."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
import websockets
from openai import AsyncOpenAI
from websockets.asyncio.client import connect

from tests.support.accounts import new_account
from tests.support.server import LiveServer, refused
from tests.support.validate import assert_valid


async def test_refusals_before_accept(fake_server: LiveServer) -> None:
    svc = fake_server.services
    url = fake_server.ws_url + "?model=realtime-mini"
    status, body = await refused(url)
    assert (status, body["error"]["code"], body["error"]["type"]) == (
        401,
        "unauthorized",
        "authentication_error",
    )
    status, body = await refused(url, additional_headers={"x-api-key": "sk-gptr2-nope"})
    assert (status, body["error"]["code"]) == (401, "invalid_api_key")

    acct = await new_account(svc, credits=10_000)
    headers = {"Authorization": f"Bearer {acct.key}"}
    status, body = await refused(fake_server.ws_url + "?model=gpt-4", additional_headers=headers)
    assert (status, body["error"]["code"]) == (400, "unsupported_model")

    poor = await new_account(svc, credits=19)  # cannot cover 5 s at 4 units/s
    status, body = await refused(url, additional_headers={"x-api-key": poor.key})
    assert (status, body["error"]["code"]) == (402, "insufficient_credits")
    assert (await svc.ledger.balance(poor.user_id)).available == 19

    await svc.keys.revoke(acct.key_id)
    status, body = await refused(url, additional_headers=headers)
    assert (status, body["error"]["code"]) == (401, "invalid_api_key")


async def test_browser_style_subprotocol_key(fake_server: LiveServer) -> None:
    acct = await new_account(fake_server.services, credits=1000)
    protocols = ["realtime", f"openai-insecure-api-key.{acct.key}"]
    async with connect(
        fake_server.ws_url + "?model=gpt-realtime-mini",
        subprotocols=protocols,  # type: ignore[arg-type]
    ) as ws:
        assert ws.subprotocol == "realtime"
        created = json.loads(await ws.recv())
        assert created["type"] == "session.created"
        assert_valid(created)


async def test_sdk_text_turn_and_exact_metering(fake_server: LiveServer) -> None:
    svc = fake_server.services
    acct = await new_account(svc, credits=10_000)
    client = AsyncOpenAI(base_url=fake_server.url + "/v1", api_key=acct.key)
    seen: list[str] = []
    started = time.monotonic()
    async with client.realtime.connect(model="realtime-mini") as conn:
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
        assert (await svc.ledger.balance(acct.user_id)).held > 0
    elapsed = time.monotonic() - started
    assert seen[0] == "session.created" and "response.output_text.delta" in seen
    for _ in range(50):  # the server settles right after the socket closes
        balance = await svc.ledger.balance(acct.user_id)
        if balance.held == 0:
            break
        await asyncio.sleep(0.05)
    charged = 10_000 - balance.available
    assert balance.held == 0
    assert charged % 4 == 0 and 4 <= charged <= 4 * (int(elapsed) + 2)
    projection, sums = await svc.ledger.reconcile(acct.user_id)
    assert projection == sums


async def test_bad_frames_keep_the_session_usable(fake_server: LiveServer) -> None:
    acct = await new_account(fake_server.services, credits=1000)
    async with connect(
        fake_server.ws_url + "?model=realtime-pro", additional_headers={"x-api-key": acct.key}
    ) as ws:
        json.loads(await ws.recv())  # session.created
        for frame in ["{not json", json.dumps({"type": "nope", "event_id": "e1"}), b"\x00\xff"]:
            await ws.send(frame)
            error = json.loads(await ws.recv())
            assert error["type"] == "error", error
            assert_valid(error)
        await ws.send(json.dumps({"type": "input_audio_buffer.clear", "event_id": "e2"}))
        assert json.loads(await ws.recv())["type"] == "input_audio_buffer.cleared"


async def test_session_closes_when_credit_runs_out(fake_server: LiveServer) -> None:
    svc = fake_server.services
    acct = await new_account(svc, credits=24)  # 6 s at 4 units/s
    started = time.monotonic()
    async with connect(
        fake_server.ws_url + "?model=realtime-mini", additional_headers={"x-api-key": acct.key}
    ) as ws:
        events = []
        with pytest.raises(websockets.exceptions.ConnectionClosed):
            while True:
                events.append(json.loads(await asyncio.wait_for(ws.recv(), 15)))
    assert time.monotonic() - started < 12
    assert events[-1]["type"] == "error"
    assert events[-1]["error"]["code"] == "insufficient_credits"
    await asyncio.sleep(0.2)
    balance = await svc.ledger.balance(acct.user_id)
    assert (balance.available, balance.held) == (0, 0)

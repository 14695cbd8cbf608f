"""The reported attack over a real socket: a realtime conversation took items of any size
and count (60 × 5 MB grew the server by 460 MB). Items over the limits are refused with
an `error` event, the session stays open, and the limits follow the settings."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.support.accounts import new_account
from tests.support.fakes import fake_engines
from tests.support.server import LiveServer, build_services, serve_app


@pytest.fixture
async def small_conversations(tmp_path: Path) -> AsyncIterator[LiveServer]:
    svc = await build_services(tmp_path, fake_engines(), max_conversation_items=3)
    async for server in serve_app(svc):
        yield server


def _item(text: str) -> str:
    content = [{"type": "input_text", "text": text}]
    item = {"type": "message", "role": "user", "content": content}
    return json.dumps({"type": "conversation.item.create", "item": item})


async def _next(ws: ClientConnection, *kinds: str) -> dict[str, Any]:
    while True:
        event: dict[str, Any] = json.loads(await ws.recv())
        if event["type"] in kinds:
            return event


async def test_large_and_excess_items_are_refused(small_conversations: LiveServer) -> None:
    acct = await new_account(small_conversations.services, credits=10_000)
    url = small_conversations.ws_url + "?model=realtime-mini"
    async with connect(url, additional_headers={"x-api-key": acct.key}, max_size=None) as ws:
        await _next(ws, "session.created")
        for _ in range(3):
            await ws.send(_item("x" * (5 * 1024 * 1024)))
            error = (await _next(ws, "error", "conversation.item.added"))["error"]
            assert (error["code"], error["param"]) == ("item_too_large", "item.content.0.text")
        for n in range(3):
            await ws.send(_item(f"small {n}"))
            assert (await _next(ws, "error", "conversation.item.added"))["type"] != "error"
        await ws.send(_item("one too many"))
        error = (await _next(ws, "error", "conversation.item.added"))["error"]
        assert (error["code"], error["param"]) == ("conversation_full", "item")
        await ws.send(json.dumps({"type": "session.update", "session": {"type": "realtime"}}))
        assert (await _next(ws, "error", "session.updated"))["type"] == "session.updated"

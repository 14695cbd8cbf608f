"""Soak clients: a metered realtime WebSocket session, a Starter Voice pipeline request,
and a cheap authenticated GET. Each returns an outcome label; nothing here raises, so one
client's trouble never stops the run."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx
import websockets
from websockets.asyncio.client import connect

# Refusals the server makes on purpose (limits, credit) — not errors.
BY_DESIGN = {429, 402, 503}


@dataclass
class Tally:
    outcomes: Counter[str] = field(default_factory=Counter)
    pipeline_credits: int = 0  # what successful pipeline replies said they charged
    session_seconds: float = 0.0

    def add(self, label: str) -> None:
        self.outcomes[label] += 1

    def errors(self) -> int:
        return sum(n for k, n in self.outcomes.items() if k.startswith("error"))


async def realtime_session(
    ws_url: str, key: str, tally: Tally, *, turns: int, rng: random.Random
) -> None:
    started = time.monotonic()
    try:
        async with connect(
            ws_url + "?model=realtime-mini", additional_headers={"x-api-key": key}, open_timeout=20
        ) as ws:
            created = json.loads(await ws.recv())
            if created.get("type") != "session.created":
                tally.add("error:ws_first_event")
                return
            for _ in range(turns):
                item = {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": "hello"}],
                }
                await ws.send(json.dumps({"type": "conversation.item.create", "item": item}))
                await ws.send(json.dumps({"type": "response.create"}))
                async with asyncio.timeout(30):
                    while True:
                        event = json.loads(await ws.recv())
                        if event["type"] == "error":
                            tally.add(f"error:ws_event:{event['error'].get('code')}")
                            return
                        if event["type"] == "response.done":
                            break
                await asyncio.sleep(rng.uniform(0.0, 0.5))
        tally.add("ws_ok")
        tally.session_seconds += time.monotonic() - started
    except websockets.exceptions.InvalidStatus as exc:
        status = exc.response.status_code
        tally.add(f"refused:{status}" if status in BY_DESIGN else f"error:ws_status:{status}")
    except (OSError, websockets.exceptions.WebSocketException, TimeoutError) as exc:
        tally.add(f"cut:ws:{type(exc).__name__}")  # the server went away (a fault)


async def pipeline_request(http: httpx.AsyncClient, key: str, tally: Tally) -> None:
    try:
        reply = await http.post(
            "/api/realtime2/pipeline",
            headers={"x-api-key": key},
            data={"model": "starter-voice", "text": "what time is it"},
        )
    except httpx.TransportError as exc:
        tally.add(f"cut:http:{type(exc).__name__}")
        return
    if reply.status_code == 200:
        tally.add("pipeline_ok")
        tally.pipeline_credits += int(reply.json()["usage"]["credits"])
    elif reply.status_code in BY_DESIGN:
        tally.add(f"refused:{reply.status_code}")
    else:
        tally.add(f"error:pipeline:{reply.status_code}")


async def account_get(http: httpx.AsyncClient, key: str, tally: Tally) -> None:
    try:
        reply = await http.get("/api/realtime2/me", headers={"x-api-key": key})
    except httpx.TransportError as exc:
        tally.add(f"cut:http:{type(exc).__name__}")
        return
    if reply.status_code == 200:
        tally.add("http_ok")
    elif reply.status_code in BY_DESIGN:
        tally.add(f"refused:{reply.status_code}")
    else:
        tally.add(f"error:http:{reply.status_code}")

"""Two realtime2 servers on loopback: A (the gateway) with B as its upstream.

B runs fake engines in-process; A's sessions for mapped models are relayed to B with an
API key that belongs to B's "upstream" account, never to A's users. `fake_upstream` is a
scriptable Realtime peer for the failure cases a real server will not produce on demand.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.asyncio.server import ServerConnection, serve

from tests.support.accounts import Account
from tests.support.fakes import fake_engines
from tests.support.server import LiveServer, build_services, serve_app

MODELS = "realtime-pro=realtime-pro,realtime-mini=gpt-realtime-mini"


@dataclass
class Pair:
    a: LiveServer
    b: LiveServer
    upstream_account: Account  # B's account whose key A uses


@asynccontextmanager
async def gateway_to(
    tmp_path: Path, upstream_url: str, upstream_key: str, **settings: object
) -> AsyncIterator[LiveServer]:
    """Server A in front of `upstream_url` (its own fake engines serve unmapped models)."""
    svc = await build_services(
        tmp_path / "a",
        fake_engines(),
        upstream_url=upstream_url,
        upstream_api_key=upstream_key,
        upstream_models=settings.pop("upstream_models", MODELS),
        **settings,
    )
    async for live in serve_app(svc):
        yield live


Handler = Callable[[ServerConnection], Awaitable[None]]


@dataclass
class FakeUpstream:
    url: str  # API base, as REALTIME2_UPSTREAM_URL
    requests: list[dict[str, Any]] = field(default_factory=list)
    received: list[str] = field(default_factory=list)
    closes: list[tuple[int | None, str]] = field(default_factory=list)


@asynccontextmanager
async def fake_upstream(handler: Handler) -> AsyncIterator[FakeUpstream]:
    """A websockets server at `/v1/realtime` that records each handshake and runs `handler`."""
    state = FakeUpstream("")

    async def run(ws: ServerConnection) -> None:
        assert ws.request is not None
        state.requests.append({"path": ws.request.path, "headers": dict(ws.request.headers)})
        try:
            await handler(ws)
        finally:
            if ws.close_code is not None:
                state.closes.append((ws.close_code, ws.close_reason or ""))

    async with serve(run, "127.0.0.1", 0, compression=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        state.url = f"http://127.0.0.1:{port}/v1"
        yield state


def created_event() -> str:
    return json.dumps(
        {
            "type": "session.created",
            "event_id": "event_up_1",
            "session": {"type": "realtime", "id": "sess_up", "object": "realtime.session"},
        }
    )

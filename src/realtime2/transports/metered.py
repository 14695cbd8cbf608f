"""The metered life of one accepted realtime socket, shared by `/v1/realtime` and
`/v1/realtime/translations`: reserve credit (in gateway mode, only once the upstream has
accepted the session, so a failed start costs nothing), accept, then relay to the upstream
or serve locally, and settle the meter however the session ends."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

from fastapi import WebSocket
from starlette.websockets import WebSocketDisconnect

from realtime2.accounts.ledger import InsufficientCreditsError
from realtime2.accounts.metering import SessionMeter
from realtime2.edge.admission import (
    insufficient_credits,
    refuse_handshake,
    selected_subprotocol,
)
from realtime2.edge.drain import SHUTDOWN_MESSAGE, Drain
from realtime2.edge.frames import frame_payload, stop_and_close
from realtime2.errors import ApiError
from realtime2.gateway.relay import Relay
from realtime2.gateway.session import check_start_credit, open_upstream_session
from realtime2.gateway.upstream import Upstream
from realtime2.protocol.server_events import error_event

log = logging.getLogger(__name__)
ServeLocally = Callable[[], Awaitable[None]]


async def run_metered(
    websocket: WebSocket,
    meter: SessionMeter,
    serve_locally: ServeLocally,
    *,
    upstream: Upstream | None = None,
    their_model: str | None = None,
    upstream_path: str = "realtime",
    first_upstream_events: list[str] | None = None,
) -> None:
    """Relayed when `upstream` and `their_model` are given, else `serve_locally()`."""
    upstream_socket = None
    try:
        if upstream is not None and their_model is not None:
            await check_start_credit(meter)
            upstream_socket = await open_upstream_session(
                upstream, their_model, websocket, path=upstream_path
            )
        await meter.start()
    except (InsufficientCreditsError, ApiError) as exc:
        if upstream_socket is not None:
            await upstream_socket.close()
        await refuse_handshake(
            websocket, exc if isinstance(exc, ApiError) else insufficient_credits()
        )
        return
    reason = "closed"
    try:
        await websocket.accept(subprotocol=selected_subprotocol(websocket))
        if upstream is not None and upstream_socket is not None and their_model is not None:
            relay = Relay(websocket, upstream_socket, meter, upstream, their_model=their_model)
            reason = (await relay.run(first_upstream_events)).reason
        else:
            await serve_locally()
    finally:
        if upstream_socket is not None:  # closed already unless accept() failed
            await upstream_socket.close()
        await meter.settle(reason=reason)


class Runner(Protocol):
    """What `pump` drives: the realtime `SessionRunner` or the `TranslationRunner`."""

    def start(self) -> None: ...

    async def feed_text(self, text: str | bytes) -> None: ...

    def events(self) -> AsyncIterator[dict[str, Any]]: ...

    async def close(self) -> None: ...


async def pump(
    websocket: WebSocket,
    runner: Runner,
    meter: SessionMeter,
    *,
    inbound: Callable[[str | bytes], str | bytes] | None = None,
    outbound: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None,
    ended: asyncio.Event | None = None,
) -> None:
    """Client frames into the runner, its events out, the meter renewing alongside; returns
    when the client leaves, the runner ends (`ended`) or the credit runs out, with every
    task stopped and the socket closed. `inbound`/`outbound` map frames at the edge (beta
    event names); `outbound` returning None drops an event."""
    send_lock = asyncio.Lock()

    async def send(message: dict[str, Any]) -> None:
        async with send_lock:
            await websocket.send_text(json.dumps(message, separators=(",", ":")))

    async def read() -> None:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            data = frame_payload(message)
            await runner.feed_text(inbound(data) if inbound else data)

    async def write() -> None:
        async for event in runner.events():
            out = outbound(event) if outbound else event
            if out is not None:
                await send(out)

    async def shutting_down(drain: Drain) -> None:
        await drain.started.wait()
        await send(error_event("server_shutting_down", SHUTDOWN_MESSAGE, error_type="server_error"))

    async def meter_credit() -> None:
        await meter.keep_alive()
        # The reserve is spent and cannot be renewed, or the key was revoked: tell the
        # client, then end cleanly.
        await send(
            error_event(
                meter.stop_code,
                f"{meter.stop_message}; the session is closing.",
                error_type=meter.stop_code,
            )
        )

    runner.start()
    tasks: set[asyncio.Task[Any]] = {
        asyncio.create_task(read(), name="socket-read"),
        asyncio.create_task(write(), name="socket-write"),
        asyncio.create_task(meter_credit(), name="socket-meter"),
    }
    if ended is not None:
        tasks.add(asyncio.create_task(ended.wait(), name="runner-ended"))
    drain: Drain | None = getattr(websocket.app.state, "drain", None)
    if drain is not None:
        tasks.add(asyncio.create_task(shutting_down(drain), name="socket-drain"))
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            exc = None if task.cancelled() else task.exception()
            if exc is not None and not isinstance(exc, WebSocketDisconnect):
                log.warning("session error: %s", type(exc).__name__)
    finally:
        await runner.close()
        await stop_and_close(tasks, websocket)

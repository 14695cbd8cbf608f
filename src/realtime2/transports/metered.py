"""The metered life of one accepted realtime socket, shared by `/v1/realtime` and
`/v1/realtime/translations`: reserve credit (in gateway mode, only once the upstream has
accepted the session, so a failed start costs nothing), accept, then relay to the upstream
or serve locally, and settle the meter however the session ends."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import WebSocket

from realtime2.accounts.ledger import InsufficientCreditsError
from realtime2.accounts.metering import SessionMeter
from realtime2.errors import ApiError
from realtime2.gateway.relay import Relay
from realtime2.gateway.session import check_start_credit, open_upstream_session
from realtime2.gateway.upstream import Upstream
from realtime2.transports.admission import (
    insufficient_credits,
    refuse_handshake,
    selected_subprotocol,
)

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

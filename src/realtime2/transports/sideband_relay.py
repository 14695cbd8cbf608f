"""`GET /v1/realtime?call_id=…` on any replica: the sideband of a call that runs here is
served here (`transports.webrtc.sideband`); one that another replica runs is accepted here
and relayed to it over the call bus (`calls.bus`, `calls.relay`).

The relayed socket is admitted like a local one (the call owner's API key or login, never
a client secret; a session slot here), then the owner is asked to open its end: it checks
the call and its user again and starts sending the call's server events. Client events go
to the owner, server events come back, each side bounded. Closing either side closes the
other; the call ending closes the socket as it does locally; the owner dying, falling
silent, or the relay not keeping up sends an `error` event that says so and closes it.
Without Redis, a call on another replica is refused 409 `call_on_other_replica`.
"""

from __future__ import annotations

import asyncio
import json
from typing import Final

from fastapi import WebSocket

from realtime2.calls.base import call_not_found
from realtime2.calls.bus import SIDEBAND
from realtime2.calls.lookup import RemoteCall, running_elsewhere
from realtime2.calls.open import registry_of
from realtime2.calls.records import CallRecords
from realtime2.calls.relay import (
    MAX_PAYLOAD,
    PEER_CLOSED,
    PEER_LOST,
    SHUTDOWN,
    TOO_SLOW,
    RelayEnd,
    fits,
)
from realtime2.edge.admission import refuse_handshake, selected_subprotocol
from realtime2.edge.auth import Principal
from realtime2.edge.drain import SHUTDOWN_MESSAGE, Drain
from realtime2.edge.frames import frame_payload, stop_and_close
from realtime2.edge.handshake import admit_socket
from realtime2.errors import ApiError
from realtime2.protocol.server_events import error_event
from realtime2.state import services_of
from realtime2.transports.webrtc.sideband import attach_sideband

OPEN_TIMEOUT_SECONDS: Final = 5.0
# What the client is told when the relay closes for a reason other than the call ending.
CLOSE_ERRORS: Final = {
    PEER_LOST: (
        "call_owner_lost",
        "The server replica running the call stopped answering; the sideband is closed.",
    ),
    TOO_SLOW: (
        "sideband_too_slow",
        "The sideband did not keep up with the call's events; it is closed.",
    ),
    SHUTDOWN: ("server_shutting_down", SHUTDOWN_MESSAGE),
}


async def attach_call_socket(websocket: WebSocket, call_id: str) -> None:
    if registry_of(websocket).get(call_id) is not None:
        await attach_sideband(websocket, call_id)
        return
    record = await CallRecords(services_of(websocket).db).get(call_id)
    if record is None or record.status != "active":
        await attach_sideband(websocket, call_id)  # refused 404 once authenticated
        return
    remote: list[RemoteCall] = []

    def owned_elsewhere(principal: Principal) -> None:
        if principal.user_id != record.user_id:
            raise call_not_found(call_id)
        # 404 if this process lost it, 409 without the call bus.
        remote.append(running_elsewhere(websocket, record))

    async with admit_socket(websocket, allow_client_secret=False, authorize=owned_elsewhere) as ok:
        if ok is not None:
            await _relay(websocket, remote[0])


async def _relay(websocket: WebSocket, remote: RemoteCall) -> None:
    try:
        end = remote.bus.open_relay(remote.record.replica)
    except ApiError as error:
        await refuse_handshake(websocket, error)
        return
    try:
        await remote.command(SIDEBAND, {"relay": end.id}, within=OPEN_TIMEOUT_SECONDS)
    except ApiError as error:
        await end.close(PEER_CLOSED)  # in case the owner opened its end after all
        await refuse_handshake(websocket, error)
        return
    await websocket.accept(subprotocol=selected_subprotocol(websocket))
    await _pump(websocket, end)


async def _pump(websocket: WebSocket, end: RelayEnd) -> None:
    async def read() -> str:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return PEER_CLOSED
            payload = frame_payload(message)
            if not fits(payload):
                await _send_error(
                    websocket,
                    "event_too_large",
                    f"A client event of {len(payload)} characters is too large to relay to "
                    f"the replica running the call (at most {MAX_PAYLOAD}); it was dropped.",
                )
            elif not await end.send(payload):
                return end.reason or PEER_LOST

    async def write() -> str:
        while (payload := await end.receive()) is not None:
            if isinstance(payload, str):
                await websocket.send_text(payload)
            else:
                await websocket.send_bytes(payload)
        return end.reason or PEER_CLOSED

    async def drained() -> str:
        drain: Drain | None = getattr(websocket.app.state, "drain", None)
        if drain is None:
            await asyncio.Event().wait()
        else:
            await drain.started.wait()
        return SHUTDOWN

    tasks = [asyncio.create_task(f()) for f in (read, write, drained)]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        first = next(iter(done))
        reason = first.result() if first.exception() is None else PEER_CLOSED
        if reason in CLOSE_ERRORS:  # the call ending closes quietly, as a local sideband
            await _send_error(websocket, *CLOSE_ERRORS[reason])
    finally:
        await end.close(PEER_CLOSED)  # tells the owner, unless it closed first
        await stop_and_close(tasks, websocket)


async def _send_error(websocket: WebSocket, code: str, message: str) -> None:
    event = error_event(code, message, error_type="server_error")
    try:
        await websocket.send_text(json.dumps(event, separators=(",", ":")))
    except Exception:  # the socket is already gone: nobody to tell
        return

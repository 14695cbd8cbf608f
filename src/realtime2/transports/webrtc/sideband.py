"""`GET /v1/realtime?call_id=…`: a server-side "sideband" WebSocket on a running call.

The call's owner (an API key or login; not a browser's client secret) sees every server
event of the call from now on and may send client events into it, e.g. to update
instructions or handle tool calls while the browser holds the media. Leaving does not end
the call; the call ending closes the socket. Each sideband holds a session slot (it is a
live socket with its own event queue), so the per-user and per-process limits count it.
"""

from __future__ import annotations

import asyncio
import json

from fastapi import WebSocket

from realtime2.calls.base import Call
from realtime2.calls.open import registry_of
from realtime2.errors import ApiError
from realtime2.http.auth import authenticate, services_of
from realtime2.transports.admission import SessionSlots, refuse_handshake, selected_subprotocol
from realtime2.transports.frames import frame_payload, stop_and_close


async def attach_sideband(websocket: WebSocket, call_id: str) -> None:
    try:
        principal = await authenticate(websocket)
        call = registry_of(websocket).get(call_id)
        if call is None or call.user_id != principal.user_id or call.ended.is_set():
            raise ApiError(404, "call_not_found", f"No running call with id '{call_id[:64]}'.")
        user = await services_of(websocket).users.get(principal.user_id)
        slots: SessionSlots = websocket.app.state.session_slots
        slots.acquire(principal.user_id, user.max_sessions if user else None)
    except ApiError as error:
        await refuse_handshake(websocket, error)
        return
    try:
        await _serve(websocket, call)
    finally:
        slots.release(principal.user_id)


async def _serve(websocket: WebSocket, call: Call) -> None:
    events = call.subscribe()
    await websocket.accept(subprotocol=selected_subprotocol(websocket))

    async def read() -> None:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            await call.send_client_event(frame_payload(message))

    async def write() -> None:
        while (event := await events.get()) is not None:
            await websocket.send_text(json.dumps(event, separators=(",", ":")))

    tasks = [asyncio.create_task(read()), asyncio.create_task(write())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        call.unsubscribe(events)
        await stop_and_close(tasks, websocket)

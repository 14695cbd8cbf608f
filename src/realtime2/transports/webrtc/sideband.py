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
from realtime2.edge.admission import selected_subprotocol
from realtime2.edge.auth import Principal
from realtime2.edge.frames import frame_payload, stop_and_close
from realtime2.edge.handshake import admit_socket
from realtime2.errors import ApiError


async def attach_sideband(websocket: WebSocket, call_id: str) -> None:
    found: list[Call] = []

    def owned_call(principal: Principal) -> None:
        call = registry_of(websocket).get(call_id)
        if call is None or call.user_id != principal.user_id or call.ended.is_set():
            raise ApiError(404, "call_not_found", f"No running call with id '{call_id[:64]}'.")
        found.append(call)

    # No client secret: a sideband is the call owner's server, not the browser.
    async with admit_socket(websocket, allow_client_secret=False, authorize=owned_call) as ok:
        if ok is not None:
            await _serve(websocket, found[0])


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

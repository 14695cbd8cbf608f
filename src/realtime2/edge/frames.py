"""The edges of a realtime socket's read/write loops: what a client's frame carries, and
stopping the loops and closing the socket.

The realtime sockets read raw messages (not `receive_text`) so that one loop sees text
frames, binary frames and the disconnect alike.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Mapping
from typing import Any

from starlette.websockets import WebSocket, WebSocketState


def frame_payload(message: Mapping[str, Any]) -> str | bytes:
    """A `websocket.receive` message's text, else its bytes (empty if it has neither)."""
    text = message.get("text")
    return text if text is not None else message.get("bytes") or b""


async def stop_and_close(tasks: Iterable[asyncio.Task[Any]], websocket: WebSocket) -> None:
    """Cancel the socket's loops, wait for them, and close the socket if still open."""
    tasks = list(tasks)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    if websocket.client_state == WebSocketState.CONNECTED:
        with contextlib.suppress(Exception):
            await websocket.close(code=1000)

"""What a client's WebSocket frame carries, read from Starlette's raw `receive()` message.

The realtime sockets read raw messages (not `receive_text`) so that one loop sees text
frames, binary frames and the disconnect alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def frame_payload(message: Mapping[str, Any]) -> str | bytes:
    """A `websocket.receive` message's text, else its bytes (empty if it has neither)."""
    text = message.get("text")
    return text if text is not None else message.get("bytes") or b""

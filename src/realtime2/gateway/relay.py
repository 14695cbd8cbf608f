"""Relaying one client's Realtime WebSocket session to the upstream and back.

Frames pass through untouched in both directions (no JSON round trip): the only work per
upstream frame is a substring test for `response.done` (its usage is summed for the
ledger) and one for the upstream key (it must never reach a client, even if echoed).
The session is metered like a local one; the first of these ends it:

- the client leaves → the upstream is closed with the client's code and reason;
- the upstream closes → the client gets the same code and reason; an upstream that
  vanishes without a close frame becomes an `upstream_unavailable` error event and 1011;
- the credit runs out → an `insufficient_credits` error event, then both are closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass
from typing import Any

from starlette.websockets import WebSocket, WebSocketState
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from realtime2.accounts.metering import SessionMeter
from realtime2.edge.drain import SHUTDOWN_MESSAGE, Drain
from realtime2.edge.frames import frame_payload
from realtime2.gateway.upstream import Upstream
from realtime2.gateway.usage import UsageTally
from realtime2.protocol.server_events import error_event

log = logging.getLogger(__name__)

# Close codes an endpoint may put in a close frame (RFC 6455 §7.4; 1005/1006/1015 are
# reserved for reporting and 1004 is undefined).
_RESERVED_CODES = {1004, 1005, 1006, 1015}
CLOSE_WAIT_SECONDS = 5.0


def sendable_code(code: int | None, default: int = 1000) -> int:
    if code is None or code in _RESERVED_CODES or not 1000 <= code <= 4999:
        return default
    return code


@dataclass(frozen=True)
class Ending:
    reason: str  # recorded on the settling ledger entry
    code: int = 1000
    message: str = ""


class Relay:
    def __init__(
        self,
        client: WebSocket,
        upstream_socket: ClientConnection,
        meter: SessionMeter,
        upstream: Upstream,
        *,
        their_model: str,
    ) -> None:
        self.client = client
        self.up = upstream_socket
        self.meter = meter
        self.upstream = upstream
        self.usage = UsageTally()
        self._secret = upstream.api_key.get_secret_value() if upstream.api_key else ""
        self._send_lock = asyncio.Lock()
        meter.details["upstream_model"] = their_model
        meter.details["upstream_usage"] = self.usage.as_details()

    async def run(self, first_events: list[str] | None = None) -> Ending:
        """Pump until one side ends; close both; return how the session ended."""
        try:
            for event in first_events or []:  # e.g. a client secret's bound session config
                await self.up.send(event)
        except ConnectionClosed:
            pass
        tasks = {
            asyncio.create_task(self._client_to_upstream(), name="relay-in"),
            asyncio.create_task(self._upstream_to_client(), name="relay-out"),
            asyncio.create_task(self._meter_credit(), name="relay-meter"),
        }
        drain: Drain | None = getattr(self.client.app.state, "drain", None)
        if drain is not None:  # SIGTERM: end with an event, like local sessions
            tasks.add(asyncio.create_task(self._shutting_down(drain), name="relay-drain"))
        ending = Ending("closed")
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task.cancelled():
                    continue
                exc = task.exception()
                if exc is None:
                    ending = task.result()
                    break
                log.warning("relay error: %s", type(exc).__name__)
                ending = Ending("relay_error", 1011, "relay error")
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.meter.details["upstream_usage"] = self.usage.as_details()
            await self._close_both(ending)
        return ending

    # --- the three pumps ---------------------------------------------------------------

    async def _client_to_upstream(self) -> Ending:
        while True:
            message = await self.client.receive()
            if message["type"] == "websocket.disconnect":
                code = message.get("code")
                return Ending("client_closed", sendable_code(code), message.get("reason") or "")
            try:
                await self.up.send(frame_payload(message))
            except ConnectionClosed:
                return self._upstream_ended()

    async def _upstream_to_client(self) -> Ending:
        secret = self._secret
        try:
            async for frame in self.up:
                if isinstance(frame, str):
                    self.usage.observe(frame)
                    if secret and secret in frame:
                        frame = frame.replace(secret, "[redacted]")
                    async with self._send_lock:
                        await self.client.send_text(frame)
                else:
                    async with self._send_lock:
                        await self.client.send_bytes(frame)
        except ConnectionClosed:
            pass
        return self._upstream_ended()

    async def _shutting_down(self, drain: Drain) -> Ending:
        await drain.started.wait()
        await self._send_event(
            error_event("server_shutting_down", SHUTDOWN_MESSAGE, error_type="server_error")
        )
        return Ending("server_shutdown", 1001, "server_shutting_down")

    async def _meter_credit(self) -> Ending:
        await self.meter.keep_alive()
        code = self.meter.stop_code  # insufficient_credits, or api_key_revoked
        await self._send_event(
            error_event(
                code, f"{self.meter.stop_message}; the session is closing.", error_type=code
            )
        )
        return Ending(code, 1000, code)

    # --- endings -----------------------------------------------------------------------

    def _upstream_ended(self) -> Ending:
        received = self.up.protocol.close_rcvd
        if received is None:  # no close frame: the upstream died or the network dropped
            return Ending("upstream_lost", 1011, "upstream_unavailable")
        return Ending("upstream_closed", sendable_code(received.code), received.reason)

    async def _close_both(self, ending: Ending) -> None:
        if ending.reason == "upstream_lost":
            with contextlib.suppress(Exception):
                await self._send_event(
                    error_event(
                        "upstream_unavailable",
                        "The connection to the upstream was lost; the session has ended.",
                        error_type="server_error",
                    )
                )
        # The upstream hears the client's own close; otherwise we are the ones leaving.
        if ending.reason == "client_closed":
            code, message = ending.code, ending.message
        else:
            code, message = 1000, ""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.up.close(code, message), CLOSE_WAIT_SECONDS)
        if self.client.client_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await self.client.close(code=ending.code, reason=ending.message[:120])

    async def _send_event(self, event: dict[str, Any]) -> None:
        async with self._send_lock:
            await self.client.send_text(json.dumps(event, separators=(",", ":")))

"""A WebRTC call served by the upstream, metered through a sideband WebSocket.

The client's media and data channel go straight to the upstream (it answered the offer);
realtime2 holds a sideband socket on the call (`{upstream}/realtime?call_id=…`, with the
upstream key) from creation to hang-up. That socket is the call's lifeline:

- the upstream closes it (the call ended there: the peer left, it expired, it was hung
  up on the upstream) → the call ends here and settles;
- hang-up through realtime2, credit running out or shutdown → the hang-up is forwarded
  (`POST {upstream}/realtime/calls/{id}/hangup`), then the socket closes and it settles.

Server events read from it feed the token usage tally (`response.done`) and any client
sidebands attached here; client sidebands' events are sent up through it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Final

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from realtime2.accounts.ledger import Ledger
from realtime2.accounts.metering import SessionMeter
from realtime2.calls.base import CallBase
from realtime2.gateway.call_http import hang_up_upstream_call
from realtime2.gateway.upstream import Upstream
from realtime2.gateway.usage import UsageTally

log = logging.getLogger(__name__)

# After a forwarded hang-up, how long the upstream gets to close the sideband itself.
CLOSE_WAIT_SECONDS: Final = 5.0


class UpstreamCall(CallBase):
    def __init__(
        self,
        *,
        call_id: str,
        upstream_call_id: str,
        user_id: int,
        tier: str,
        meter: SessionMeter,
        ledger: Ledger,
        upstream: Upstream,
        socket: ClientConnection,
        their_model: str,
        on_end: Callable[[UpstreamCall], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__(
            call_id=call_id, user_id=user_id, tier=tier, meter=meter, ledger=ledger, on_end=on_end
        )
        self.upstream_call_id = upstream_call_id
        self.upstream = upstream
        self.socket = socket
        self.usage = UsageTally()
        self._secret = upstream.api_key.get_secret_value() if upstream.api_key else ""
        self._supervisor: asyncio.Task[None] | None = None
        meter.details["upstream_model"] = their_model
        meter.details["upstream_usage"] = self.usage.as_details()

    def start(self) -> None:
        """Run until the call ends (see `ended`); the meter must have started."""
        self._supervisor = asyncio.get_running_loop().create_task(self._run())

    # --- the call interface ------------------------------------------------------------

    async def send_client_event(self, message: str | bytes) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self.socket.send(message)

    # --- running -----------------------------------------------------------------------

    async def _run(self) -> None:
        reader = asyncio.create_task(self._read_upstream(), name="upstream-call-read")
        metering = asyncio.create_task(self._keep_metering(), name="upstream-call-meter")
        ending = asyncio.create_task(self._wait_ending(), name="upstream-call-ending")
        try:
            await asyncio.wait({reader, metering, ending}, return_when=asyncio.FIRST_COMPLETED)
            for task in (reader, metering):
                if task.done() and not task.cancelled() and task.exception() is not None:
                    log.warning("call %s: %s: %r", self.id, task.get_name(), task.exception())
                    self._end("error")
            metering.cancel()
            ending.cancel()
            if not reader.done():  # ended here: the upstream must hear of it
                await hang_up_upstream_call(self.upstream, self.upstream_call_id)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(reader), CLOSE_WAIT_SECONDS)
        finally:
            for task in (reader, metering, ending):
                task.cancel()
            await asyncio.gather(reader, metering, ending, return_exceptions=True)
            await self._finish()

    async def _wait_ending(self) -> None:
        await self._ending.wait()

    async def _read_upstream(self) -> None:
        secret = self._secret
        try:
            async for frame in self.socket:
                if not isinstance(frame, str):
                    continue  # a call's sideband carries JSON events only
                self.usage.observe(frame)
                if secret and secret in frame:
                    frame = frame.replace(secret, "[redacted]")
                if self._sidebands:
                    self._deliver(frame)
        except ConnectionClosed:
            pass
        if self.socket.protocol.close_rcvd is None:  # no close frame: the upstream vanished
            self._end("upstream_lost")
        else:
            self._end("upstream_closed")

    async def _keep_metering(self) -> None:
        await self.meter.keep_alive()
        code = self.meter.stop_code  # insufficient_credits, or api_key_revoked
        log.info("call %s: %s; hanging up upstream", self.id, code)
        self._end(code)

    def _deliver(self, frame: str) -> None:
        try:
            event = json.loads(frame)
        except ValueError:
            return
        if not isinstance(event, dict):
            return
        self._publish(event)

    async def _finish(self) -> None:
        log.info("call %s ending (%s)", self.id, self.end_reason)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.socket.close(), CLOSE_WAIT_SECONDS)
        try:
            self.meter.details["upstream_usage"] = self.usage.as_details()
            await self.meter.settle(reason=self.end_reason or "closed")
        finally:
            await self._close_out()

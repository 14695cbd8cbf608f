"""One phone call over SIP: ringing until the application decides, then a `SessionRunner`
on the call's RTP leg.

Ringing: the INVITE was answered 100/180 and a `realtime.call.incoming` webhook sent; the
call waits for `accept` (200 OK with our SDP answer), `reject` (the given SIP status), a
CANCEL from the caller (487) or the ring timeout (480). Nothing is metered while ringing.

Answered: inbound RTP → `runner.feed_audio` (8 kHz); `runner.audio_out()` → the leg's
20 ms packets; key presses → `input_audio_buffer.dtmf_event_received`. Every server event
goes to the sideband sockets (`/v1/realtime?call_id=…`); client events come from them. The
call is metered per second from the answer until it ends: a BYE either way, `/hangup`, no
RTP for `rtp_timeout` seconds, credit running out (an `insufficient_credits` error event,
then BYE) or the session's own expiry. However it ends, every task is cancelled, the runner
and RTP socket closed and the meter settled, once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Final

from realtime2.accounts.ledger import Ledger
from realtime2.accounts.metering import SessionMeter
from realtime2.calls.base import CallBase, Event
from realtime2.realtime.runner import SessionRunner
from realtime2.transports.sip.dialog import Dialog
from realtime2.transports.sip.media import RATE, RtpLeg
from realtime2.transports.sip.message import SipRequest, response_to
from realtime2.transports.sip.sdp import answer as sdp_answer

log = logging.getLogger(__name__)

Send = Callable[[bytes], None]
RETRANSMIT_SECONDS: Final = (0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0)  # Timer G, to 32 s
MAX_PENDING_CLIENT_EVENTS: Final = 100


class SipCall(CallBase):
    def __init__(
        self,
        *,
        call_id: str,
        user_id: int,
        tier: str,
        meter: SessionMeter,
        ledger: Ledger,
        dialog: Dialog,
        leg: RtpLeg,
        send: Send,
        source: tuple[str, int],
        ring_timeout: float,
        rtp_timeout: float,
        on_end: Callable[[Any], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__(
            call_id=call_id, user_id=user_id, tier=tier, meter=meter, ledger=ledger, on_end=on_end
        )
        self.dialog = dialog
        self.leg = leg
        self.send = send
        self.source = source  # where the INVITE came from; in-dialog requests must too
        self.ring_timeout = ring_timeout
        self.rtp_timeout = rtp_timeout
        self.runner: SessionRunner | None = None
        self.state = "ringing"  # ringing | answered | ended
        self.answered_at: float | None = None
        self.keys: list[str] = []
        self._final: bytes | None = None  # our final response to the INVITE
        self._acked = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._pending_events: list[str | bytes] = []
        self._meter_starting: asyncio.Task[None] | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._send_bye = False
        self._retransmit: asyncio.Task[None] | None = None

    # --- ringing ---------------------------------------------------------------------------

    def ring(self) -> None:
        """Send 180 Ringing and wait (in the background) for the decision."""
        self.send(response_to(self.dialog.invite, 180, to_tag=self.dialog.local_tag).encode())
        self._spawn(self._ring_timer())
        self._supervisor = asyncio.get_running_loop().create_task(self._supervise())

    async def _ring_timer(self) -> None:
        await asyncio.sleep(self.ring_timeout)
        if self.state == "ringing":
            self.reject(480, reason="ring_timeout")

    def reject(self, status: int = 603, *, reason: str = "rejected") -> None:
        if self.state != "ringing":
            return
        self._final_response(status)
        self._end(reason)

    def accept(self, runner: SessionRunner, meter: SessionMeter, tier: str) -> None:
        """Answer: 200 OK with our SDP, then media, the session and the meter start."""
        if self.state != "ringing":
            raise RuntimeError("the call is not ringing")
        self.state = "answered"
        self.runner, self.meter, self.tier = runner, meter, tier
        self.answered_at = time.monotonic()
        body = sdp_answer(self.leg.offer, host=self.dialog.local_host, port=self.leg.local_port)
        self._final_response(
            200,
            extra=[("Contact", self.dialog.contact), ("Content-Type", "application/sdp")],
            body=body,
        )
        runner.start()
        for event in self._pending_events:
            self._spawn(runner.feed_text(event))
        self._pending_events.clear()
        for coro in (
            self._pump_events(runner),
            self._pump_audio(runner),
            self._pump_microphone(runner),
            self.leg.send_loop(),
            self._watch_rtp(),
            self._watch_runner(runner),
        ):
            self._spawn(coro)
        self._meter_starting = asyncio.get_running_loop().create_task(self._start_meter())

    def _final_response(
        self, status: int, *, extra: list[tuple[str, str]] | None = None, body: bytes = b""
    ) -> None:
        response = response_to(
            self.dialog.invite, status, to_tag=self.dialog.local_tag, extra=extra, body=body
        )
        self._final = response.encode()
        self.send(self._final)
        # Bounded (32 s) and not cancelled by the end: the ACK of a rejection may come after.
        self._retransmit = asyncio.get_running_loop().create_task(self._retransmit_final())

    async def _retransmit_final(self) -> None:
        """UDP: resend the final response until the ACK (RFC 3261 Timer G/H)."""
        for delay in RETRANSMIT_SECONDS:
            try:
                await asyncio.wait_for(self._acked.wait(), delay)
                return
            except TimeoutError:
                if self._final is not None:
                    self.send(self._final)

    # --- SIP from the peer -----------------------------------------------------------------

    def stop_retransmitting(self) -> None:
        if self._retransmit is not None:
            self._retransmit.cancel()

    def on_request(self, request: SipRequest) -> None:
        method = request.method
        if method == "INVITE" and request.cseq == self.dialog.invite.cseq:
            # A retransmission: repeat where we are.
            if self._final is not None:
                self.send(self._final)
            else:
                self.send(response_to(request, 180, to_tag=self.dialog.local_tag).encode())
        elif method == "ACK":
            self._acked.set()
        elif method == "CANCEL":
            self.send(response_to(request, 200, to_tag=self.dialog.local_tag).encode())
            if self.state == "ringing":
                self._final_response(487)
                self._end("cancelled")
        elif method == "BYE":
            self.send(response_to(request, 200, to_tag=self.dialog.local_tag).encode())
            self._end("peer_hangup")
        elif method == "INVITE" and self.state == "answered":  # re-INVITE: same media
            body = sdp_answer(self.leg.offer, host=self.dialog.local_host, port=self.leg.local_port)
            self.send(
                response_to(
                    request,
                    200,
                    to_tag=self.dialog.local_tag,
                    extra=[("Contact", self.dialog.contact), ("Content-Type", "application/sdp")],
                    body=body,
                ).encode()
            )
        elif method in ("OPTIONS", "NOTIFY", "INFO", "UPDATE"):
            self.send(response_to(request, 200, to_tag=self.dialog.local_tag).encode())
        else:
            self.send(response_to(request, 405, to_tag=self.dialog.local_tag).encode())

    def refer(self, target: str) -> None:
        """Transfer the caller (RFC 3515); the peer's BYE ends the call here."""
        self.send(self.dialog.request("REFER", [("Refer-To", f"<{target}>")]))

    # --- the API ---------------------------------------------------------------------------

    async def send_client_event(self, message: str | bytes) -> None:
        if self.runner is not None:
            await self.runner.feed_text(message)
        elif len(self._pending_events) < MAX_PENDING_CLIENT_EVENTS:
            self._pending_events.append(message)

    # --- tasks -----------------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("call %s: task failed: %r", self.id, task.exception())
            self._end("error")

    async def _pump_events(self, runner: SessionRunner) -> None:
        async for event in runner.events():
            self._deliver_event(event)

    async def _pump_audio(self, runner: SessionRunner) -> None:
        async for frame in runner.audio_out():
            self.leg.play(frame.response_id, frame.pcm, frame.sample_rate)

    async def _pump_microphone(self, runner: SessionRunner) -> None:
        while True:
            await runner.feed_audio(await self.leg.inbound.get(), RATE)

    async def _watch_rtp(self) -> None:
        while True:
            idle = time.monotonic() - self.leg.last_received
            if idle >= self.rtp_timeout:
                self._end("rtp_timeout")
                return
            await asyncio.sleep(self.rtp_timeout - idle)

    async def _watch_runner(self, runner: SessionRunner) -> None:
        await runner.closed.wait()
        self._end("expired")

    def on_key(self, key: str) -> None:
        """A keypad press (RFC 4733) on the answered call."""
        if self.state != "answered":
            return
        self.keys.append(key)
        self._deliver_event(
            {
                "type": "input_audio_buffer.dtmf_event_received",
                "event": key,
                "received_at": int(time.time()),
            }
        )

    def _deliver_event(self, event: Event) -> None:
        kind = event.get("type")
        if kind == "output_audio_buffer.cleared":
            self.leg.clear(event.get("response_id"))
        elif kind == "input_audio_buffer.speech_started":
            # Barge-in: the caller talks over audio still queued for the line. The session
            # only clears a response it is still producing (its output_audio_buffer.stopped
            # comes when the audio is produced, not played), so drop whatever is queued here.
            self.leg.clear()
        elif kind == "output_audio_buffer.stopped":
            self.leg.finish(str(event.get("response_id")))
        self._publish(event)

    # --- ending ----------------------------------------------------------------------------

    def _end(self, reason: str) -> None:
        if self.state == "answered" and reason != "peer_hangup" and self.end_reason is None:
            self._send_bye = True
        super()._end(reason)

    def hang_up(self, reason: str = "hangup") -> None:
        if self.state == "ringing":
            self.reject(480, reason=reason)
        else:
            self._end(reason)

    async def _supervise(self) -> None:
        try:
            await self._ending.wait()
        finally:
            await self._shutdown()

    async def _shutdown(self) -> None:
        log.info("sip call %s ending (%s)", self.id, self.end_reason)
        if self._send_bye:
            self.send(self.dialog.request("BYE"))
        self.state = "ended"
        current = asyncio.current_task()
        tasks = [t for t in self._tasks if t is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.runner is not None:
            await self.runner.close()
        self.leg.close()
        if self._meter_starting is not None:
            await asyncio.gather(self._meter_starting, return_exceptions=True)
        try:
            if self.meter.hold_id is not None:
                await self.meter.settle(reason=self.end_reason or "closed")
        finally:
            await self._close_out()

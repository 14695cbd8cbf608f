"""One WebRTC call: an aiortc peer connection driving one `SessionRunner`.

Media: inbound RTP audio → `runner.feed_audio`; `runner.audio_out()` → `SpeakerTrack`.
Events: the `oai-events` data channel carries client events in and every server event out
(copies also go to any attached sideband WebSockets).

Lifecycle: the call is metered from the moment ICE+DTLS connect until it ends; it ends on
hang-up (API or peer), ICE/DTLS failure, the peer staying unreachable past a grace period,
never connecting, credit running out (an `insufficient_credits` error event is sent first),
the peer flooding the data channel (`too_many_client_events`, see `inbox`) or the
session's own 60-minute expiry. However it ends, every task is cancelled, the
runner and peer connection are closed and the meter is settled, once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, Final

from aiortc import RTCDataChannel, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame

from realtime2.accounts.ledger import Ledger
from realtime2.accounts.metering import SessionMeter
from realtime2.calls.base import CallBase, Event
from realtime2.edge.sdp import InvalidSdpError
from realtime2.protocol.server_events import error_event
from realtime2.realtime.runner import SessionRunner
from realtime2.transports.webrtc.audio import SpeakerTrack, mono_pcm16
from realtime2.transports.webrtc.ice import (
    allows_private_candidates,
    offered_hosts,
    rtc_configuration,
    screen_candidates,
)
from realtime2.transports.webrtc.inbox import Inbox

log = logging.getLogger(__name__)

EVENTS_LABEL: Final = "oai-events"
CONNECT_TIMEOUT_SECONDS: Final = 30.0
DISCONNECT_GRACE_SECONDS: Final = 5.0
# Events produced before the data channel opens are kept (bounded) and sent on open.
MAX_PENDING_EVENTS: Final = 1000
DRAIN_SECONDS: Final = 1.0


class WebRtcCall(CallBase):
    def __init__(
        self,
        *,
        call_id: str,
        user_id: int,
        tier: str,
        runner: SessionRunner,
        meter: SessionMeter,
        ledger: Ledger,
        hosts: Sequence[str],
        stun: str = "",
        allow_private_candidates: bool | None = None,
        connected_or_ended: Callable[[], None] | None = None,
        connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
        disconnect_grace: float = DISCONNECT_GRACE_SECONDS,
        on_end: Callable[[WebRtcCall], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__(
            call_id=call_id, user_id=user_id, tier=tier, meter=meter, ledger=ledger, on_end=on_end
        )
        self.runner = runner
        self.hosts = tuple(hosts)
        self.allow_private_candidates = allows_private_candidates(
            self.hosts, allow_private_candidates
        )
        self.pc = RTCPeerConnection(rtc_configuration(stun))
        self.speaker = SpeakerTrack()
        self.connect_timeout = connect_timeout
        self.disconnect_grace = disconnect_grace
        self.created_at = time.monotonic()
        self.connected_at: float | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._supervisor: asyncio.Task[None] | None = None
        self._inbox = Inbox()
        self._channel: RTCDataChannel | None = None
        self._pending: list[str] = []
        self._disconnect_timer: asyncio.Task[None] | None = None
        self._meter_starting: asyncio.Task[None] | None = None
        # Ends the call's count against the user's pending calls (calls.pending).
        self._not_pending = connected_or_ended or (lambda: None)

    # --- setting up ----------------------------------------------------------------------

    async def answer(self, offer: str) -> str:
        """Apply the client's offer and return our SDP answer (ICE candidates included)."""
        self.pc.on("datachannel", self._on_datachannel)
        self.pc.on("track", self._on_track)
        self.pc.on("connectionstatechange", self._on_connection_state)
        offer, dropped = screen_candidates(offer, allow_private=self.allow_private_candidates)
        if dropped:
            log.info("call %s: %d remote ICE candidates skipped", self.id, dropped)
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        except Exception as exc:
            raise InvalidSdpError(f"The SDP offer was rejected: {type(exc).__name__}.") from None
        self.pc.addTrack(self.speaker)
        answer = await self.pc.createAnswer()
        with offered_hosts(self.hosts):
            await self.pc.setLocalDescription(answer)
        description = self.pc.localDescription
        return description.sdp

    def start(self) -> None:
        """Run the call in the background until it ends (see `ended`)."""
        self.runner.start()
        for coro in (
            self._pump_events(),
            self._pump_audio(),
            self._pump_inbox(),
            self._watch_connect(),
            self._watch_runner(),
        ):
            self._spawn(coro)
        self._supervisor = asyncio.get_running_loop().create_task(self._supervise())

    async def discard(self) -> None:
        """Tear down a call that was never started (its answer failed)."""
        self._not_pending()
        await self.runner.close()
        await self._close_pc()

    # --- API -----------------------------------------------------------------------------

    async def send_client_event(self, message: str | bytes) -> None:
        await self._inbox.put(message)  # a sideband waits for room

    def _on_message(self, message: str | bytes) -> None:
        """A data-channel message; a peer that floods the inbox is hung up on."""
        if self._ending.is_set() or self._inbox.offer(message):
            return
        log.warning("call %s: client events arrive faster than they are handled", self.id)
        self._deliver_event(
            error_event(
                "too_many_client_events",
                f"More than {self._inbox.max_messages} client events (or "
                f"{self._inbox.max_bytes} bytes) are waiting; the call is ending.",
            )
        )
        self._end("client_flood")

    # --- aiortc callbacks ----------------------------------------------------------------

    def _on_datachannel(self, channel: RTCDataChannel) -> None:
        if channel.label != EVENTS_LABEL or self._channel is not None:
            return
        self._channel = channel
        channel.on("message", self._on_message)
        channel.on("close", lambda: self._end("peer_gone"))
        if channel.readyState == "open":
            self._flush_pending()
        else:
            channel.on("open", self._flush_pending)

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            self._spawn(self._read_microphone(track))

    def _on_connection_state(self) -> None:
        state = self.pc.connectionState
        if state == "connected":
            if self._disconnect_timer is not None:
                self._disconnect_timer.cancel()
                self._disconnect_timer = None
            if self.connected_at is None:
                self.connected_at = time.monotonic()
                self._not_pending()
                log.info(
                    "call %s connected in %.0f ms",
                    self.id,
                    (self.connected_at - self.created_at) * 1000,
                )
                # Not cancelled at shutdown: a call that connected is billed even if the
                # peer leaves while the hold is being placed.
                self._meter_starting = asyncio.get_running_loop().create_task(self._start_meter())
        elif state == "disconnected" and self._disconnect_timer is None:
            self._disconnect_timer = self._spawn(self._end_after(self.disconnect_grace))
        elif state == "failed":
            self._end("connection_failed")
        elif state == "closed":
            self._end("peer_gone")

    # --- tasks ---------------------------------------------------------------------------

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

    async def _read_microphone(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return  # the remote track ended; the connection state ends the call
            if isinstance(frame, AudioFrame):
                await self.runner.feed_audio(mono_pcm16(frame), frame.sample_rate)

    async def _pump_inbox(self) -> None:
        while True:
            await self.runner.feed_text(await self._inbox.get())

    async def _pump_events(self) -> None:
        async for event in self.runner.events():
            self._deliver_event(event)

    async def _pump_audio(self) -> None:
        async for frame in self.runner.audio_out():
            self.speaker.play(frame.response_id, frame.pcm, frame.sample_rate)

    async def _watch_runner(self) -> None:
        await self.runner.closed.wait()
        self._end("expired")

    async def _watch_connect(self) -> None:
        await asyncio.sleep(self.connect_timeout)
        if self.connected_at is None:
            self._end("connect_timeout")

    async def _end_after(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        self._end("peer_gone")

    # --- events out ----------------------------------------------------------------------

    def _deliver_event(self, event: Event) -> None:
        kind = event.get("type")
        if kind == "output_audio_buffer.cleared":
            self.speaker.clear(event.get("response_id"))
        elif kind == "output_audio_buffer.stopped":
            self.speaker.finish(str(event.get("response_id")))
        self._publish(event)
        text = json.dumps(event, separators=(",", ":"))
        channel = self._channel
        if channel is not None and channel.readyState == "open":
            channel.send(text)
        elif len(self._pending) < MAX_PENDING_EVENTS:
            self._pending.append(text)

    def _flush_pending(self) -> None:
        channel = self._channel
        if channel is None:
            return
        pending, self._pending = self._pending, []
        for text in pending:
            channel.send(text)

    # --- ending --------------------------------------------------------------------------

    async def _supervise(self) -> None:
        try:
            await self._ending.wait()
        finally:
            await self._shutdown()

    async def _shutdown(self) -> None:
        log.info("call %s ending (%s)", self.id, self.end_reason)
        self._not_pending()
        current = asyncio.current_task()
        tasks = [t for t in self._tasks if t is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.runner.close()
        await self._drain_channel()
        self.speaker.stop()
        await self._close_pc()
        if self._meter_starting is not None:
            await asyncio.gather(self._meter_starting, return_exceptions=True)
        try:
            if self.meter.hold_id is not None:
                await self.meter.settle(reason=self.end_reason or "closed")
        finally:
            await self._close_out()

    async def _drain_channel(self) -> None:
        """Give the last events (e.g. the credit error) a moment to leave before closing."""
        channel = self._channel
        if channel is None or channel.readyState != "open":
            return
        deadline = time.monotonic() + DRAIN_SECONDS
        while channel.bufferedAmount > 0 and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.05)

    async def _close_pc(self) -> None:
        try:
            await asyncio.wait_for(self.pc.close(), 5.0)
        except Exception as exc:
            log.warning("call %s: closing the peer connection failed: %r", self.id, exc)

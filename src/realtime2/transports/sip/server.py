"""The SIP listener (UDP, and TCP on the same port): out-of-dialog requests are
rate-limited per source address and checked (endpoint 404, source 403, SDP 488) before any
work; an INVITE that passes becomes a ringing `SipCall` in the call registry and a
`realtime.call.incoming` webhook.

A public SIP port is scanned constantly, so the listener stays cheap under abuse:
malformed datagrams are dropped (`parse_message` is bounded), each source address gets
`requests_per_minute` out-of-dialog requests (then its datagrams are dropped unanswered),
at most `MAX_INFLIGHT` INVITEs are being looked up at once, and in-dialog requests are
taken only from the address the dialog's INVITE came from.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, Final, cast

import httpx

from realtime2.accounts.metering import SessionMeter
from realtime2.accounts.pricing import rate_for
from realtime2.calls.open import new_call_id
from realtime2.calls.records import CallRecords
from realtime2.calls.registry import CallRegistry
from realtime2.calls.sip_endpoints import Endpoint, SipEndpoints
from realtime2.calls.webhooks import call_incoming_event, deliver
from realtime2.edge.admission import SessionSlots
from realtime2.protocol.models import MINI
from realtime2.state import Services
from realtime2.transports.sip.call import SipCall
from realtime2.transports.sip.dialog import Dialog
from realtime2.transports.sip.media import open_leg
from realtime2.transports.sip.message import (
    MAX_MESSAGE_BYTES,
    SipParseError,
    SipRequest,
    SipResponse,
    parse_message,
    response_to,
    tag_of,
)
from realtime2.transports.sip.sdp import AudioOffer, SdpError, parse_offer
from realtime2.transports.sip.settings import SipSettings

log = logging.getLogger(__name__)

MAX_INFLIGHT: Final = 64
MAX_TCP_CONNECTIONS: Final = 256
_CONTENT_LENGTH: Final = re.compile(rb"(?im)^(?:content-length|l)[ \t]*:[ \t]*(\d{1,6})[ \t]*$")
MAX_TRACKED_SOURCES: Final = 10_000
DIALOG_LINGER_SECONDS: Final = 32.0
# Headers left out of the webhook's `sip_headers` (as OpenAI leaves out authorization).
PRIVATE_HEADERS: Final = {"authorization", "proxy-authorization"}


class SourceLimiter:
    """A token bucket per source address (bounded: the least recently seen are forgotten)."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.refill = per_minute / 60.0
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def allow(self, source: str) -> bool:
        now = self.clock()
        tokens, at = self._buckets.pop(source, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - at) * self.refill)
        allowed = tokens >= 1.0
        self._buckets[source] = (tokens - 1.0 if allowed else tokens, now)
        while len(self._buckets) > MAX_TRACKED_SOURCES:
            self._buckets.popitem(last=False)
        return allowed


class SipServer(asyncio.DatagramProtocol):
    def __init__(
        self,
        settings: SipSettings,
        services: Services,
        registry: CallRegistry,
        slots: SessionSlots,
    ) -> None:
        self.settings = settings
        self.services = services
        self.registry = registry
        self.slots = slots
        self.endpoints = SipEndpoints(services.db)
        self.records = CallRecords(services.db)
        self.limiter = SourceLimiter(settings.requests_per_minute)
        self.dialogs: dict[str, SipCall] = {}
        self.host = "127.0.0.1"
        self.port = 0
        self.dropped = 0
        self.refused: dict[int, int] = {}
        self._transport: asyncio.DatagramTransport | None = None
        self._starting: set[str] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._http = httpx.AsyncClient(follow_redirects=False)
        self._tcp: asyncio.Server | None = None
        self.streams: set[SipStream] = set()

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind UDP and TCP on one port. With port 0 (any), the UDP port the system picks
        may be taken for TCP: then another is picked (a few tries)."""
        address = self.settings.address()
        assert address is not None
        loop = asyncio.get_running_loop()
        tries = 1 if address[1] else 20
        for attempt in range(tries):
            await loop.create_datagram_endpoint(lambda: self, local_addr=address)
            assert self._transport is not None
            bound = self._transport.get_extra_info("sockname")
            try:
                self._tcp = await loop.create_server(
                    lambda: SipStream(self), host=address[0], port=bound[1]
                )
                break
            except OSError:
                self._transport.close()
                self._transport = None
                if attempt == tries - 1:
                    raise
        self.port = bound[1]
        self.host = self.settings.advertised_host(bound[0])
        log.info("SIP listening on udp and tcp %s:%d", bound[0], self.port)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._http.aclose()
        if self._tcp is not None:
            self._tcp.close()
            for stream in list(self.streams):
                stream.close()
        if self._transport is not None:
            self._transport.close()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)

    def _send_to(self, addr: tuple[str, int]) -> Callable[[bytes], None]:
        def send(data: bytes) -> None:
            if self._transport is not None and not self._transport.is_closing():
                self._transport.sendto(data, addr)

        return send

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("SIP: handling an INVITE failed: %r", task.exception())

    # --- datagrams -------------------------------------------------------------------------

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.handle(data, addr, self._send_to(addr), "UDP")

    def handle(
        self, data: bytes, addr: tuple[str, int], send: Callable[[bytes], None], transport: str
    ) -> None:
        """One SIP message from `addr`; `send` answers on the same transport."""
        try:
            message = parse_message(data)
        except SipParseError:
            self.dropped += 1
            return
        if isinstance(message, SipResponse):
            return  # answers to our BYE/REFER: nothing waits on them
        call = self.dialogs.get(message.call_id)
        if call is not None:
            if addr[0] == call.source[0]:
                if message.method == "ACK":
                    call.stop_retransmitting()
                call.on_request(message)
            else:
                self.dropped += 1
            return
        if message.method == "ACK" or message.call_id in self._starting:
            return  # the ACK of a stateless refusal; a retransmission being looked up
        if not self.limiter.allow(addr[0]):
            self.dropped += 1
            return
        if message.method == "INVITE" and tag_of(message.headers.get("to") or "") is None:
            if len(self._starting) >= MAX_INFLIGHT:
                self._refuse(message, send, 503)
                return
            self._starting.add(message.call_id)
            self._spawn(self._incoming(message, addr, send, transport))
        elif message.method == "OPTIONS":
            send(
                response_to(
                    message, 200, extra=[("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS")]
                ).encode()
            )
        elif message.method in ("BYE", "CANCEL", "INVITE"):
            self._refuse(message, send, 481)
        else:
            self._refuse(message, send, 405)

    def _refuse(self, request: SipRequest, send: Callable[[bytes], None], status: int) -> None:
        self.refused[status] = self.refused.get(status, 0) + 1
        send(response_to(request, status, to_tag="rt2").encode())

    # --- a new call ------------------------------------------------------------------------

    async def _incoming(
        self,
        invite: SipRequest,
        addr: tuple[str, int],
        send: Callable[[bytes], None],
        transport: str,
    ) -> None:
        try:
            endpoint = await self.endpoints.find(invite.user)
            if endpoint is None:
                return self._refuse(invite, send, 404)
            if not endpoint.allows(addr[0]):
                return self._refuse(invite, send, 403)
            try:
                offer = parse_offer(invite.body)
            except SdpError:
                return self._refuse(invite, send, 488)
            ringing = sum(
                1
                for c in self.dialogs.values()
                if c.user_id == endpoint.user_id and c.state == "ringing"
            )
            if ringing >= self.settings.max_ringing_per_user:
                return self._refuse(invite, send, 486)
            send(response_to(invite, 100).encode())
            await self._ring(invite, addr, send, endpoint, offer, transport)
        finally:
            self._starting.discard(invite.call_id)

    async def _ring(
        self,
        invite: SipRequest,
        addr: tuple[str, int],
        send: Callable[[bytes], None],
        endpoint: Endpoint,
        offer: AudioOffer,
        transport: str,
    ) -> None:
        call_id = new_call_id()
        holder: list[SipCall] = []
        leg = await open_leg(offer, self._bind_host(), lambda key: holder[0].on_key(key))
        rate = rate_for(MINI, self.services.settings.resolved_rates())
        meter = SessionMeter(
            self.services.ledger,
            user_id=endpoint.user_id,
            model=MINI,
            rate=rate,
            reference=call_id,
        )
        call = SipCall(
            call_id=call_id,
            user_id=endpoint.user_id,
            tier=MINI,
            meter=meter,
            ledger=self.services.ledger,
            dialog=Dialog(invite, local_host=self.host, local_port=self.port, transport=transport),
            leg=leg,
            send=send,
            source=addr,
            ring_timeout=self.settings.ring_timeout_seconds,
            rtp_timeout=self.settings.rtp_timeout_seconds,
            on_end=self._finished,
        )
        holder.append(call)
        await self.records.opened(call_id, user_id=endpoint.user_id, api_key_id=None, model=MINI)
        self.registry.add(call)
        self.dialogs[invite.call_id] = call
        call.ring()
        headers = [h for h in invite.header_dict() if h["name"].lower() not in PRIVATE_HEADERS]
        event = call_incoming_event(call_id, headers)
        deadline = time.monotonic() + self.settings.ring_timeout_seconds
        delivered = await deliver(
            self._http, endpoint.webhook_url, endpoint.webhook_secret, event, deadline=deadline
        )
        if not delivered:
            log.warning("sip call %s: the webhook was not delivered", call_id)
            call.reject(480, reason="webhook_failed")

    def _bind_host(self) -> str:
        address = self.settings.address()
        return address[0] if address else "127.0.0.1"

    async def _finished(self, call: SipCall) -> None:
        if call.answered_at is not None:
            self.slots.release(call.user_id)
        self.registry.mark_ended(call)
        await self.records.ended(
            call.id, charged=call.meter.captured, reason=call.end_reason or "closed"
        )
        loop = asyncio.get_running_loop()
        loop.call_later(DIALOG_LINGER_SECONDS, self.dialogs.pop, call.dialog.call_id, None)


class SipStream(asyncio.Protocol):
    """One SIP-over-TCP connection: messages framed by Content-Length (RFC 3261 §18.3),
    each bounded like a datagram; a connection that sends a message too large or without
    an end of headers in bounds is closed. At most `MAX_TCP_CONNECTIONS` at once."""

    def __init__(self, server: SipServer) -> None:
        self.server = server
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.peer: tuple[str, int] = ("", 0)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        if len(self.server.streams) >= MAX_TCP_CONNECTIONS:
            self.transport.close()
            return
        peer = self.transport.get_extra_info("peername")
        self.peer = (peer[0], peer[1])
        self.server.streams.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.streams.discard(self)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def send(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            while self.buffer[:2] == b"\r\n":  # keep-alive CRLFs (RFC 5626)
                del self.buffer[:2]
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > MAX_MESSAGE_BYTES:
                    self.close()
                return
            match = _CONTENT_LENGTH.search(bytes(self.buffer[:end]))
            length = int(match.group(1)) if match else 0
            total = end + 4 + length
            if total > MAX_MESSAGE_BYTES:
                self.close()
                return
            if len(self.buffer) < total:
                return
            message = bytes(self.buffer[:total])
            del self.buffer[:total]
            self.server.handle(message, self.peer, self.send, "TCP")


async def start_sip(app: Any) -> SipServer | None:
    """The app's SIP listener, when `app.state.sip_settings` names an address."""
    settings: SipSettings = app.state.sip_settings
    if settings.address() is None:
        return None
    server = SipServer(settings, app.state.services, app.state.calls, app.state.session_slots)
    await server.start()
    return server

"""A SIP test peer on loopback (a minimal UAC with its own RTP socket), a webhook receiver,
and a realtime2 app serving SIP: what the telephony tests drive (`transports.sip`)."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
import socket
import struct
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from realtime2.app import create_app
from realtime2.audio.g711 import pcm16_to_ulaw, ulaw_to_pcm16
from realtime2.calls.sip_endpoints import Endpoint, SipEndpoints
from realtime2.state import Services
from realtime2.transports.sip.message import (
    SipParseError,
    SipRequest,
    SipResponse,
    parse_message,
    response_to,
)
from realtime2.transports.sip.rtp import RtpPacket, build_rtp, parse_rtp
from realtime2.transports.sip.server import SipServer
from realtime2.transports.sip.settings import SipSettings
from tests.support.server import LiveServer, running

WAIT = 30.0  # generous: a busy 2-core machine


@dataclass
class Webhooks:
    """Deliveries received: (headers, body text); `status` is what the receiver answers."""

    url: str = ""
    received: asyncio.Queue[tuple[dict[str, str], str]] = field(default_factory=asyncio.Queue)
    status: int = 200

    async def next(self) -> tuple[dict[str, str], str]:
        return await asyncio.wait_for(self.received.get(), WAIT)


@contextlib.asynccontextmanager
async def webhook_receiver() -> AsyncIterator[Webhooks]:
    hooks = Webhooks()

    async def receive(request: Request) -> Response:
        hooks.received.put_nowait((dict(request.headers), (await request.body()).decode()))
        return Response(status_code=hooks.status)

    app = Starlette(routes=[Route("/hook", receive, methods=["POST"])])
    async with running(app) as server:
        hooks.url = f"http://127.0.0.1:{server.config.port}/hook"
        yield hooks


@contextlib.asynccontextmanager
async def sip_server(
    services: Services, **settings: Any
) -> AsyncIterator[tuple[LiveServer, SipServer]]:
    """The app on `services`, with SIP on a free loopback UDP port."""
    app = create_app(services.settings, services)
    app.state.sip_settings = SipSettings(listen="127.0.0.1:0", **settings)
    async with running(app) as server:
        yield LiveServer(f"http://127.0.0.1:{server.config.port}", services, app), app.state.sip


async def add_endpoint(
    services: Services, user_id: int, url: str, sources: list[str] | None = None
) -> Endpoint:
    return await SipEndpoints(services.db).add(user_id, url, sources)


class _Socket(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[bytes, tuple[str, int]]] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.queue.put_nowait((data, addr))


async def bind_udp(host: str = "127.0.0.1") -> _Socket:
    loop = asyncio.get_running_loop()
    _, sock = await loop.create_datagram_endpoint(_Socket, local_addr=(host, 0))
    return sock


class Phone:
    """A caller: one INVITE dialog, G.711 µ-law RTP at 20 ms, RFC 4733 key presses."""

    def __init__(self, sip: _Socket, rtp: _Socket, server: tuple[str, int]) -> None:
        self.sip = sip
        self.rtp = rtp
        self.server = server
        self.call_id = f"{secrets.token_hex(8)}@127.0.0.1"
        self.tag = secrets.token_hex(4)
        self.cseq = 0
        self.responses: asyncio.Queue[SipResponse] = asyncio.Queue()
        self.requests: asyncio.Queue[SipRequest] = asyncio.Queue()
        self.to_header = ""
        self.answer: bytes = b""
        self.received_audio: list[bytes] = []  # decoded pcm16 of each RTP packet
        self.received_at: list[float] = []  # time.monotonic() of each
        self.rtp_peer: tuple[str, int] | None = None
        self._seq = 0
        self._ts = 0
        self._tasks = [
            asyncio.create_task(self._read_sip()),
            asyncio.create_task(self._read_rtp()),
        ]

    @property
    def sip_port(self) -> int:
        assert self.sip.transport is not None
        port: int = self.sip.transport.get_extra_info("sockname")[1]
        return port

    @property
    def rtp_port(self) -> int:
        assert self.rtp.transport is not None
        port: int = self.rtp.transport.get_extra_info("sockname")[1]
        return port

    async def _read_sip(self) -> None:
        while True:
            data, _ = await self.sip.queue.get()
            try:
                message = parse_message(data)
            except SipParseError:  # a test peer skips what it cannot read
                continue
            if isinstance(message, SipResponse):
                self.responses.put_nowait(message)
            else:
                if message.method in ("BYE", "REFER"):
                    status = 202 if message.method == "REFER" else 200
                    self.send(response_to(message, status).encode())
                self.requests.put_nowait(message)

    async def _read_rtp(self) -> None:
        while True:
            data, addr = await self.rtp.queue.get()
            packet = parse_rtp(data)
            self.rtp_peer = addr
            self.received_audio.append(ulaw_to_pcm16(packet.payload))
            self.received_at.append(time.monotonic())

    def send(self, data: bytes) -> None:
        assert self.sip.transport is not None
        self.sip.transport.sendto(data, self.server)

    def _request(
        self,
        method: str,
        user: str,
        body: bytes = b"",
        cseq: int | None = None,
        to: str | None = None,
        extra: str = "",
    ) -> bytes:
        if cseq is None:
            self.cseq += 1
            cseq = self.cseq
        content = "Content-Type: application/sdp\r\n" if body else ""
        head = (
            f"{method} sip:{user}@{self.server[0]}:{self.server[1]} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{self.sip_port};branch=z9hG4bK{secrets.token_hex(6)}\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:caller@127.0.0.1>;tag={self.tag}\r\n"
            f"To: {to if to is not None else f'<sip:{user}@127.0.0.1>'}\r\n"
            f"Call-ID: {self.call_id}\r\n"
            f"CSeq: {cseq} {method}\r\n"
            f"Contact: <sip:caller@127.0.0.1:{self.sip_port}>\r\n"
            f"{extra}{content}Content-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    def offer(self, codecs: str = "0 101") -> bytes:
        return (
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            f"m=audio {self.rtp_port} RTP/AVP {codecs}\r\n"
            "a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=ptime:20\r\n"
        ).encode()

    def invite(self, user: str, body: bytes | None = None) -> None:
        self.user = user
        self.invite_cseq = self.cseq + 1
        self.last_invite = self._request("INVITE", user, self.offer() if body is None else body)
        self.send(self.last_invite)

    async def response(self, status: int | None = None) -> SipResponse:
        """The next response (skipping provisional ones when a final `status` is awaited)."""
        while True:
            response = await asyncio.wait_for(self.responses.get(), WAIT)
            if status is None or response.status == status:
                if response.status >= 200 and (response.headers.get("cseq") or "").endswith(
                    "INVITE"
                ):
                    self.to_header = response.headers.get("to") or ""
                    self.answer = response.body
                return response
            if response.status >= 200 and status >= 200:
                raise AssertionError(f"expected {status}, got {response.status}")

    async def request(self, method: str) -> SipRequest:
        while True:
            request = await asyncio.wait_for(self.requests.get(), WAIT)
            if request.method == method:
                return request

    def ack(self) -> None:
        self.send(self._request("ACK", self.user, cseq=self.invite_cseq, to=self.to_header))

    def bye(self) -> None:
        self.send(self._request("BYE", self.user, to=self.to_header))

    def cancel(self) -> None:
        self.send(self._request("CANCEL", self.user, cseq=self.invite_cseq))

    def answered_rtp_port(self) -> int:
        for line in self.answer.decode().splitlines():
            if line.startswith("m=audio "):
                return int(line.split()[1])
        raise AssertionError("no audio in the answer")

    def send_rtp(self, payload: bytes, payload_type: int = 0, timestamp: int | None = None) -> None:
        assert self.rtp.transport is not None
        packet = RtpPacket(
            payload_type,
            self._seq & 0xFFFF,
            self._ts if timestamp is None else timestamp,
            0x1234,
            payload,
        )
        self._seq += 1
        self.rtp.transport.sendto(build_rtp(packet), (self.server[0], self.answered_rtp_port()))

    def send_packet(self, pcm8k: bytes) -> None:
        """One 20 ms packet (320 bytes of 8 kHz pcm16) as µ-law, now."""
        self.send_rtp(pcm16_to_ulaw(pcm8k))
        self._ts += 160

    async def speak(self, pcm8k: bytes) -> None:
        """Send 8 kHz pcm16 as µ-law in 20 ms packets, paced by the wall clock."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        for n, at in enumerate(range(0, len(pcm8k), 320)):
            chunk = pcm8k[at : at + 320].ljust(320, b"\x00")
            self.send_rtp(pcm16_to_ulaw(chunk))
            self._ts += 160
            await asyncio.sleep(max(0.0, start + (n + 1) * 0.02 - loop.time()))

    def press(self, key: int) -> None:
        """One RFC 4733 key press: three updates and the end packet sent three times."""
        ts = self._ts
        for duration, end in (
            (160, False),
            (320, False),
            (480, False),
            (640, True),
            (640, True),
            (640, True),
        ):
            flags = 0x80 if end else 0
            self.send_rtp(struct.pack("!BBH", key, flags | 10, duration), 101, timestamp=ts)
        self._ts += 640  # the next event starts after this one

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for sock in (self.sip, self.rtp):
            if sock.transport is not None:
                sock.transport.close()


@contextlib.asynccontextmanager
async def phone(server: SipServer) -> AsyncIterator[Phone]:
    p = Phone(await bind_udp(), await bind_udp(), ("127.0.0.1", server.port))
    try:
        yield p
    finally:
        await p.close()


# --- sipp (Debian's sip-tester): a real SIP user agent -----------------------------------

SIPP_DIR = Path(__file__).resolve().parent / "sipp"


class Recorder(asyncio.DatagramProtocol):
    """Where the server's RTP to a sipp caller goes (the caller's SDP names this port)."""

    def __init__(self) -> None:
        self.payloads: list[bytes] = []
        self.arrivals: list[float] = []  # time.monotonic() of each packet
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.payloads.append(parse_rtp(data).payload)
        self.arrivals.append(time.monotonic())

    def first_sound_after(self, mark: float, threshold: int = 1000) -> float | None:
        """When the first packet with sound (|sample| > threshold) arrived after `mark`."""
        for at, payload in zip(self.arrivals, self.payloads, strict=True):
            if (
                at >= mark
                and np.abs(np.frombuffer(ulaw_to_pcm16(payload), "<i2")).max() > threshold
            ):
                return at
        return None

    @property
    def port(self) -> int:
        assert self.transport is not None
        port: int = self.transport.get_extra_info("sockname")[1]
        return port

    def pcm(self) -> bytes:
        """Everything heard, as 8 kHz pcm16."""
        return ulaw_to_pcm16(b"".join(self.payloads))


@contextlib.asynccontextmanager
async def recorder() -> AsyncIterator[Recorder]:
    loop = asyncio.get_running_loop()
    _, rec = await loop.create_datagram_endpoint(Recorder, local_addr=("127.0.0.1", 0))
    try:
        yield rec
    finally:
        if rec.transport is not None:
            rec.transport.close()


def write_ulaw(path: Path, pcm8k: bytes) -> Path:
    """Raw µ-law (what sipp's `rtp_stream` sends as payload type 0)."""
    path.write_bytes(pcm16_to_ulaw(pcm8k))
    return path


async def start_sipp(
    tmp_path: Path,
    server: SipServer,
    service: str,
    speech: Path,
    rec_port: int,
    transport: str = "u1",
) -> asyncio.subprocess.Process:
    """One sipp call (`uac_speech.xml`) to `service`; wait on the process for its end."""
    scenario = (SIPP_DIR / "uac_speech.xml").read_text()
    scenario = scenario.replace("[speech]", str(speech)).replace("[rec_port]", str(rec_port))
    (tmp_path / "uac_speech.xml").write_text(scenario)
    log = (tmp_path / "sipp.log").open("wb")
    return await asyncio.create_subprocess_exec(
        shutil.which("sipp") or "sipp",
        f"127.0.0.1:{server.port}",
        "-sf",
        str(tmp_path / "uac_speech.xml"),
        "-s",
        service,
        "-m",
        "1",
        "-i",
        "127.0.0.1",
        "-p",
        str(free_port_both()),
        "-mp",
        str(free_port_udp()),
        "-timeout",
        "150",
        "-timeout_error",
        "-t",
        transport,  # u1: UDP, t1: TCP
        "-nostdin",
        "-trace_err",
        stdout=log,
        stderr=asyncio.subprocess.STDOUT,
        cwd=tmp_path,
    )


def free_port_udp() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_port_both() -> int:
    """A port free for UDP and for TCP on 127.0.0.1 (SIP listens on both)."""
    for _ in range(50):
        port = free_port_udp()
        with socket.socket() as tcp:
            try:
                tcp.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no port free for both UDP and TCP")

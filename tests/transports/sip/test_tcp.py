"""SIP over TCP: messages framed by Content-Length (two in one write, keep-alive CRLFs),
and a connection that sends too much without an end of headers is closed."""

from __future__ import annotations

import asyncio
from pathlib import Path

from realtime2.transports.sip.message import SipResponse, parse_message
from tests.support.fakes import fake_engines
from tests.support.server import build_services
from tests.support.sip import WAIT, sip_server


def options(n: int) -> bytes:
    return (
        "OPTIONS sip:ping@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK{n}\r\n"
        "From: <sip:t@127.0.0.1>;tag=1\r\nTo: <sip:ping@127.0.0.1>\r\n"
        f"Call-ID: tcp-{n}\r\nCSeq: {n} OPTIONS\r\nContent-Length: 0\r\n\r\n"
    ).encode()


async def read_response(reader: asyncio.StreamReader) -> SipResponse:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)
    message = parse_message(head)
    assert isinstance(message, SipResponse)
    return message


async def test_tcp_framing_and_bounds(tmp_path: Path) -> None:
    svc = await build_services(tmp_path, fake_engines())
    async with sip_server(svc) as (_, sip):
        reader, writer = await asyncio.open_connection("127.0.0.1", sip.port)
        writer.write(b"\r\n\r\n" + options(1) + options(2)[:40])
        await writer.drain()
        assert (await read_response(reader)).headers.get("cseq") == "1 OPTIONS"
        writer.write(options(2)[40:])
        assert (await read_response(reader)).headers.get("cseq") == "2 OPTIONS"
        writer.close()

        reader, writer = await asyncio.open_connection("127.0.0.1", sip.port)
        writer.write(b"A" * 20_000)  # no end of headers within bounds
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), WAIT) == b""  # closed by the server

        reader, writer = await asyncio.open_connection("127.0.0.1", sip.port)
        writer.write(options(3))
        assert (await read_response(reader)).status == 200  # still serving
        writer.close()

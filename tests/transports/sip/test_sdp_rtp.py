"""SDP offers of G.711, RTP packets, RFC 4733 DTMF and the jitter buffer."""

from __future__ import annotations

import struct

import pytest

from realtime2.transports.sip.rtp import (
    DtmfReceiver,
    JitterBuffer,
    RtpError,
    RtpPacket,
    build_rtp,
    parse_rtp,
)
from realtime2.transports.sip.sdp import SdpError, answer, parse_offer

OFFER = (
    "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n"
    "m=audio 40000 RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\n"
)


def test_offer_picks_the_first_g711_and_dtmf() -> None:
    offer = parse_offer(OFFER.encode())
    assert (offer.host, offer.port, offer.codec, offer.dtmf_payload_type) == (
        "10.0.0.1",
        40000,
        "PCMA",
        101,
    )
    text = answer(offer, host="127.0.0.1", port=30000, session_id=5).decode()
    assert "m=audio 30000 RTP/AVP 8 101\r\n" in text
    assert "a=rtpmap:8 PCMA/8000" in text and "a=ptime:20" in text
    assert "c=IN IP4 127.0.0.1" in text


@pytest.mark.parametrize(
    "body",
    [
        b"",
        OFFER.replace("RTP/AVP 8 0 101", "RTP/AVP 9 101").encode(),  # G.722 only
        OFFER.replace("RTP/AVP", "RTP/SAVP").encode(),
        OFFER.replace("m=audio", "m=video").encode(),
        OFFER.replace("c=IN IP4 10.0.0.1", "c=IN IP4 example.com").encode(),
        OFFER.replace("40000", "70000").encode(),
        (OFFER + "m=audio 40002 RTP/AVP 0\r\n").encode(),
        OFFER.encode() * 20,
        b"\xff\xfe",
    ],
)
def test_bad_offers_raise(body: bytes) -> None:
    with pytest.raises(SdpError):
        parse_offer(body)


def test_rtp_round_trip_and_bounds() -> None:
    packet = RtpPacket(0, 65535, 4_294_967_200, 7, b"\xff" * 160, marker=True)
    assert parse_rtp(build_rtp(packet)) == packet
    for bad in (b"", b"\x80" * 11, b"\x40" + bytes(20), b"\x80\x00" + bytes(1600)):
        with pytest.raises(RtpError):
            parse_rtp(bad)
    padded = bytearray(build_rtp(packet) + b"\x00\x00\x03")
    padded[0] |= 0x20
    assert parse_rtp(bytes(padded)).payload == packet.payload


def dtmf(key: int, end: bool, ts: int, seq: int) -> RtpPacket:
    payload = struct.pack("!BBH", key, 0x8A if end else 0x0A, 800)
    return RtpPacket(101, seq, ts, 1, payload)


def test_dtmf_reported_once_per_press() -> None:
    receiver = DtmfReceiver()
    packets = [dtmf(1, False, 1000, 1), dtmf(1, True, 1000, 2), dtmf(1, True, 1000, 3)]
    packets += [dtmf(1, True, 1000, 4), dtmf(11, True, 3000, 5), dtmf(11, True, 3000, 6)]
    assert [k for p in packets if (k := receiver.feed(p))] == ["1", "#"]


def test_jitter_buffer_orders_and_drops_late() -> None:
    buffer = JitterBuffer(depth=2)
    seqs = [65533, 65535, 65534, 0, 2, 1, 65534, 3]
    out: list[int] = []
    for s in seqs:
        out += [p.sequence for p in buffer.push(RtpPacket(0, s, 0, 1, b""))]
    out += [p.sequence for p in buffer.drain()]
    assert out == [65533, 65534, 65535, 0, 1, 2, 3]
    assert buffer.dropped == 1

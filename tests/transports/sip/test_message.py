"""The SIP parser: real INVITEs parse, malformed ones raise `SipParseError`, never crash."""

from __future__ import annotations

import contextlib
import random

import pytest

from realtime2.transports.sip.message import (
    MAX_MESSAGE_BYTES,
    SipParseError,
    SipRequest,
    SipResponse,
    parse_message,
    response_to,
    tag_of,
)

SDP = (
    b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    b"m=audio 40000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n"
)


def invite(body: bytes = SDP, **replace: str) -> bytes:
    headers = {
        "Via": "SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-1",
        "Max-Forwards": "70",
        "From": "<sip:alice@127.0.0.1>;tag=abc",
        "To": "<sip:agent@127.0.0.1>",
        "Call-ID": "call-1@127.0.0.1",
        "CSeq": "1 INVITE",
        "Contact": "<sip:alice@127.0.0.1:5061>",
        "Content-Type": "application/sdp",
        "Content-Length": str(len(body)),
    }
    headers.update(replace)
    head = "INVITE sip:agent@127.0.0.1 SIP/2.0\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in headers.items() if v
    )
    return head.encode() + b"\r\n" + body


def test_invite_parses() -> None:
    message = parse_message(invite())
    assert isinstance(message, SipRequest)
    assert message.method == "INVITE"
    assert message.user == "agent"
    assert message.call_id == "call-1@127.0.0.1"
    assert message.cseq == (1, "INVITE")
    assert message.body == SDP
    assert tag_of(message.headers.get("from") or "") == "abc"


def test_compact_forms_and_folding() -> None:
    raw = (
        invite()
        .replace(b"Call-ID:", b"i:")
        .replace(b"Max-Forwards: 70\r\n", b"Subject: a\r\n  folded\r\n")
    )
    message = parse_message(raw)
    assert isinstance(message, SipRequest)
    assert message.call_id == "call-1@127.0.0.1"
    assert message.headers.get("subject") == "a folded"


def test_response_echoes_the_transaction() -> None:
    request = parse_message(invite())
    assert isinstance(request, SipRequest)
    response = response_to(request, 180, to_tag="t1")
    wire = response.encode()
    assert wire.startswith(b"SIP/2.0 180 Ringing\r\n")
    parsed = parse_message(wire)
    assert isinstance(parsed, SipResponse)
    assert parsed.status == 180
    assert tag_of(parsed.headers.get("to") or "") == "t1"
    assert parsed.headers.get("cseq") == "1 INVITE"


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"garbage",
        b"INVITE sip:a@b SIP/2.0\r\n\r\n",  # no transaction headers
        invite(**{"Content-Length": "10"}),
        invite(**{"Content-Length": "abc"}),
        invite(**{"CSeq": "1 BYE"}),
        invite(**{"CSeq": "x INVITE"}),
        invite(**{"Call-ID": ""}),
        invite().replace(b"INVITE sip:", b"INVITE http:", 1),
        invite().replace(b"SIP/2.0\r\n", b"SIP/3.0\r\n", 1),
        invite().replace(b"\r\nVia", b"\nVia"),
        invite().replace(b"Max-Forwards:", b"Max Forwards:"),
        invite() + b"x" * MAX_MESSAGE_BYTES,
        invite(**{"Subject": "x" * 2000}),
        b"INVITE sip:a@b SIP/2.0\r\n" + b"X-A: 1\r\n" * 100 + b"\r\n",
        b"SIP/2.0 99 Low\r\n\r\n",
        "INVITE sip:a@b SIP/2.0\r\nVia: ü\r\n\r\n".encode("latin-1"),
    ],
)
def test_malformed_raises(raw: bytes) -> None:
    with pytest.raises(SipParseError):
        parse_message(raw)


def test_mutated_invites_never_crash() -> None:
    rng = random.Random(19)
    base = invite()
    for _ in range(3000):
        data = bytearray(base)
        for _ in range(rng.randint(1, 8)):
            op = rng.random()
            at = rng.randrange(len(data))
            if op < 0.4:
                data[at] = rng.randrange(256)
            elif op < 0.7:
                del data[at : at + rng.randint(1, 20)]
            else:
                data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 20)))
        with contextlib.suppress(SipParseError):
            parse_message(bytes(data))

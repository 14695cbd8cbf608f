"""The SDP of a phone call (RFC 4566/3264): reading an offer of G.711 and RFC 4733
telephone-event, and writing the answer.

Only what a trunk offers for voice: one `m=audio` RTP/AVP stream, PCMU (0) or PCMA (8),
optionally telephone-event. Any other offer is refused with `SdpError` (488 Not
Acceptable Here). Bounded: at most `MAX_SDP_BYTES`, and the offer is read line by line.
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass
from typing import Final

MAX_SDP_BYTES: Final = 4096
CODECS: Final = {0: "PCMU", 8: "PCMA"}
PTIME_MS: Final = 20


class SdpError(ValueError):
    pass


@dataclass(frozen=True)
class AudioOffer:
    host: str  # where to send RTP
    port: int
    payload_type: int  # the codec chosen: 0 PCMU or 8 PCMA, the first one offered
    dtmf_payload_type: int | None  # telephone-event/8000, when offered

    @property
    def codec(self) -> str:
        return CODECS[self.payload_type]


def parse_offer(body: bytes) -> AudioOffer:
    if not body or len(body) > MAX_SDP_BYTES:
        raise SdpError("no SDP offer, or too large")
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        raise SdpError("SDP is not ASCII") from None
    session_host: str | None = None
    media_host: str | None = None
    port: int | None = None
    formats: list[int] = []
    rtpmap: dict[int, str] = {}
    in_audio = False
    audio_streams = 0
    for raw in text.splitlines():
        line = raw.strip()
        if len(line) < 2 or line[1] != "=":
            if line:
                raise SdpError("bad SDP line")
            continue
        kind, value = line[0], line[2:]
        if kind == "m":
            parts = value.split()
            in_audio = len(parts) >= 4 and parts[0] == "audio"
            if not in_audio:
                continue
            audio_streams += 1
            if parts[2] != "RTP/AVP" or not parts[1].isdigit():
                raise SdpError("only RTP/AVP audio is served")
            port = int(parts[1])
            if not all(p.isdigit() and int(p) < 128 for p in parts[3:]):
                raise SdpError("bad payload types")
            formats = [int(p) for p in parts[3:]]
        elif kind == "c":
            address = _connection_host(value)
            if in_audio:
                media_host = address
            elif audio_streams == 0:
                session_host = address
        elif kind == "a" and in_audio and value.startswith("rtpmap:"):
            pt, _, encoding = value[7:].partition(" ")
            if pt.isdigit():
                rtpmap[int(pt)] = encoding.strip().lower()
    if audio_streams != 1 or port is None:
        raise SdpError("exactly one audio stream is served")
    host = media_host or session_host
    if host is None or not 0 < port < 65536:
        raise SdpError("no connection address")
    codec = next((pt for pt in formats if pt in CODECS), None)
    if codec is None:
        raise SdpError("PCMU or PCMA is required")
    dtmf = next(
        (pt for pt in formats if rtpmap.get(pt, "").startswith("telephone-event/8000")), None
    )
    return AudioOffer(host=host, port=port, payload_type=codec, dtmf_payload_type=dtmf)


def _connection_host(value: str) -> str:
    parts = value.split()
    if len(parts) != 3 or parts[0] != "IN" or parts[1] not in ("IP4", "IP6"):
        raise SdpError("bad connection line")
    try:
        ipaddress.ip_address(parts[2])
    except ValueError:
        raise SdpError("the connection address must be an IP address") from None
    return parts[2]


def answer(offer: AudioOffer, *, host: str, port: int, session_id: int | None = None) -> bytes:
    """Our answer: the chosen codec (and telephone-event when offered), 20 ms packets."""
    sid = session_id if session_id is not None else int(time.time())
    family = "IP6" if ":" in host else "IP4"
    formats = [str(offer.payload_type)]
    attrs = [f"a=rtpmap:{offer.payload_type} {offer.codec}/8000"]
    if offer.dtmf_payload_type is not None:
        formats.append(str(offer.dtmf_payload_type))
        attrs += [
            f"a=rtpmap:{offer.dtmf_payload_type} telephone-event/8000",
            f"a=fmtp:{offer.dtmf_payload_type} 0-16",
        ]
    lines = [
        "v=0",
        f"o=realtime2 {sid} {sid} IN {family} {host}",
        "s=realtime2",
        f"c=IN {family} {host}",
        "t=0 0",
        f"m=audio {port} RTP/AVP {' '.join(formats)}",
        *attrs,
        f"a=ptime:{PTIME_MS}",
        "a=sendrecv",
    ]
    return ("\r\n".join(lines) + "\r\n").encode()

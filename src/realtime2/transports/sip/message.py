"""SIP messages (RFC 3261 §7): a small, strict parser with bounds, and response building.

Sans-I/O: bytes in, `SipRequest`/`SipResponse` out; a `SipResponse` serialises to bytes.
Anything this parser does not understand raises `SipParseError`, which a listener answers
with 400 (when the request line and the transaction headers could be read) or drops.

Why our own parser and not a PyPI one: we serve only a UAS (INVITE, ACK, BYE, CANCEL,
OPTIONS), and a public SIP port is scanned constantly, so the parser must refuse rather than
repair. The maintained candidate we inspected (`aiosipua` 0.7.1, MIT) is lenient by design
(bare-LF messages accepted, a body shorter than Content-Length kept and only logged, a longer
one trimmed); its 6,000 lines are mostly a UAC and dialogs we do not need.

Bounds: the whole datagram (`MAX_MESSAGE_BYTES`), the number of header lines
(`MAX_HEADERS`), a line's length (`MAX_LINE_BYTES`), and the body must be exactly
Content-Length bytes (UDP, RFC 3261 §18.3).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

MAX_MESSAGE_BYTES: Final = 8192
MAX_HEADERS: Final = 64
MAX_LINE_BYTES: Final = 1024
SIP_VERSION: Final = "SIP/2.0"

# RFC 3261 §7.3.3 compact forms.
COMPACT: Final = {
    "v": "via",
    "f": "from",
    "t": "to",
    "i": "call-id",
    "m": "contact",
    "l": "content-length",
    "c": "content-type",
    "k": "supported",
    "s": "subject",
    "e": "content-encoding",
}
REQUIRED: Final = ("via", "from", "to", "call-id", "cseq")
_TOKEN = re.compile(r"^[A-Za-z0-9.!%*_+`'~-]+$")
_REQUEST_URI = re.compile(r"^(sips?):([^\s]+)$")

REASONS: Final = {
    100: "Trying",
    180: "Ringing",
    200: "OK",
    202: "Accepted",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    415: "Unsupported Media Type",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    500: "Server Internal Error",
    503: "Service Unavailable",
    603: "Decline",
}


class SipParseError(ValueError):
    pass


@dataclass
class Headers:
    """Header fields in order; names compared case-insensitively (compact forms expanded)."""

    items: list[tuple[str, str]] = field(default_factory=list)

    def get(self, name: str) -> str | None:
        key = name.lower()
        for n, v in self.items:
            if n.lower() == key:
                return v
        return None

    def get_all(self, name: str) -> list[str]:
        key = name.lower()
        return [v for n, v in self.items if n.lower() == key]

    def add(self, name: str, value: str) -> None:
        self.items.append((name, value))


@dataclass
class SipRequest:
    method: str
    uri: str
    headers: Headers
    body: bytes = b""

    @property
    def call_id(self) -> str:
        return self.headers.get("call-id") or ""

    @property
    def cseq(self) -> tuple[int, str]:
        return parse_cseq(self.headers.get("cseq") or "")

    @property
    def user(self) -> str:
        """The user part of the Request-URI (`sip:USER@host`), or ''."""
        match = _REQUEST_URI.match(self.uri)
        rest = match.group(2) if match else ""
        return rest.split("@", 1)[0] if "@" in rest else ""

    def header_dict(self) -> list[dict[str, str]]:
        """The headers as OpenAI's webhook shows them (`sip_headers`: name/value pairs)."""
        return [{"name": n, "value": v} for n, v in self.headers.items]


@dataclass
class SipResponse:
    status: int
    reason: str
    headers: Headers
    body: bytes = b""

    def encode(self) -> bytes:
        lines = [f"{SIP_VERSION} {self.status} {self.reason}"]
        lines += [f"{n}: {v}" for n, v in self.headers.items if n.lower() != "content-length"]
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body


def parse_cseq(value: str) -> tuple[int, str]:
    parts = value.split()
    if len(parts) != 2 or not parts[0].isdigit() or len(parts[0]) > 10:
        raise SipParseError("bad CSeq")
    number = int(parts[0])
    if number >= 2**31 or not _TOKEN.match(parts[1]):
        raise SipParseError("bad CSeq")
    return number, parts[1].upper()


def parse_message(data: bytes) -> SipRequest | SipResponse:
    """One SIP message from one datagram; `SipParseError` on anything malformed."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise SipParseError("message too large")
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        raise SipParseError("no end of headers")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        raise SipParseError("headers are not UTF-8") from None
    lines = text.split("\r\n")
    if any(len(line) > MAX_LINE_BYTES for line in lines):
        raise SipParseError("line too long")
    if any("\n" in line or "\r" in line or "\x00" in line for line in lines):
        raise SipParseError("bare CR or LF")
    start, header_lines = lines[0], _unfold(lines[1:])
    if len(header_lines) > MAX_HEADERS:
        raise SipParseError("too many headers")
    headers = Headers()
    for line in header_lines:
        name, colon, value = line.partition(":")
        name = name.strip()
        if not colon or not _TOKEN.match(name):
            raise SipParseError("bad header line")
        headers.add(COMPACT_NAME.get(name.lower(), name), value.strip())
    length = headers.get("content-length")
    if length is None:
        if body:
            raise SipParseError("body without Content-Length")
    elif not length.isdigit() or int(length) != len(body):
        raise SipParseError("Content-Length does not match the body")
    if start.startswith(SIP_VERSION + " "):
        return _response(start, headers, body)
    return _request(start, headers, body)


def _unfold(lines: list[str]) -> list[str]:
    out: list[str] = []
    for line in lines:
        if line[:1] in (" ", "\t"):
            if not out:
                raise SipParseError("continuation without a header")
            out[-1] += " " + line.strip()
        elif line:
            out.append(line)
        else:
            raise SipParseError("empty header line")
    return out


def _request(start: str, headers: Headers, body: bytes) -> SipRequest:
    parts = start.split(" ")
    if len(parts) != 3 or parts[2] != SIP_VERSION:
        raise SipParseError("bad request line")
    method, uri = parts[0], parts[1]
    if not _TOKEN.match(method) or not _REQUEST_URI.match(uri):
        raise SipParseError("bad request line")
    missing = [h for h in REQUIRED if headers.get(h) is None]
    if missing:
        raise SipParseError(f"missing {', '.join(missing)}")
    request = SipRequest(method.upper(), uri, headers, body)
    _, cseq_method = request.cseq
    if cseq_method != request.method:
        raise SipParseError("CSeq method does not match the request")
    return request


def _response(start: str, headers: Headers, body: bytes) -> SipResponse:
    parts = start.split(" ", 2)
    if len(parts) < 2 or len(parts[1]) != 3 or not parts[1].isdigit():
        raise SipParseError("bad status line")
    status = int(parts[1])
    if not 100 <= status <= 699:
        raise SipParseError("bad status code")
    return SipResponse(status, parts[2] if len(parts) == 3 else "", headers, body)


COMPACT_NAME: Final = {
    short: {
        "via": "Via",
        "from": "From",
        "to": "To",
        "call-id": "Call-ID",
        "contact": "Contact",
        "content-length": "Content-Length",
        "content-type": "Content-Type",
        "supported": "Supported",
        "subject": "Subject",
        "content-encoding": "Content-Encoding",
    }[long]
    for short, long in COMPACT.items()
}


def response_to(
    request: SipRequest,
    status: int,
    *,
    to_tag: str | None = None,
    extra: list[tuple[str, str]] | None = None,
    body: bytes = b"",
) -> SipResponse:
    """A response in `request`'s transaction (RFC 3261 §8.2.6): Via, From, Call-ID and
    CSeq copied; a To tag added when given and not already there."""
    headers = Headers()
    for via in request.headers.get_all("via"):
        headers.add("Via", via)
    headers.add("From", request.headers.get("from") or "")
    to = request.headers.get("to") or ""
    if to_tag and ";tag=" not in to.lower():
        to = f"{to};tag={to_tag}"
    headers.add("To", to)
    headers.add("Call-ID", request.call_id)
    headers.add("CSeq", request.headers.get("cseq") or "")
    for name, value in extra or []:
        headers.add(name, value)
    headers.add("Server", "realtime2")
    return SipResponse(status, REASONS.get(status, "Unknown"), headers, body)


def tag_of(value: str) -> str | None:
    """The `tag` parameter of a From/To value."""
    match = re.search(r";\s*tag=([^;>\s]+)", value, re.IGNORECASE)
    return match.group(1) if match else None

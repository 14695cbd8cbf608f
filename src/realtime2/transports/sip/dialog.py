"""The dialog an answered INVITE creates (RFC 3261 §12), as the UAS sees it: our tag,
the peer's tag and Contact, and the requests we send in it (BYE, REFER)."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

from realtime2.transports.sip.message import SipRequest, tag_of

_URI = re.compile(r"<([^>]+)>")


def new_tag() -> str:
    return secrets.token_hex(6)


def _uri_of(value: str) -> str:
    match = _URI.search(value)
    if match:
        return match.group(1)
    return value.split(";", 1)[0].strip()


@dataclass
class Dialog:
    invite: SipRequest
    local_tag: str = field(default_factory=new_tag)
    local_host: str = "127.0.0.1"
    local_port: int = 5060
    transport: str = "UDP"  # or TCP: our requests' Via and Contact say which
    cseq: int = 0

    @property
    def call_id(self) -> str:
        return self.invite.call_id

    @property
    def remote_tag(self) -> str | None:
        return tag_of(self.invite.headers.get("from") or "")

    @property
    def contact(self) -> str:
        suffix = ";transport=tcp" if self.transport == "TCP" else ""
        return f"<sip:realtime2@{self.local_host}:{self.local_port}{suffix}>"

    def request(self, method: str, extra: list[tuple[str, str]] | None = None) -> bytes:
        """An in-dialog request to the peer (From/To swapped, our CSeq counting up)."""
        self.cseq += 1
        target = _uri_of(self.invite.headers.get("contact") or "") or _uri_of(
            self.invite.headers.get("from") or ""
        )
        to = self.invite.headers.get("to") or ""
        local = to if tag_of(to) else f"{to};tag={self.local_tag}"
        lines = [
            f"{method} {target} SIP/2.0",
            f"Via: SIP/2.0/{self.transport} {self.local_host}:{self.local_port};branch=z9hG4bK"
            f"{secrets.token_hex(8)};rport",
            "Max-Forwards: 70",
            f"From: {local}",
            f"To: {self.invite.headers.get('from') or ''}",
            f"Call-ID: {self.call_id}",
            f"CSeq: {self.cseq} {method}",
            f"Contact: {self.contact}",
            *(f"{n}: {v}" for n, v in extra or []),
            "Content-Length: 0",
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

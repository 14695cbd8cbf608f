"""Checking a client's SDP offer before any work is done for it."""

from __future__ import annotations

from typing import Final

from aiortc.sdp import SessionDescription

MAX_SDP_BYTES: Final = 64 * 1024
# What aiortc can decode; a browser offers Opus and usually PCMU/PCMA too.
AUDIO_CODECS: Final = frozenset({"opus", "pcmu", "pcma"})


class InvalidSdpError(ValueError):
    code: Final = "invalid_sdp"


def check_offer(text: str | None) -> str:
    """Return the offer normalised to CRLF line ends, or raise InvalidSdpError."""
    if not text or not text.strip():
        raise InvalidSdpError("A WebRTC SDP offer is required (field 'sdp').")
    if len(text.encode()) > MAX_SDP_BYTES:
        raise InvalidSdpError("The SDP offer is too large.")
    lines = [line.strip() for line in text.strip().splitlines()]
    if not lines or lines[0] != "v=0":
        raise InvalidSdpError("The SDP offer must start with 'v=0'.")
    offer = "\r\n".join(lines) + "\r\n"
    try:
        description = SessionDescription.parse(offer)
    except Exception:
        raise InvalidSdpError("The SDP offer could not be parsed.") from None
    audio = [m for m in description.media if m.kind == "audio"]
    if not audio:
        raise InvalidSdpError("The SDP offer has no audio m-line.")
    codecs = {c.mimeType.split("/")[-1].lower() for m in audio for c in m.rtp.codecs}
    if not codecs & AUDIO_CODECS:
        raise InvalidSdpError("The SDP offer has no supported audio codec (Opus, PCMU, PCMA).")
    # The parser copies session-level ICE/DTLS attributes into each media section.
    media = audio[0]
    if media.ice is None or not media.ice.usernameFragment or not media.ice.password:
        raise InvalidSdpError("The SDP offer has no ICE credentials.")
    if media.dtls is None or not media.dtls.fingerprints:
        raise InvalidSdpError("The SDP offer has no DTLS fingerprint.")
    return offer

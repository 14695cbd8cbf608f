"""RTP (RFC 3550) for G.711 at 20 ms, RFC 4733 telephone events, and a small jitter buffer.

Sans-I/O: packets are parsed from and built to bytes; the jitter buffer orders packets by
sequence number and releases them once `depth` packets are waiting (or on `drain`), so
reordering within 40-60 ms is undone and late duplicates are dropped.
"""

from __future__ import annotations

import heapq
import struct
from dataclasses import dataclass, field
from typing import Final

HEADER: Final = struct.Struct("!BBHII")
MAX_PACKET_BYTES: Final = 1500
SAMPLES_PER_PACKET: Final = 160  # 20 ms at 8 kHz
DTMF_KEYS: Final = "0123456789*#ABCD"


class RtpError(ValueError):
    pass


@dataclass(frozen=True)
class RtpPacket:
    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes
    marker: bool = False


def parse_rtp(data: bytes) -> RtpPacket:
    if len(data) < HEADER.size or len(data) > MAX_PACKET_BYTES:
        raise RtpError("bad RTP size")
    first, second, sequence, timestamp, ssrc = HEADER.unpack_from(data)
    if first >> 6 != 2:
        raise RtpError("not RTP version 2")
    offset = HEADER.size + 4 * (first & 0x0F)
    if first & 0x10:  # header extension
        if len(data) < offset + 4:
            raise RtpError("truncated extension")
        (words,) = struct.unpack_from("!H", data, offset + 2)
        offset += 4 + 4 * words
    end = len(data)
    if first & 0x20:  # padding
        pad = data[-1]
        if pad == 0 or pad > end - offset:
            raise RtpError("bad padding")
        end -= pad
    if offset > end:
        raise RtpError("truncated RTP")
    return RtpPacket(
        payload_type=second & 0x7F,
        sequence=sequence,
        timestamp=timestamp,
        ssrc=ssrc,
        payload=data[offset:end],
        marker=bool(second & 0x80),
    )


def build_rtp(packet: RtpPacket) -> bytes:
    second = (0x80 if packet.marker else 0) | (packet.payload_type & 0x7F)
    head = HEADER.pack(
        0x80, second, packet.sequence & 0xFFFF, packet.timestamp & 0xFFFFFFFF, packet.ssrc
    )
    return head + packet.payload


@dataclass(frozen=True)
class DtmfEvent:
    key: str
    end: bool
    duration: int  # in timestamp units (8 kHz)


def parse_dtmf(payload: bytes) -> DtmfEvent | None:
    """An RFC 4733 event payload; None for events that are not keypad digits."""
    if len(payload) < 4:
        raise RtpError("short telephone-event")
    event, flags, duration = struct.unpack_from("!BBH", payload)
    if event >= len(DTMF_KEYS):
        return None
    return DtmfEvent(DTMF_KEYS[event], bool(flags & 0x80), duration)


@dataclass
class DtmfReceiver:
    """One key press per event: RFC 4733 repeats the event's packets (and its end packet
    three times) under one RTP timestamp, so a press is reported once, at its first end."""

    _reported: set[int] = field(default_factory=set)

    def feed(self, packet: RtpPacket) -> str | None:
        event = parse_dtmf(packet.payload)
        if event is None or not event.end or packet.timestamp in self._reported:
            return None
        self._reported.add(packet.timestamp)
        if len(self._reported) > 64:
            self._reported = set(sorted(self._reported)[-32:])
        return event.key


class JitterBuffer:
    """Orders packets of one stream by (unwrapped) sequence number."""

    def __init__(self, depth: int = 3, max_packets: int = 50) -> None:
        self.depth = depth
        self.max_packets = max_packets
        self._heap: list[tuple[int, RtpPacket]] = []
        self._next: int | None = None  # the unwrapped sequence expected next
        self._highest: int | None = None
        self.dropped = 0

    def _unwrap(self, sequence: int) -> int:
        if self._highest is None:
            return sequence
        base = self._highest & ~0xFFFF
        candidates = (base - 0x10000 + sequence, base + sequence, base + 0x10000 + sequence)
        return min(candidates, key=lambda c: abs(c - self._highest))  # type: ignore[operator]

    def push(self, packet: RtpPacket) -> list[RtpPacket]:
        """Add a packet; returns the packets now ready to play, in order."""
        seq = self._unwrap(packet.sequence)
        if (self._next is not None and seq < self._next) or any(s == seq for s, _ in self._heap):
            self.dropped += 1  # late or duplicate
            return []
        self._highest = seq if self._highest is None else max(self._highest, seq)
        heapq.heappush(self._heap, (seq, packet))
        out: list[RtpPacket] = []
        while len(self._heap) > self.depth or len(self._heap) > self.max_packets:
            out.append(self._pop())
        return out

    def drain(self) -> list[RtpPacket]:
        out: list[RtpPacket] = []
        while self._heap:
            out.append(self._pop())
        return out

    def _pop(self) -> RtpPacket:
        seq, packet = heapq.heappop(self._heap)
        self._next = seq + 1
        return packet

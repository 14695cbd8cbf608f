"""The RTP leg of a phone call: one UDP socket per call, G.711 at 20 ms both ways.

In: packets from the call's peer host only (the offer's address, any port: a UA may send
from another port than it receives on), ordered by a `JitterBuffer`, decoded to
8 kHz pcm16 and handed on through a bounded queue (a flood is dropped, never buffered);
RFC 4733 events become key presses. Out: pcm16 of each response, resampled once to
8 kHz, cut into 160-sample packets sent every 20 ms of wall time (silence when nothing is
queued, so the far end's jitter buffer stays steady); a barge-in drops one response's
queued audio at once (`clear`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable
from typing import Final, cast

from realtime2.audio.g711 import alaw_to_pcm16, pcm16_to_alaw, pcm16_to_ulaw, ulaw_to_pcm16
from realtime2.audio.playout import Playout
from realtime2.transports.sip.rtp import (
    SAMPLES_PER_PACKET,
    DtmfReceiver,
    JitterBuffer,
    RtpError,
    RtpPacket,
    build_rtp,
    parse_rtp,
)
from realtime2.transports.sip.sdp import AudioOffer

log = logging.getLogger(__name__)

RATE: Final = 8000
PACKET_SECONDS: Final = SAMPLES_PER_PACKET / RATE
PACKET_BYTES: Final = SAMPLES_PER_PACKET * 2  # pcm16
MAX_LAG_SECONDS: Final = 0.2
INBOUND_QUEUE: Final = 100  # 2 s of packets


class RtpLeg(asyncio.DatagramProtocol):
    def __init__(
        self,
        offer: AudioOffer,
        *,
        on_key: Callable[[str], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.offer = offer
        self.on_key = on_key
        self.clock = clock
        self.inbound: asyncio.Queue[bytes] = asyncio.Queue(INBOUND_QUEUE)
        self.last_received = clock()
        self.packets_in = 0
        self.packets_out = 0
        self.audio_packets_out = 0
        self.ignored = 0
        self._peer: tuple[str, int] = (offer.host, offer.port)
        self._jitter = JitterBuffer()
        self._dtmf = DtmfReceiver()
        self._transport: asyncio.DatagramTransport | None = None
        self._playout = Playout(RATE)
        self._sequence = secrets.randbelow(0x10000)
        self._timestamp = secrets.randbelow(0x100000000)
        self._ssrc = secrets.randbelow(0x100000000)
        self._decode = ulaw_to_pcm16 if offer.payload_type == 0 else alaw_to_pcm16
        self._encode = pcm16_to_ulaw if offer.payload_type == 0 else pcm16_to_alaw

    @property
    def local_port(self) -> int:
        assert self._transport is not None
        port: int = self._transport.get_extra_info("sockname")[1]
        return port

    # --- asyncio protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if addr[0] != self._peer[0]:
            self.ignored += 1
            return
        try:
            packet = parse_rtp(data)
        except RtpError:
            self.ignored += 1
            return
        self.last_received = self.clock()
        self.packets_in += 1
        if packet.payload_type == self.offer.dtmf_payload_type:
            try:
                key = self._dtmf.feed(packet)
            except RtpError:
                return
            if key is not None:
                self.on_key(key)
        elif packet.payload_type == self.offer.payload_type:
            for ready in self._jitter.push(packet):
                with contextlib.suppress(asyncio.QueueFull):
                    self.inbound.put_nowait(self._decode(ready.payload))

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    # --- audio out -----------------------------------------------------------------------

    @property
    def queued_seconds(self) -> float:
        return self._playout.queued_seconds

    def play(self, response_id: str, pcm: bytes, sample_rate: int) -> None:
        self._playout.play(response_id, pcm, sample_rate)

    def finish(self, response_id: str) -> None:
        self._playout.finish(response_id)

    def clear(self, response_id: str | None = None) -> None:
        self._playout.clear(response_id)

    async def send_loop(self) -> None:
        """Send a packet every 20 ms until cancelled."""
        start = self.clock()
        sent = 0
        while True:
            pcm, had_audio = self._playout.take(PACKET_BYTES)
            packet = RtpPacket(
                self.offer.payload_type,
                self._sequence,
                self._timestamp,
                self._ssrc,
                self._encode(pcm),
                marker=sent == 0,
            )
            if self._transport is not None:
                self._transport.sendto(build_rtp(packet), self._peer)
            self._sequence = (self._sequence + 1) & 0xFFFF
            self._timestamp = (self._timestamp + SAMPLES_PER_PACKET) & 0xFFFFFFFF
            sent += 1
            self.packets_out += 1
            self.audio_packets_out += had_audio
            wait = start + sent * PACKET_SECONDS - self.clock()
            if wait < -MAX_LAG_SECONDS:
                start = self.clock() - sent * PACKET_SECONDS
                wait = 0.0
            await asyncio.sleep(max(wait, 0.0))


async def open_leg(offer: AudioOffer, host: str, on_key: Callable[[str], None]) -> RtpLeg:
    """Bind the call's RTP socket on `host` (an ephemeral port)."""
    loop = asyncio.get_running_loop()
    _, leg = await loop.create_datagram_endpoint(
        lambda: RtpLeg(offer, on_key=on_key), local_addr=(host, 0)
    )
    return leg

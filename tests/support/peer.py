"""An aiortc client peer for tests: a microphone track, the `oai-events` channel, and a
recorder of the audio it hears. Offers only 127.0.0.1 and uses no STUN."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import numpy as np
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame

from realtime2.transports.webrtc.audio import SpeakerTrack, mono_pcm16
from realtime2.transports.webrtc.ice import offered_hosts, rtc_configuration


class TestPeer:
    __test__ = False

    def __init__(self) -> None:
        self.pc = RTCPeerConnection(rtc_configuration())
        self.mic = SpeakerTrack()  # paced 20 ms frames: silence until `say` queues audio
        self.pc.addTrack(self.mic)
        self.channel = self.pc.createDataChannel("oai-events")
        self.events: list[dict[str, Any]] = []
        self._arrived = asyncio.Event()
        self.heard = bytearray()  # mono s16le at 48 kHz
        self.frames = 0
        self.first_sound_at: float | None = None
        self.connected_at: float | None = None
        self.started_at = time.monotonic()
        self.channel.on("message", self._on_message)
        self.pc.on("track", self._on_track)
        self.pc.on("connectionstatechange", self._on_state)
        self._readers: list[asyncio.Task[None]] = []
        self.connected = asyncio.Event()
        self.heard_sound = asyncio.Event()

    def _on_state(self) -> None:
        if self.pc.connectionState == "connected" and self.connected_at is None:
            self.connected_at = time.monotonic()
            self.connected.set()

    def _on_message(self, message: str | bytes) -> None:
        self.events.append(json.loads(message))
        self._arrived.set()

    def _on_track(self, track: MediaStreamTrack) -> None:
        self._readers.append(asyncio.get_running_loop().create_task(self._record(track)))

    async def _record(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if not isinstance(frame, AudioFrame):
                continue
            pcm = mono_pcm16(frame)
            self.frames += 1
            self.heard += pcm
            if self.first_sound_at is None and np.abs(np.frombuffer(pcm, "<i2")).max() > 200:
                self.first_sound_at = time.monotonic()
                self.heard_sound.set()

    async def offer(self) -> str:
        offer = await self.pc.createOffer()
        with offered_hosts(["127.0.0.1"]):
            await self.pc.setLocalDescription(offer)
        return str(self.pc.localDescription.sdp)

    async def accept(self, answer: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))

    def say(self, pcm: bytes, rate: int) -> None:
        self.mic.play("mic", pcm, rate)

    def send(self, event: dict[str, Any]) -> None:
        self.channel.send(json.dumps(event))

    async def wait_for(self, kind: str, within: float = 10.0, after: int = 0) -> dict[str, Any]:
        """The first event of this type (from index `after` on)."""
        async with asyncio.timeout(within):
            while True:
                event = next((e for e in self.events[after:] if e.get("type") == kind), None)
                if event is not None:
                    return event
                self._arrived.clear()
                await self._arrived.wait()

    async def wait_connected(self, within: float = 10.0) -> None:
        async with asyncio.timeout(within):
            await self.connected.wait()

    def types(self) -> list[str]:
        return [str(e.get("type")) for e in self.events]

    async def close(self) -> None:
        await self.pc.close()
        for task in self._readers:
            task.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)

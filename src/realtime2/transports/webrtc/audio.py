"""Audio on the RTP track: the outgoing speaker track and decoding of inbound frames.

The outgoing track is paced by wall time in 20 ms frames at 48 kHz (aiortc pulls frames as
fast as `recv` returns them) and plays silence when nothing is queued, so the far end's
jitter buffer stays steady. Queued audio is tagged with its response id so a barge-in can
drop exactly the interrupted response at once.
"""

from __future__ import annotations

import asyncio
import fractions
import time
from collections.abc import Callable
from typing import Final

import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame

from realtime2.audio.playout import Playout

RATE: Final = 48000
FRAME_SAMPLES: Final = 960  # 20 ms
FRAME_BYTES: Final = FRAME_SAMPLES * 2
# If the sender stalled for longer than this, restart the clock instead of bursting.
MAX_LAG_SECONDS: Final = 0.2


class SpeakerTrack(MediaStreamTrack):
    kind = "audio"

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._clock = clock
        self._playout = Playout(RATE)
        self._start: float | None = None
        self._pts = 0
        self.frames_sent = 0
        self.audio_frames_sent = 0

    @property
    def queued_seconds(self) -> float:
        return self._playout.queued_seconds

    def play(self, response_id: str, pcm: bytes, sample_rate: int) -> None:
        """Queue mono s16le audio of one response, at any rate."""
        self._playout.play(response_id, pcm, sample_rate)

    def finish(self, response_id: str) -> None:
        """The response has produced all its audio: queue the resampler's tail."""
        self._playout.finish(response_id)

    def clear(self, response_id: str | None = None) -> None:
        """Drop queued audio of one response (or all of it) before it is heard."""
        self._playout.clear(response_id)

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        now = self._clock()
        if self._start is None:
            self._start = now
        else:
            self._pts += FRAME_SAMPLES
            wait = self._start + self._pts / RATE - now
            if wait > 0:
                await asyncio.sleep(wait)
            elif wait < -MAX_LAG_SECONDS:
                self._start = now - self._pts / RATE
        data, had_audio = self._playout.take(FRAME_BYTES)
        frame = AudioFrame(format="s16", layout="mono", samples=FRAME_SAMPLES)
        frame.planes[0].update(data)
        frame.pts = self._pts
        frame.sample_rate = RATE
        frame.time_base = fractions.Fraction(1, RATE)
        self.frames_sent += 1
        self.audio_frames_sent += had_audio
        return frame


def mono_pcm16(frame: AudioFrame) -> bytes:
    """Mono s16le from a decoded frame (aiortc's Opus decoder yields packed s16 stereo)."""
    channels = len(frame.layout.channels)
    samples = frame.to_ndarray()
    if frame.format.name not in ("s16", "s16p"):
        raise ValueError(f"unexpected sample format {frame.format.name}")
    if channels == 1:
        mono: bytes = np.ascontiguousarray(samples.reshape(-1), dtype="<i2").tobytes()
        return mono
    if frame.format.is_planar:
        mixed = samples.astype(np.int32).mean(axis=0)
    else:
        mixed = samples.reshape(-1, channels).astype(np.int32).mean(axis=1)
    out: bytes = np.round(mixed).astype("<i2").tobytes()
    return out

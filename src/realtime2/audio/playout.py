"""Reply audio waiting to be played out on a media line, response by response.

A phone line (SIP, 8 kHz) and a WebRTC track (48 kHz) both take each response's audio at
the TTS's own rate, bring it to the line's rate once (one resampler per response, so its
filter state runs across chunks), queue it, and hand out fixed-size frames. Queued audio of
one response, or all of it, can be dropped before it is heard (barge-in, truncation).
"""

from __future__ import annotations

from collections import deque

from realtime2.audio.pcm import float_to_pcm16, pcm16_to_float
from realtime2.audio.resample import StreamResampler


class Playout:
    """Mono s16le audio at `rate`, queued by response id."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._queue: deque[tuple[str, bytes]] = deque()
        self._queued_bytes = 0
        self._resamplers: dict[str, StreamResampler] = {}

    @property
    def queued_seconds(self) -> float:
        return self._queued_bytes / 2 / self.rate

    def play(self, response_id: str, pcm: bytes, sample_rate: int) -> None:
        """Queue mono s16le audio of one response, at any rate."""
        if sample_rate != self.rate:
            resampler = self._resamplers.get(response_id)
            if resampler is None:
                resampler = StreamResampler(sample_rate, self.rate)
                self._resamplers[response_id] = resampler
            pcm = float_to_pcm16(resampler.process(pcm16_to_float(pcm)))
        self._append(response_id, pcm)

    def finish(self, response_id: str) -> None:
        """The response has produced all its audio: queue the resampler's tail."""
        resampler = self._resamplers.pop(response_id, None)
        if resampler is not None:
            self._append(response_id, float_to_pcm16(resampler.flush()))

    def clear(self, response_id: str | None = None) -> None:
        """Drop queued audio of one response (or all of it) before it is heard."""
        kept = [c for c in self._queue if response_id is not None and c[0] != response_id]
        self._queue = deque(kept)
        self._queued_bytes = sum(len(c[1]) for c in kept)
        if response_id is None:
            self._resamplers.clear()
        else:
            self._resamplers.pop(response_id, None)

    def take(self, size: int) -> tuple[bytes, bool]:
        """`size` bytes to play now, padded with silence; and whether any were audio."""
        out = bytearray()
        while self._queue and len(out) < size:
            response_id, chunk = self._queue.popleft()
            need = size - len(out)
            if len(chunk) > need:
                self._queue.appendleft((response_id, chunk[need:]))
                chunk = chunk[:need]
            out += chunk
        self._queued_bytes -= len(out)
        had_audio = bool(out)
        out += bytes(size - len(out))
        return bytes(out), had_audio

    def _append(self, response_id: str, pcm: bytes) -> None:
        if pcm:
            self._queue.append((response_id, pcm))
            self._queued_bytes += len(pcm)

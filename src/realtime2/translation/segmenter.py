"""Cut a continuous speech stream into short phrases, so translation starts mid-speech.

A realtime turn waits for the speaker to stop; a live interpreter cannot. Frames come in
with their VAD speech probability; a phrase ends at a short pause (`pause_ms`), or, when
the speaker runs on, once it reaches `max_phrase_s`, cut at the quietest frame of its last
second (usually a gap between words), the rest starting the next phrase. Pure computation:
no clock, no I/O; time is counted in frames.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from realtime2.engine.interfaces import FloatAudio

SPEECH_THRESHOLD = 0.5
PADDING_MS = 200  # audio kept before speech starts (whisper misses clipped onsets)
MIN_SPEECH_MS = 200  # shorter blips (a cough, a click) are dropped
CUT_LOOKBACK_S = 1.0  # where a long phrase may be cut: within its last second
TAIL_MS = 120  # trailing silence kept at a pause


@dataclass(frozen=True)
class Phrase:
    index: int
    audio: FloatAudio  # mono float32 at the segmenter's rate
    start_ms: int  # position in the input stream
    end_ms: int
    at_pause: bool  # ended at a pause (False: cut mid-speech because it ran long)


class PhraseSegmenter:
    def __init__(
        self,
        *,
        sample_rate: int,
        frame_samples: int,
        pause_ms: int = 300,
        max_phrase_s: float = 2.5,
    ) -> None:
        self.frame_ms = 1000.0 * frame_samples / sample_rate
        self._pause_frames = max(1, round(pause_ms / self.frame_ms))
        self._max_frames = max(4, round(max_phrase_s * 1000 / self.frame_ms))
        self._min_speech_frames = max(1, round(MIN_SPEECH_MS / self.frame_ms))
        self._tail_frames = round(TAIL_MS / self.frame_ms)
        self._lookback = max(2, round(CUT_LOOKBACK_S * 1000 / self.frame_ms))
        self._before: deque[FloatAudio] = deque(maxlen=round(PADDING_MS / self.frame_ms))
        self._frames: list[FloatAudio] = []
        self._speech: list[bool] = []
        self._start = 0  # frame index where the current phrase starts
        self._position = 0  # frames seen so far
        self._silent_run = 0
        self._count = 0

    @property
    def in_phrase(self) -> bool:
        return bool(self._frames)

    def push(self, frame: FloatAudio, probability: float) -> list[Phrase]:
        """Add one frame; return the phrases it completed (usually none)."""
        self._position += 1
        speech = probability >= SPEECH_THRESHOLD
        if not self._frames:
            if not speech:
                self._before.append(frame)
                return []
            self._frames = [*self._before, frame]
            self._speech = [False] * len(self._before) + [True]
            self._start = self._position - len(self._frames)
            self._before.clear()
            self._silent_run = 0
            return []
        self._frames.append(frame)
        self._speech.append(speech)
        self._silent_run = 0 if speech else self._silent_run + 1
        if self._silent_run >= self._pause_frames:
            keep = len(self._frames) - self._silent_run + self._tail_frames
            return self._emit(keep, at_pause=True)
        if len(self._frames) >= self._max_frames:
            return self._emit(self._quietest_cut(), at_pause=False)
        return []

    def flush(self) -> list[Phrase]:
        """End of input: whatever speech is pending becomes a last phrase."""
        if not self._frames:
            return []
        keep = len(self._frames) - max(0, self._silent_run - self._tail_frames)
        return self._emit(keep, at_pause=True)

    def _quietest_cut(self) -> int:
        """Index to cut at: the lowest-energy frame in the lookback window."""
        first = max(1, len(self._frames) - self._lookback)
        energies = [float(np.mean(np.square(f))) for f in self._frames[first:]]
        return first + int(np.argmin(energies)) + 1

    def _emit(self, keep: int, *, at_pause: bool) -> list[Phrase]:
        frames, speech = self._frames[:keep], self._speech[:keep]
        rest, rest_speech = self._frames[keep:], self._speech[keep:]
        start = self._start
        self._start += keep
        if at_pause:
            # The silence after the phrase is pre-roll for the next one.
            self._before.extend(rest)
            self._frames, self._speech = [], []
            self._silent_run = 0
        else:
            self._frames, self._speech = rest, rest_speech
            self._silent_run = len(rest_speech) - (
                max((i + 1 for i, s in enumerate(rest_speech) if s), default=0)
            )
        if sum(speech) < self._min_speech_frames:
            return []
        self._count += 1
        return [
            Phrase(
                index=self._count - 1,
                audio=np.concatenate(frames).astype(np.float32),
                start_ms=round(start * self.frame_ms),
                end_ms=round((start + keep) * self.frame_ms),
                at_pause=at_pause,
            )
        ]

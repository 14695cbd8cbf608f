"""The input audio buffer: decoding, resampling to the analysis rate, VAD, bounded storage.

Audio is kept as int16 at the VAD's rate (16 kHz), which is also what STT wants, so a
15-minute cap costs ~29 MB. Positions are milliseconds of input audio since the session
started ("audio time"), the clock `speech_started`/`speech_stopped` report in.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from realtime2.audio.denoise import NoiseReductionType, NoiseSuppressor
from realtime2.audio.resample import StreamResampler
from realtime2.engine.interfaces import FloatAudio, VADStream
from realtime2.protocol.server_events import ProtocolError
from realtime2.protocol.turn_detection import TurnDetector, TurnSignal

MAX_BUFFER_MS: Final = 15 * 60 * 1000


class InputAudio:
    def __init__(self, vad: VADStream, rate: int, frame_samples: int) -> None:
        self.rate = rate  # analysis rate: VAD frames and STT input
        self._vad = vad
        self._frame = frame_samples
        self._resampler: StreamResampler | None = None
        self._resampler_rate = 0
        # Buffered audio covers samples [_start, _start + len(_buf)) of session audio.
        self._buf = np.zeros(0, dtype=np.int16)
        self._start = 0
        self._vad_pos = 0  # next sample (session audio) the VAD has not seen
        self.detector: TurnDetector | None = None
        self.noise: NoiseSuppressor | None = None  # `audio.input.noise_reduction`

    # --- positions -----------------------------------------------------------------

    def ms(self, sample: int) -> int:
        return sample * 1000 // self.rate

    def sample(self, ms: int) -> int:
        return ms * self.rate // 1000

    @property
    def end(self) -> int:
        return self._start + len(self._buf)

    @property
    def now_ms(self) -> int:
        return self.ms(self.end)

    @property
    def buffered_ms(self) -> int:
        return self.ms(len(self._buf))

    # --- input -----------------------------------------------------------------------

    def append(self, samples: FloatAudio, src_rate: int) -> list[TurnSignal]:
        """Add audio at `src_rate`; return turn signals when turn detection is on."""
        if self._resampler is None or self._resampler_rate != src_rate:
            self._resampler = StreamResampler(src_rate, self.rate)
            self._resampler_rate = src_rate
        incoming_ms = len(samples) * 1000 // src_rate
        if self.buffered_ms + incoming_ms > MAX_BUFFER_MS:
            raise ProtocolError(
                "input_audio_buffer_full",
                "The input audio buffer holds at most 15 minutes of audio; commit or clear it.",
            )
        out = self._resampler.process(samples)
        if self.noise is not None:  # before VAD and STT, which both read the buffer
            out = self.noise.process(out)
        ints = np.clip(np.round(out * 32768.0), -32768, 32767).astype(np.int16)
        self._buf = np.concatenate([self._buf, ints])
        return self._run_vad()

    def _run_vad(self) -> list[TurnSignal]:
        if self.detector is None:
            self._vad_pos = self.end
            return []
        signals: list[TurnSignal] = []
        frame_ms = self._frame * 1000 / self.rate
        while self.end - self._vad_pos >= self._frame:
            lo = self._vad_pos - self._start
            frame = self._buf[lo : lo + self._frame].astype(np.float32) / 32768.0
            self._vad_pos += self._frame
            probability = self._vad.speech_probability(frame)
            signals.extend(self.detector.feed(probability, frame_ms, self.ms(self._vad_pos)))
        return signals

    def set_noise_reduction(self, kind: NoiseReductionType | None, strength: float = 1.0) -> None:
        """Suppress noise in audio appended from now on (`None`: off)."""
        if kind is None:
            self.noise = None
        elif self.noise is None or (self.noise.kind, self.noise.strength) != (kind, strength):
            self.noise = NoiseSuppressor(kind, self.rate, strength)

    def set_detector(self, detector: TurnDetector | None) -> None:
        self.detector = detector
        self._vad.reset()
        self._vad_pos = self.end

    # --- taking audio out ----------------------------------------------------------------

    def take(self, end_ms: int | None = None) -> FloatAudio:
        """Remove and return everything buffered up to `end_ms` (all when None)."""
        cut = len(self._buf) if end_ms is None else max(0, self.sample(end_ms) - self._start)
        cut = min(cut, len(self._buf))
        taken = self._buf[:cut]
        self._buf = self._buf[cut:]
        self._start += cut
        self._vad_pos = max(self._vad_pos, self._start)
        return _to_float(taken)

    def peek(self, start_ms: int) -> FloatAudio:
        """A copy of the buffered audio from `start_ms` on (for partial transcripts)."""
        lo = max(0, self.sample(start_ms) - self._start)
        return _to_float(self._buf[lo:])

    def drop_before(self, ms: int) -> None:
        """Forget audio before `ms`: keeps a VAD-idle buffer down to the prefix padding."""
        cut = min(len(self._buf), max(0, self.sample(ms) - self._start))
        if cut:
            self._buf = self._buf[cut:]
            self._start += cut
            # A partial frame the VAD had not seen may go too: it resumes at the new start.
            self._vad_pos = max(self._vad_pos, self._start)

    def clear(self) -> None:
        self.drop_before(self.now_ms + 1)
        if self.detector is not None:
            self.detector.reset()
        self._vad.reset()


def _to_float(x: npt.NDArray[np.int16]) -> FloatAudio:
    return (x.astype(np.float32) / 32768.0).astype(np.float32)

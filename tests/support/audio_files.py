"""Audio files made in the test: a WAV tone (`wav_bytes`), and FLAC silence at any rate
FLAC allows (up to 655,350 Hz), which compresses to ~160 bytes a second whatever its
rate: the decode bomb."""

from __future__ import annotations

import io
import wave
from functools import cache

import av
import numpy as np


@cache
def flac_silence(rate: int, seconds: float, channels: int = 1) -> bytes:
    layout = "mono" if channels == 1 else "stereo"
    buf = io.BytesIO()
    with av.open(buf, "w", format="flac") as container:
        stream = container.add_stream("flac", rate=rate, layout=layout)
        block = 65536
        total, done = int(rate * seconds), 0
        zeros = np.zeros((1, block * channels), np.int16)
        while done < total:
            n = min(block, total - done)
            frame = av.AudioFrame.from_ndarray(
                zeros[:, : n * channels], format="s16", layout=layout
            )
            frame.sample_rate = rate
            for packet in stream.encode(frame):
                container.mux(packet)
            done += n
        for packet in stream.encode(None):
            container.mux(packet)
    return buf.getvalue()


def wav_bytes(seconds: float, rate: int = 16000) -> bytes:
    samples = 0.3 * np.sin(np.arange(int(seconds * rate)) * 2 * np.pi * 220 / rate) * 32767
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.astype("<i2").tobytes())
    return out.getvalue()

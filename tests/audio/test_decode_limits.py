"""Decode bombs (issue 15): a 97 KB FLAC of silence at 192 kHz declared 599 s and was decoded
whole at its own rate (1 GB); a 655 kHz one reached 3 GB. The decoder now refuses absurd
formats before the first frame, resamples frame by frame and counts the cap in output
seconds, and runs off the event loop a bounded number at a time."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
import threading
import time

import av
import numpy as np
import pytest

from realtime2.audio import decode_pool
from realtime2.audio.decode import (
    AudioDecodeError,
    AudioTooLongError,
    DecodeLimits,
    decode_audio,
)
from realtime2.engine.interfaces import FloatAudio
from tests.support.audio_files import flac_silence


def test_absurd_sample_rate_is_refused_before_decoding() -> None:
    data = flac_silence(655_350, 30)
    started = time.perf_counter()
    with pytest.raises(AudioDecodeError, match="655350 Hz is above the 192000 Hz limit"):
        decode_audio(data, 16000)
    assert time.perf_counter() - started < 0.5


def test_rate_and_channel_limits_are_settings() -> None:
    with pytest.raises(AudioDecodeError, match="above the 48000 Hz limit"):
        decode_audio(flac_silence(96_000, 1), 16000, limits=DecodeLimits(max_sample_rate=48_000))
    with pytest.raises(AudioDecodeError, match="2 channels; at most 1"):
        decode_audio(flac_silence(16_000, 1, channels=2), limits=DecodeLimits(max_channels=1))
    _, seconds = decode_audio(flac_silence(96_000, 1), 16000)
    assert seconds == pytest.approx(1.0, abs=0.01)


def test_cap_counts_seconds_at_the_output_rate() -> None:
    data = flac_silence(48_000, 3)
    with pytest.raises(AudioTooLongError) as info:
        decode_audio(data, 16000, max_seconds=2.0)
    assert info.value.max_seconds == 2.0
    audio, seconds = decode_audio(data, 16000, max_seconds=3.5)
    assert audio.size == pytest.approx(3 * 16000, abs=2) and seconds == pytest.approx(3.0, abs=1e-3)
    # The smaller of the call's cap and the configured one applies.
    with pytest.raises(AudioTooLongError):
        decode_audio(data, 16000, limits=DecodeLimits(max_seconds=1.0))


def test_decode_stops_when_told() -> None:
    stop = threading.Event()
    stop.set()
    with pytest.raises(AudioDecodeError, match="abandoned"):
        decode_audio(flac_silence(48_000, 3), 16000, stop=stop)


_MEASURE = """
import json, resource, sys
from realtime2.audio.decode import decode_audio
data = open(sys.argv[1], "rb").read()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
audio, seconds = decode_audio(data, 16000)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "grew_mb": (after - before) / 1024}))
"""


def test_192khz_bomb_decodes_in_bounded_memory(tmp_path: object) -> None:
    """The issue's file: 97 KB, 192 kHz, 599 s of silence. Held at its own rate it took
    ~880 MB; now the only buffer is 599 s at 16 kHz (38 MB)."""
    data = flac_silence(192_000, 599)
    assert len(data) < 100_000
    path = f"{tmp_path}/bomb.flac"
    with open(path, "wb") as f:
        f.write(data)
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, path], capture_output=True, text=True, check=True
    )
    result = json.loads(out.stdout)
    assert result["seconds"] == pytest.approx(599, abs=0.01)
    assert result["grew_mb"] < 100, result


async def test_decodes_run_off_the_loop_a_few_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    running = 0
    most = 0
    lock = threading.Lock()

    def slow_decode(data: bytes, rate: int, **_: object) -> tuple[FloatAudio, float]:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.2)  # CPU-bound work holds its thread, never the loop
        with lock:
            running -= 1
        return np.zeros(rate, np.float32), 1.0

    monkeypatch.setattr(decode_pool, "decode_audio", slow_decode)
    lags: list[float] = []

    async def ticker() -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.01)
            lags.append(time.perf_counter() - before - 0.01)

    tick = asyncio.create_task(ticker())
    jobs = [
        decode_pool.decode_off_loop(b"x", 16000, max_seconds=600, limits=DecodeLimits(), workers=3)
        for _ in range(7)
    ]
    results = await asyncio.gather(*jobs)
    tick.cancel()
    assert len(results) == 7 and most == 3
    assert max(lags) < 0.1, max(lags)


def _flac_of_tiny_frames(rate: int, frames: int) -> bytes:
    """FLAC's smallest blocks (16 samples): 14 bytes and ~15 µs of decoding each."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="flac") as container:
        stream = container.add_stream("flac", rate=rate, layout="mono")
        stream.options = {"frame_size": "16"}
        zeros = np.zeros((1, 16 * 1000), np.int16)
        for _ in range(frames // 1000):
            frame = av.AudioFrame.from_ndarray(zeros, format="s16", layout="mono")
            frame.sample_rate = rate
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buf.getvalue()


def test_a_file_of_tiny_frames_is_refused_early() -> None:
    """25 MB of 16-sample blocks at 192 kHz is ~1.8 M frames (~27 s of CPU) for 150 s of
    audio; it is refused once frames average under 2 ms, after ~1000 of them."""
    data = _flac_of_tiny_frames(192_000, 40_000)
    started = time.process_time()
    with pytest.raises(AudioDecodeError, match="too many frames"):
        decode_audio(data, 16000)
    assert time.process_time() - started < 0.2
    # The same audio in ordinary blocks decodes.
    assert decode_audio(flac_silence(192_000, 3.3), 16000)[1] == pytest.approx(3.3, abs=0.01)

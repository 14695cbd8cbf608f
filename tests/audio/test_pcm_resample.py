from __future__ import annotations

import numpy as np
import pytest

from realtime2.audio.pcm import float_to_pcm16, pcm16_to_float
from realtime2.audio.resample import StreamResampler, resample


def tone(freq: float, rate: int, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def dominant_freq(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.fft.rfftfreq(x.size, 1 / rate)[np.argmax(spectrum)])


def test_pcm16_round_trip_and_clipping() -> None:
    x = np.array([0.0, 0.5, -0.5, 1.0, -1.0, 3.0, -3.0, np.nan], dtype=np.float32)
    pcm = float_to_pcm16(x)
    assert len(pcm) == 16
    ints = np.frombuffer(pcm, dtype="<i2")
    assert ints.tolist() == [0, 16384, -16384, 32767, -32768, 32767, -32768, 0]
    back = pcm16_to_float(pcm)
    assert back.dtype == np.float32
    assert np.allclose(back[:3], x[:3], atol=1 / 32768)
    assert pcm16_to_float(pcm + b"\x01").size == 8  # odd trailing byte ignored


@pytest.mark.parametrize(
    ("src", "dst"), [(16000, 24000), (24000, 16000), (48000, 16000), (22050, 24000)]
)
def test_resample_keeps_frequency_and_length(src: int, dst: int) -> None:
    x = tone(440.0, src)
    y = resample(x, src, dst)
    assert y.dtype == np.float32
    assert abs(y.size - dst) <= 2
    assert abs(dominant_freq(y, dst) - 440.0) < 2.0
    assert 0.45 < float(np.max(np.abs(y))) < 0.55


def test_resample_removes_content_above_new_nyquist() -> None:
    x = tone(7000.0, 48000)  # above 8 kHz Nyquist? no: 7 kHz survives at 16 kHz
    high = tone(11000.0, 48000)  # must be filtered out at 16 kHz, not aliased to 5 kHz
    assert np.sqrt(np.mean(resample(x, 48000, 16000) ** 2)) > 0.3
    assert np.sqrt(np.mean(resample(high, 48000, 16000) ** 2)) < 0.01


def test_stream_resampler_matches_one_shot() -> None:
    x = tone(300.0, 16000, 2.0)
    whole = resample(x, 16000, 48000)
    stream = StreamResampler(16000, 48000)
    parts = [stream.process(x[i : i + 333]) for i in range(0, x.size, 333)]
    parts.append(stream.flush())
    joined = np.concatenate(parts)
    assert abs(joined.size - whole.size) <= 2
    n = min(joined.size, whole.size)
    assert np.max(np.abs(joined[:n] - whole[:n])) < 1e-3
    assert stream.flush().size == 0
    with pytest.raises(RuntimeError):
        stream.process(x[:10])


def test_same_rate_is_passthrough() -> None:
    x = tone(100.0, 16000, 0.1)
    assert np.array_equal(resample(x, 16000, 16000), x)
    stream = StreamResampler(24000, 24000)
    assert np.array_equal(stream.process(x), x)
    assert stream.flush().size == 0


def test_bad_rates_rejected() -> None:
    with pytest.raises(ValueError):
        resample(np.zeros(10, np.float32), 0, 16000)
    with pytest.raises(ValueError):
        StreamResampler(16000, -1)

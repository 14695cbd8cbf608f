"""The input noise suppressor (`audio.input.noise_reduction`): it removes steady noise,
far_field more than near_field, strength scales it, and a stream loses no samples."""

from __future__ import annotations

import numpy as np
import pytest

from realtime2.audio.denoise import NoiseSuppressor


def _noise(seconds: float, rms: float = 0.03, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(int(16000 * seconds)) * rms).astype(np.float32)


def _stream(ns: NoiseSuppressor, x: np.ndarray, chunk: int = 320) -> np.ndarray:
    outs = [ns.process(x[i : i + chunk]) for i in range(0, x.size, chunk)]
    return np.concatenate([*outs, ns.flush()])


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x))))


@pytest.mark.parametrize("chunk", [1, 37, 320, 4800])
def test_a_stream_returns_every_sample_in_order(chunk: int) -> None:
    x = _noise(1.0)
    y = _stream(NoiseSuppressor("far_field", 16000, strength=0.0), x, chunk)
    assert y.size == x.size
    # strength 0 keeps none of the suppressed signal: the input comes back (int16-exact)
    assert np.max(np.abs(y - x)) < 2 / 32768


def test_steady_noise_is_suppressed_far_field_more_than_near_field() -> None:
    x = _noise(3.0)
    settled = slice(16000, None)  # after the suppressor's first second of adaptation
    near = _rms(_stream(NoiseSuppressor("near_field", 16000), x)[settled])
    far = _rms(_stream(NoiseSuppressor("far_field", 16000), x)[settled])
    before = _rms(x[settled])
    assert far < before / 3  # more than 9.5 dB down
    assert far < near < before * 0.7
    half = _rms(_stream(NoiseSuppressor("far_field", 16000, strength=0.5), x)[settled])
    assert far < half < before


def test_unsupported_rate_is_refused() -> None:
    with pytest.raises(ValueError, match="noise suppression"):
        NoiseSuppressor("near_field", 22050)

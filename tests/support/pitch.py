"""Median fundamental frequency of voiced frames (autocorrelation), for voice tests."""

from __future__ import annotations

import numpy as np


def median_pitch(audio: np.ndarray, rate: int, fmin: float = 50.0, fmax: float = 400.0) -> float:
    frame = int(0.04 * rate)
    hop = frame // 2
    lo, hi = int(rate / fmax), int(rate / fmin)
    loud = 0.25 * float(np.sqrt(np.mean(audio**2))) * 2
    pitches: list[float] = []
    for start in range(0, audio.size - frame, hop):
        window = audio[start : start + frame]
        if np.sqrt(np.mean(window**2)) < loud:
            continue  # unvoiced or quiet
        window = window - window.mean()
        ac = np.correlate(window, window, "full")[frame - 1 :]
        lag = lo + int(np.argmax(ac[lo:hi]))
        if ac[lag] / ac[0] > 0.5:  # clearly periodic: voiced
            pitches.append(rate / lag)
    if len(pitches) < 10:
        raise AssertionError(f"too few voiced frames ({len(pitches)})")
    return float(np.median(pitches))


def spectral_centroid(audio: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(audio))
    freqs = np.fft.rfftfreq(audio.size, 1 / rate)
    return float((spectrum * freqs).sum() / spectrum.sum())

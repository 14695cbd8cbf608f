"""Pitch and formants moved independently: WORLD analysis and resynthesis (`pyworld`).

A sentence from Piper is analysed into an F0 contour (DIO + StoneMask, or Harvest), a
spectral envelope (CheapTrick) and an aperiodicity (D4C). The F0 is scaled (and its
excursions around the sentence's median widened or narrowed: intonation), the envelope is
stretched along the frequency axis (formants up for a shorter vocal tract, down for a
longer one) and tilted, and WORLD synthesizes the result. Changing pitch alone makes a
male voice sing higher; moving the formants too is what makes it sound like another
speaker, which is why the old resampling trick (both moved by one factor) could not make a
female voice out of a male one without a chipmunk sound.

One sentence at a time, so it streams exactly as Piper does, and a sentence may come out in
pieces (`reshape_pieces`): cut at quiet moments, its first piece is resynthesized and played
while the rest still is. The F0 search range is the
*source* voice's (`f0_max`): Piper's male voice has creaky stretches that a wide range
reads an octave up, and a doubled frame shifted up again squeaks.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import numpy as np

from realtime2.backends.local.models import require_module
from realtime2.engine.interfaces import FloatAudio

F0Method = Literal["dio", "harvest"]


@dataclass(frozen=True)
class Reshape:
    """How one voice moves the source voice (all ratios 1.0, tilt 0: unchanged)."""

    f0_ratio: float = 1.0  # median pitch multiplier
    formant_ratio: float = 1.0  # > 1: formants up (smaller speaker)
    intonation: float = 1.0  # scale of log-F0 excursions around the sentence's median
    tilt_db: float = 0.0  # dB per octave around 1 kHz: + brighter, - darker
    f0_min: float = 60.0  # the source voice's F0 search range
    f0_max: float = 220.0
    # DIO, 5 ms frames, D4C on every 4th frame: a short clause costs what 10 ms frames cost
    # and ~45 % less than full 5 ms analysis, and whisper hears it as well as full 5 ms
    # (10 ms frames cost a word now and then); Harvest costs 3-4x (bench/voices.py).
    frame_period_ms: float = 5.0
    aperiodicity_every: int = 4  # D4C on every n-th frame only
    method: F0Method = "dio"

    @property
    def neutral(self) -> bool:
        return (self.f0_ratio, self.formant_ratio, self.intonation, self.tilt_db) == (
            1.0,
            1.0,
            1.0,
            0.0,
        )


def _world() -> Any:
    return require_module("pyworld", "pyworld-prebuilt")


def reshape(audio: FloatAudio, rate: int, shape: Reshape) -> FloatAudio:
    """One sentence resynthesized with `shape`'s pitch, intonation, formants and tilt."""
    if shape.neutral or audio.size < rate // 20:
        return audio
    world = _world()
    x = audio.astype(np.float64)
    f0, times = _f0(world, x, rate, shape)
    envelope, aperiodicity = _spectra(world, x, f0, times, rate, shape)
    new_f0 = scale_f0(f0, shape.f0_ratio, shape.intonation)
    out = _synthesize(world, new_f0, envelope, aperiodicity, rate, shape)
    return np.asarray(out[: audio.size], dtype=np.float32)


def reshape_pieces(
    audio: FloatAudio, rate: int, shape: Reshape, cuts: Sequence[int]
) -> Iterator[FloatAudio]:
    """`reshape` of one sentence, piece by piece: `cuts` are sample indices (quiet moments,
    `voiced_sentence.quiet_cuts`), and each piece is resynthesized only when the caller asks
    for it, so the first can be played while the rest is still to come.

    The F0 is tracked on the whole sentence first (a tenth of the cost), so the intonation
    keeps the sentence's own centre; each piece's envelope and aperiodicity are analysed at
    its frames *in the whole signal*, so they are the frames `reshape` would analyse. Only
    the synthesis restarts at a cut, which is why cuts go where it is quiet. The pieces
    joined are as long as the sentence.
    """
    per_frame = shape.frame_period_ms * rate / 1000.0  # samples per frame (not whole)
    # Each cut moved to the nearest frame, so a piece's synthesis starts where it belongs.
    inner = {round(round(c / per_frame) * per_frame) for c in cuts}
    bounds = [0, *sorted(c for c in inner if 0 < c < audio.size), audio.size]
    if shape.neutral or audio.size < rate // 20:
        for start, end in itertools.pairwise(bounds):
            yield audio[start:end]
        return
    world = _world()
    x = audio.astype(np.float64)
    f0, times = _f0(world, x, rate, shape)
    new_f0 = scale_f0(f0, shape.f0_ratio, shape.intonation)
    for start, end in itertools.pairwise(bounds):
        first = round(start / per_frame)
        # One frame past the piece's end (when there is one): the synthesis of frames
        # first..last spans (last - first) frame periods, exactly up to the next piece.
        last = min(f0.size - 1, round(end / per_frame)) if end < audio.size else f0.size - 1
        frames = slice(first, last + 1)
        envelope, aperiodicity = _spectra(world, x, f0[frames], times[frames], rate, shape)
        out = _synthesize(world, new_f0[frames], envelope, aperiodicity, rate, shape)
        piece = np.zeros(end - start, dtype=np.float32)
        span = min(piece.size, out.size)
        piece[:span] = out[:span]
        yield piece


def _f0(world: Any, x: np.ndarray, rate: int, shape: Reshape) -> tuple[np.ndarray, np.ndarray]:
    """The sentence's F0 contour (octave jumps folded back) and its frame times."""
    period = shape.frame_period_ms
    if shape.method == "harvest":
        f0, times = world.harvest(
            x, rate, f0_floor=shape.f0_min, f0_ceil=shape.f0_max, frame_period=period
        )
    else:
        # allowed_range 0.2: DIO's default (0.1) leaves a third of Piper's voiced frames
        # unvoiced, which WORLD then renders as whisper.
        f0, times = world.dio(
            x,
            rate,
            f0_floor=shape.f0_min,
            f0_ceil=shape.f0_max,
            frame_period=period,
            allowed_range=0.2,
        )
        f0 = world.stonemask(x, f0, times, rate)
    return _fix_octave_jumps(f0), times


def _spectra(
    world: Any, x: np.ndarray, f0: np.ndarray, times: np.ndarray, rate: int, shape: Reshape
) -> tuple[np.ndarray, np.ndarray]:
    """Envelope and aperiodicity at the frames `times` of `x`, moved and tilted by `shape`."""
    f0 = np.ascontiguousarray(f0)
    times = np.ascontiguousarray(times)
    envelope = world.cheaptrick(x, f0, times, rate)  # FFT size as D4C's: their default
    aperiodicity = _aperiodicity(world, x, f0, times, rate, shape.aperiodicity_every)
    if shape.formant_ratio != 1.0:
        envelope = warp(envelope, shape.formant_ratio)
        aperiodicity = warp(aperiodicity, shape.formant_ratio)
    if shape.tilt_db:
        envelope = envelope * _tilt_power(envelope.shape[1], rate, shape.tilt_db)
    return envelope, aperiodicity


def _synthesize(
    world: Any,
    f0: np.ndarray,
    envelope: np.ndarray,
    aperiodicity: np.ndarray,
    rate: int,
    shape: Reshape,
) -> np.ndarray:
    """WORLD's synthesis of the frames given (aperiodicity clipped to its valid range)."""
    out: np.ndarray = world.synthesize(
        np.ascontiguousarray(f0),
        np.ascontiguousarray(envelope),
        np.ascontiguousarray(np.clip(aperiodicity, 0.0, 1.0)),
        rate,
        shape.frame_period_ms,
    )
    return out


def _aperiodicity(
    world: Any, x: np.ndarray, f0: np.ndarray, times: np.ndarray, rate: int, every: int
) -> np.ndarray:
    """D4C on every `every`-th frame, each row repeated: it is the costliest analysis step
    and aperiodicity changes slowly, where the envelope's resolution is what whisper hears.
    """
    if every <= 1:
        result: np.ndarray = world.d4c(x, f0, times, rate)
        return result
    coarse = world.d4c(
        x, np.ascontiguousarray(f0[::every]), np.ascontiguousarray(times[::every]), rate
    )
    return np.repeat(coarse, every, axis=0)[: f0.size]


def scale_f0(f0: np.ndarray, ratio: float, intonation: float) -> np.ndarray:
    """Voiced frames times `ratio`, their log distance from the median times `intonation`."""
    voiced = f0 > 0
    if not voiced.any():
        return f0
    log_f0 = np.log(f0[voiced])
    centre = float(np.median(log_f0))
    out = np.zeros_like(f0)
    out[voiced] = np.exp(centre + intonation * (log_f0 - centre)) * ratio
    return out


def _fix_octave_jumps(f0: np.ndarray) -> np.ndarray:
    """Fold voiced frames more than ~0.6 octave from their neighbourhood's median back.

    An octave error in one frame, once the F0 is scaled up by an octave or more, is a
    squeak; the median of the surrounding 25 voiced frames (~0.1 s) is the reference.
    """
    voiced = np.flatnonzero(f0 > 0)
    if voiced.size < 3:
        return f0
    log_f0 = np.log2(f0[voiced])
    padded = np.pad(log_f0, 12, mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, 25)
    local = np.median(windows, axis=1)
    octaves = np.round(log_f0 - local)
    out = f0.copy()
    out[voiced] = 2.0 ** (log_f0 - octaves)
    return out


def warp(spectrum: np.ndarray, ratio: float) -> np.ndarray:
    """Stretch each frame along frequency: what was at f moves to f * ratio."""
    low, high, weight = _warp_plan(spectrum.shape[1], ratio)
    result: np.ndarray = spectrum[:, low] * (1.0 - weight) + spectrum[:, high] * weight
    return result


@lru_cache(maxsize=32)
def _warp_plan(bins: int, ratio: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    source = np.minimum(np.arange(bins) / ratio, bins - 1)
    low = np.floor(source).astype(np.intp)
    high = np.minimum(low + 1, bins - 1)
    return low, high, source - low


@lru_cache(maxsize=32)
def _tilt_power(bins: int, rate: int, db_per_octave: float) -> np.ndarray:
    """Power gain per envelope bin, ±12 dB at most, pivoting at 1 kHz."""
    freqs = np.linspace(0.0, rate / 2.0, bins)
    octaves = np.log2(np.maximum(freqs, 62.5) / 1000.0)
    gain_db = np.clip(octaves * db_per_octave, -12.0, 12.0)
    result: np.ndarray = 10.0 ** (gain_db / 10.0)
    return result

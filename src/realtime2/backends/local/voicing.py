"""How the six voice names are made distinct from one Piper voice.

Each name gets its own speaking rate, Piper noise settings, a pitch shift and a spectral
tilt. The pitch shift is a resampling trick: Piper is asked to speak slower by the pitch
factor, then the audio is resampled as if it had been recorded at a proportionally higher
rate. Duration comes back to the requested rate while pitch *and* formants move together,
which is what makes the result sound like a different (larger or smaller) speaker rather
than the same speaker singing. Shifts stay within -4..+3.5 semitones so whisper still
understands every voice (tested by a round trip).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

import numpy as np
from pydantic import BaseModel, Field

from realtime2.audio.resample import resample
from realtime2.engine.interfaces import FloatAudio
from realtime2.engine.voices import VOICES


class VoiceTuning(BaseModel):
    """How one of the six voice names is rendered (`REALTIME2_VOICES`, per name).

    Unset fields fall back to the built-in tuning for that name (`BUILTIN_PROFILES`).
    `model`/`config` swap in another Piper voice file for this name alone.
    """

    model: Path | None = None  # a Piper .onnx voice
    config: Path | None = None  # its .onnx.json (default: model path + ".json")
    speaker: int | None = None  # speaker id for multi-speaker voices
    length_scale: float | None = Field(default=None, gt=0.2, lt=4.0)  # > 1 speaks slower
    noise_scale: float | None = Field(default=None, ge=0.0, le=2.0)
    noise_w: float | None = Field(default=None, ge=0.0, le=2.0)
    pitch_semitones: float | None = Field(default=None, ge=-12.0, le=12.0)
    tilt_db: float | None = Field(default=None, ge=-24.0, le=24.0)  # + brighter, - darker


@dataclass(frozen=True)
class VoiceProfile:
    length_scale: float = 1.0
    noise_scale: float = 0.667
    noise_w: float = 0.8
    pitch_semitones: float = 0.0
    tilt_db: float = 0.0  # dB per octave around 1 kHz: + brighter, - darker
    model: Path | None = None  # another Piper voice for this name
    config: Path | None = None
    speaker: int | None = None

    @property
    def pitch_factor(self) -> float:
        return float(2.0 ** (self.pitch_semitones / 12.0))


# Pitches sit 1.5 semitones apart so every pair differs audibly (and measurably); the
# range stays within -4..+3.5 semitones, where whisper still understands every voice.
BUILTIN_PROFILES: Final[dict[str, VoiceProfile]] = {
    "cedar": VoiceProfile(
        length_scale=1.06, noise_scale=0.5, noise_w=0.7, pitch_semitones=-4.0, tilt_db=-1.5
    ),
    "ash": VoiceProfile(length_scale=0.94, noise_scale=0.7, pitch_semitones=-2.5, tilt_db=1.0),
    "verse": VoiceProfile(length_scale=1.03, noise_w=0.9, pitch_semitones=-1.0, tilt_db=-0.5),
    "marin": VoiceProfile(length_scale=1.00, pitch_semitones=0.5, tilt_db=0.5),
    "sage": VoiceProfile(
        length_scale=1.10, noise_scale=0.45, noise_w=0.6, pitch_semitones=2.0, tilt_db=-1.0
    ),
    "coral": VoiceProfile(length_scale=0.96, noise_scale=0.6, pitch_semitones=3.5, tilt_db=1.5),
}
assert set(BUILTIN_PROFILES) == set(VOICES)


# Part of a Piper sentence's length that does not follow the length scale: each phoneme's
# duration is rounded up to whole frames. Measured on the default voice: length scale 2/3
# gives 0.75 of the length, 2 gives 1.72, i.e. length ≈ 0.23 + 0.77 x scale.
_UNSCALED = 0.23


def speed_length_scale(speed: float) -> float:
    """The length-scale factor that makes Piper's speech `speed` times as fast."""
    return (1.0 / speed - _UNSCALED) / (1.0 - _UNSCALED)


def resolve_profiles(overrides: dict[str, VoiceTuning]) -> dict[str, VoiceProfile]:
    """Merge configured per-voice overrides into the built-in profiles."""
    unknown = set(overrides) - set(VOICES)
    if unknown:
        raise ValueError(
            f"voice overrides name unknown voices {sorted(unknown)}; supported: {', '.join(VOICES)}"
        )
    profiles = dict(BUILTIN_PROFILES)
    for name, tuning in overrides.items():
        changes = {k: v for k, v in tuning.model_dump().items() if v is not None}
        profiles[name] = replace(profiles[name], **changes)
    return profiles


def apply_profile(
    audio: FloatAudio, source_rate: int, out_rate: int, profile: VoiceProfile
) -> FloatAudio:
    """Pitch-shift (with the duration compensation done by Piper), tilt, and resample."""
    # Treat the samples as if recorded at source_rate * factor: played back at out_rate
    # they are `factor` times higher and shorter.
    virtual_rate = round(source_rate * profile.pitch_factor)
    shifted = resample(audio, virtual_rate, out_rate)
    if profile.tilt_db:
        shifted = spectral_tilt(shifted, out_rate, profile.tilt_db)
    return _normalize(shifted)


def spectral_tilt(audio: FloatAudio, rate: int, db_per_octave: float) -> FloatAudio:
    """Tilt the spectrum around 1 kHz, limited to ±12 dB, in one FFT (sentences are short)."""
    if audio.size < 2:
        return audio
    spectrum = np.fft.rfft(audio)
    freqs = np.fft.rfftfreq(audio.size, 1.0 / rate)
    octaves = np.log2(np.maximum(freqs, 62.5) / 1000.0)
    gain_db = np.clip(octaves * db_per_octave, -12.0, 12.0)
    tilted = np.fft.irfft(spectrum * 10.0 ** (gain_db / 20.0), n=audio.size)
    return tilted.astype(np.float32)


def _normalize(audio: FloatAudio, peak: float = 0.9) -> FloatAudio:
    top = float(np.max(np.abs(audio))) if audio.size else 0.0
    if top < 1e-6:
        return audio.astype(np.float32)
    return (audio * (peak / top)).astype(np.float32)

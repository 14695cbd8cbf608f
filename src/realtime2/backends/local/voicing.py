"""How the six voice names become six speakers, three female and three male, from Piper.

The only English Piper voice a package ships is a male one (`en_US-joe-medium`). Each name
gets its own speaking rate and Piper noise settings, and then WORLD (`world_vocoder.py`)
resynthesizes joe's sentence with the name's own median pitch, intonation range, formant
position and spectral tilt: pitch and formants move independently, so a female voice is
joe's words with a higher pitch *and* a shorter vocal tract, not joe sped up. The bands
the listening test (`bench/voices.py`) and the tests hold them to: marin, coral and sage
have a median F0 of at least 160 Hz, cedar, ash and verse at most 150 Hz.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

from pydantic import BaseModel, Field

from realtime2.backends.local.world_vocoder import Reshape
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
    pitch_semitones: float | None = Field(default=None, ge=-12.0, le=14.0)
    formant_shift: float | None = Field(default=None, ge=0.7, le=1.4)  # > 1: smaller speaker
    intonation: float | None = Field(default=None, ge=0.0, le=2.0)  # pitch range multiplier
    tilt_db: float | None = Field(default=None, ge=-24.0, le=24.0)  # + brighter, - darker
    source_f0_max: float | None = Field(default=None, ge=120.0, le=600.0)  # the Piper voice's


@dataclass(frozen=True)
class VoiceProfile:
    length_scale: float = 1.0
    noise_scale: float = 0.667
    noise_w: float = 0.8
    pitch_semitones: float = 0.0
    formant_shift: float = 1.0
    intonation: float = 1.0
    tilt_db: float = 0.0  # dB per octave around 1 kHz: + brighter, - darker
    source_f0_max: float = 220.0  # highest F0 of the source voice (joe: ~200 Hz)
    model: Path | None = None  # another Piper voice for this name
    config: Path | None = None
    speaker: int | None = None

    @property
    def pitch_factor(self) -> float:
        return float(2.0 ** (self.pitch_semitones / 12.0))

    @property
    def reshape(self) -> Reshape:
        return Reshape(
            f0_ratio=self.pitch_factor,
            formant_ratio=self.formant_shift,
            intonation=self.intonation,
            tilt_db=self.tilt_db,
            f0_max=self.source_f0_max,
        )


# Shifts are relative to joe's F0 as DIO tracks it, which is higher than joe sounds (a lively
# voice, 90-250 Hz, with creaky stretches read an octave up): they were set by measuring the
# output (`bench/voices.py`), female medians ~200-270 Hz, male ~105-145 Hz. The female voices
# also get formants 12-22 % up, the male ones -8..+4 %. Pairs differ in pitch, formants,
# tilt, intonation range and speaking rate together.
BUILTIN_PROFILES: Final[dict[str, VoiceProfile]] = {
    # female
    "marin": VoiceProfile(
        length_scale=1.0, pitch_semitones=4.0, formant_shift=1.16, intonation=1.15, tilt_db=0.5
    ),
    "coral": VoiceProfile(
        length_scale=0.95,
        noise_scale=0.6,
        pitch_semitones=5.5,
        formant_shift=1.22,
        intonation=1.3,
        tilt_db=1.5,
    ),
    "sage": VoiceProfile(
        length_scale=1.08,
        noise_scale=0.5,
        noise_w=0.6,
        pitch_semitones=2.5,
        formant_shift=1.12,
        intonation=0.85,
        tilt_db=-1.0,
    ),
    # male
    "cedar": VoiceProfile(
        length_scale=1.06,
        noise_scale=0.5,
        noise_w=0.7,
        pitch_semitones=-9.0,
        formant_shift=0.92,
        intonation=0.8,
        tilt_db=-1.5,
    ),
    "ash": VoiceProfile(
        length_scale=0.94, noise_scale=0.7, pitch_semitones=-7.0, formant_shift=1.0, tilt_db=1.0
    ),
    "verse": VoiceProfile(
        length_scale=1.02, noise_w=0.9, pitch_semitones=-5.5, formant_shift=1.04, intonation=1.3
    ),
}
assert set(BUILTIN_PROFILES) == set(VOICES)
FEMALE: Final = frozenset({"marin", "coral", "sage"})


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

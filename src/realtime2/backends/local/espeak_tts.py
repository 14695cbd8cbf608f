"""espeak-ng as a TTS backend: offline speech in ~100 languages, robotic but small.

libespeak-ng is bundled by the `espeakng-loader` wheel. `EspeakTTS` is an ordinary TTS: a
voice is a language code ("fr", "pt-br"), and the six API voice names speak its configured
language (`REALTIME2_ESPEAK_LANGUAGE`, default English), so it can also serve as the
engine's TTS (`REALTIME2_TTS_BACKEND=espeak`). Translation routes target languages to it.

The library is driven through ctypes in synchronous mode: `espeak_Synth` calls our
callback with 22.05 kHz s16 samples and returns when the text is spoken. libespeak-ng keeps
one global state (current voice, callback), so every call holds a process-wide lock and
runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import ctypes
import threading
from collections.abc import AsyncIterator
from functools import cache
from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings, SettingsConfigDict

from realtime2.backends.local.models import ModelSetupError
from realtime2.engine.catalog import register_backend
from realtime2.engine.interfaces import AudioChunk, Priority, TTSCapabilities
from realtime2.engine.voices import VOICES

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_ESPEAK_INITIALIZE_DONT_EXIT = 0x8000
_ESPEAK_CHARS_UTF8 = 1
_EE_OK = 0
_ESPEAK_RATE = 1  # espeak_PARAMETER espeakRATE: words per minute
_RATE_DEFAULT = 175  # espeak-ng's normal rate, speed 1.0
_RATE_MIN, _RATE_MAX = 80, 450  # what espeak-ng accepts
_ESPEAK_WORDGAP = 7  # espeakWORDGAP: extra pause between words, in 10 ms units

_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


class EspeakSynth:
    """One process-wide libespeak-ng; `speak(lang, text)` returns (pcm16 bytes, rate)."""

    def __init__(self, library: Path, data: Path) -> None:
        self._lock = threading.Lock()
        self._lib: Any = ctypes.CDLL(str(library))
        self._lib.espeak_Initialize.argtypes = [
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_char_p,
            ctypes.c_int,
        ]
        self._lib.espeak_Initialize.restype = ctypes.c_int
        self._lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self._lib.espeak_SetVoiceByName.restype = ctypes.c_int
        self._lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        self._lib.espeak_Synth.restype = ctypes.c_int
        self._lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self._lib.espeak_SetParameter.restype = ctypes.c_int
        rate = self._lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, str(data).encode(), _ESPEAK_INITIALIZE_DONT_EXIT
        )
        if rate <= 0:
            raise ModelSetupError(f"espeak-ng failed to initialise with data at {data}")
        self.sample_rate: int = rate
        # Language code (lower case, e.g. "fr", "pt-br", "zh") -> (voice id, English name).
        self.languages: dict[str, tuple[str, str]] = _languages(data)
        self._chunks: list[bytes] = []
        # Keep a reference: the C library holds the pointer for the life of the process.
        self._callback = _SynthCallback(self._on_audio)
        self._lib.espeak_SetSynthCallback(self._callback)

    def _on_audio(self, wav: Any, samples: int, _events: Any) -> int:
        if samples > 0 and wav:
            self._chunks.append(ctypes.string_at(wav, samples * 2))
        return 0  # 0 = continue

    def speak(self, language: str, text: str, speed: float = 1.0) -> bytes:
        """Synthesize `text` with the espeak-ng voice for `language` (blocking).

        `speed` scales espeak-ng's rate (175 words a minute, `_rate_and_gap`).
        """
        if language not in self.languages:
            raise ValueError(f"espeak-ng has no voice for {language!r}")
        voice_id = self.languages[language][0]
        encoded = text.encode("utf-8")
        with self._lock:
            if self._lib.espeak_SetVoiceByName(voice_id.encode()) != _EE_OK:
                raise ValueError(f"espeak-ng has no voice for {language!r}")
            self._chunks = []
            rate, gap = _rate_and_gap(speed)
            self._lib.espeak_SetParameter(_ESPEAK_RATE, rate, 0)
            self._lib.espeak_SetParameter(_ESPEAK_WORDGAP, gap, 0)
            status = self._lib.espeak_Synth(
                encoded, len(encoded) + 1, 0, 0, 0, _ESPEAK_CHARS_UTF8, None, None
            )
            pcm, self._chunks = b"".join(self._chunks), []
        if status != _EE_OK:
            raise RuntimeError(f"espeak-ng synthesis failed ({status})")
        return pcm


def _rate_and_gap(speed: float) -> tuple[int, int]:
    """espeak-ng's words-per-minute rate for `speed`, and the pause to add between words.

    Its slowest rate, 80 words a minute, is speed 0.46; below that each word gets the
    pause that brings it to the asked-for time per word.
    """
    wanted = _RATE_DEFAULT * speed
    rate = min(max(round(wanted), _RATE_MIN), _RATE_MAX)
    gap_ms = 60_000 / wanted - 60_000 / rate if wanted < _RATE_MIN else 0.0
    # A gap unit lasts ~36 ms at the slowest rate (measured; nominally 10 ms at 175 wpm).
    return rate, round(gap_ms / 36)


def _languages(data: Path) -> dict[str, tuple[str, str]]:
    """Every language a voice file under `espeak-ng-data/lang/` declares.

    A voice file starts with `name French (France)` and `language fr-fr` / `language fr`
    lines; the first file to claim a code keeps it (files are read in sorted order).
    """
    found: dict[str, tuple[str, str]] = {}
    for path in sorted((data / "lang").rglob("*")):
        if not path.is_file():
            continue
        name, codes = path.name, [path.name.lower()]
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.strip().partition(" ")
            if key == "name":
                name = value.strip()
            elif key == "language" and value.strip():
                codes.append(value.split()[0].lower())
        for code in codes:
            found.setdefault(code, (path.name, name))
    return found


@cache
def espeak() -> EspeakSynth:
    """The process's espeak-ng, loaded on first use; a clear error when it is missing."""
    try:
        import espeakng_loader
    except ModuleNotFoundError:
        raise ModelSetupError(
            "espeak-ng voices need the espeakng-loader package: pip install espeakng-loader"
        ) from None
    return EspeakSynth(
        Path(espeakng_loader.get_library_path()), Path(espeakng_loader.get_data_path())
    )


class EspeakTTS:
    """The process's espeak-ng behind the TTS interface; synthesis runs in a worker thread."""

    def __init__(self, synth: EspeakSynth, *, language: str = "en") -> None:
        if language not in synth.languages:
            raise ModelSetupError(f"espeak-ng has no voice for {language!r}")
        self._synth = synth
        self._language = language
        self.name = "espeak-ng"
        # Language code -> the English name espeak-ng gives it, e.g. "fr" -> "French".
        self.languages: dict[str, str] = {code: n for code, (_, n) in synth.languages.items()}
        # The six API names are listed; every code in `languages` is a voice too.
        self.capabilities = TTSCapabilities(
            streaming=False, sample_rate=synth.sample_rate, voices=VOICES, speed=True
        )

    @classmethod
    def load(cls, language: str = "en") -> EspeakTTS:
        return cls(espeak(), language=language)

    async def synthesize(
        self,
        text: str,
        *,
        voice: str,
        priority: Priority = Priority.INTERACTIVE,
        speed: float = 1.0,
    ) -> AsyncIterator[AudioChunk]:
        language = self._language if voice in VOICES else voice
        if language not in self._synth.languages:
            raise ValueError(f"unknown voice {voice!r}: neither {', '.join(VOICES)} nor a language")
        pcm = await asyncio.to_thread(self._synth.speak, language, text, speed)
        if pcm:
            yield AudioChunk(pcm, self._synth.sample_rate)


class EspeakSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REALTIME2_ESPEAK_", extra="ignore")

    language: str = "en"  # what the six API voice names speak


def build(settings: EspeakSettings, shared: object) -> EspeakTTS:
    """Needs nothing of the shared engine settings: espeak-ng runs one synthesis at a time."""
    return EspeakTTS.load(settings.language)


register_backend(
    "tts",
    "espeak",
    settings=EspeakSettings,
    build=build,
    describe=lambda s: f"espeak-ng {s.language}",
    requires={"espeakng_loader": "espeakng-loader"},
    fix="reinstall with `make install` (espeakng-loader)",
)

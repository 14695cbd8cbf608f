"""Which voice speaks a target language, and synthesis with it.

In order of preference: a Piper voice configured for the language
(`REALTIME2_TRANSLATION_VOICES`), the engine's own TTS for English (the packaged voice is
English), then espeak-ng, which covers ~100 languages offline but sounds robotic.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from realtime2.audio.pcm import float_to_pcm16, pcm16_to_float
from realtime2.audio.resample import resample
from realtime2.backends.local.models import ModelSetupError
from realtime2.engine.interfaces import TTS, AudioChunk, Priority
from realtime2.engine.voices import DEFAULT_VOICE
from realtime2.translation.config import TranslationSettings
from realtime2.translation.espeak import EspeakSynth, espeak

log = logging.getLogger(__name__)

OUTPUT_RATE = 24000  # translation sessions send 24 kHz pcm16
Backend = Literal["piper", "engine", "espeak"]


@dataclass(frozen=True)
class TargetVoice:
    language: str  # the code as the client should see it, e.g. "fr"
    name: str  # English name of the language, for the translation prompt
    backend: Backend


def normalize(code: str) -> str:
    return code.strip().lower().replace("_", "-")


def _plain_name(name: str) -> str:
    """'Chinese (Mandarin, latin as English)' -> 'Chinese' for the prompt."""
    return re.sub(r"\s*\(.*\)\s*$", "", name) or name


class VoiceBook:
    """The process's target-language voices; Piper voices load on first use."""

    def __init__(self, settings: TranslationSettings | None = None) -> None:
        settings = settings or TranslationSettings()
        self._piper_paths: dict[str, Path] = {
            normalize(k): v for k, v in settings.translation_voices.items()
        }
        self._piper: dict[str, TTS] = {}
        self._piper_lock = asyncio.Lock()
        try:
            self._espeak: EspeakSynth | None = espeak()
        except (ModelSetupError, OSError) as exc:
            log.warning("espeak-ng voices unavailable: %s", exc)
            self._espeak = None

    def _espeak_languages(self) -> dict[str, tuple[str, str]]:
        return self._espeak.languages if self._espeak is not None else {}

    def supported(self) -> list[str]:
        """Every language code a session may ask for."""
        return sorted({"en", *self._piper_paths, *self._espeak_languages()})

    def resolve(self, code: str) -> TargetVoice | None:
        """The voice for `code` ("fr", "fr-FR", "pt_BR"), trying the primary subtag too."""
        wanted = normalize(code)
        if not wanted:
            return None
        for candidate in dict.fromkeys((wanted, wanted.split("-")[0])):
            name = _plain_name(self._espeak_languages().get(candidate, ("", candidate))[1])
            if candidate in self._piper_paths:
                return TargetVoice(candidate, name, "piper")
            if candidate == "en":
                return TargetVoice("en", "English", "engine")
            if candidate in self._espeak_languages():
                return TargetVoice(candidate, name, "espeak")
        return None

    async def synthesize(
        self, voice: TargetVoice, text: str, engine_tts: TTS
    ) -> AsyncIterator[AudioChunk]:
        """Speak `text`, yielding 24 kHz pcm16 chunks."""
        if voice.backend == "espeak" and self._espeak is not None:
            synth = self._espeak
            pcm = await asyncio.to_thread(synth.speak, voice.language, text)
            if pcm:
                audio = resample(pcm16_to_float(pcm), synth.sample_rate, OUTPUT_RATE)
                yield AudioChunk(float_to_pcm16(audio), OUTPUT_RATE)
            return
        tts = await self._piper_voice(voice.language) if voice.backend == "piper" else engine_tts
        async for chunk in tts.synthesize(text, voice=DEFAULT_VOICE, priority=Priority.FIRST_AUDIO):
            if chunk.sample_rate == OUTPUT_RATE:
                yield chunk
            else:
                audio = resample(pcm16_to_float(chunk.pcm), chunk.sample_rate, OUTPUT_RATE)
                yield AudioChunk(float_to_pcm16(audio), OUTPUT_RATE)

    async def _piper_voice(self, language: str) -> TTS:
        async with self._piper_lock:
            if language not in self._piper:
                self._piper[language] = await asyncio.to_thread(
                    _load_piper, self._piper_paths[language]
                )
            return self._piper[language]


def _load_piper(model: Path) -> TTS:
    from realtime2.backends.local.piper_tts import PiperTTS
    from realtime2.backends.local.voicing import VoiceProfile

    # One neutral profile under the default voice name: no pitch or tilt changes.
    return PiperTTS.load(model, None, {DEFAULT_VOICE: VoiceProfile()})

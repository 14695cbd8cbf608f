"""Which voice speaks a target language: the routes of translation's `LanguageTTS`.

In order of preference: a Piper voice configured for the language
(`REALTIME2_TRANSLATION_VOICES`), the engine's own TTS for English (the packaged voice is
English), then espeak-ng, which covers ~100 languages offline but sounds robotic. Each is an
ordinary TTS; `engine.language_tts` routes a language code to the first that speaks it and
brings every route's audio to the 24 kHz translation sessions send.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass
from pathlib import Path

from realtime2.backends.local.espeak_tts import EspeakTTS
from realtime2.backends.local.models import ModelSetupError
from realtime2.engine.interfaces import TTS, AudioChunk, Priority, TTSCapabilities
from realtime2.engine.language_tts import LanguageRoute, LanguageTTS, normalize
from realtime2.engine.voices import DEFAULT_VOICE
from realtime2.translation.config import TranslationSettings

log = logging.getLogger(__name__)

OUTPUT_RATE = 24000  # translation sessions send 24 kHz pcm16


@dataclass(frozen=True)
class TargetVoice:
    language: str  # the code as the client should see it, e.g. "fr"
    name: str  # English name of the language, for the translation prompt
    backend: str  # the route that speaks it: "piper", "engine" or "espeak"


def _plain_name(name: str) -> str:
    """'Chinese (Mandarin, latin as English)' -> 'Chinese' for the prompt."""
    return re.sub(r"\s*\(.*\)\s*$", "", name) or name


class VoiceBook:
    """The process's target-language voices; Piper voices load on first use."""

    def __init__(self, settings: TranslationSettings | None = None) -> None:
        settings = settings or TranslationSettings()
        self._piper: dict[str, TTS] = {
            normalize(code): _PiperOnFirstUse(path)
            for code, path in settings.translation_voices.items()
        }
        try:
            self._espeak: EspeakTTS | None = EspeakTTS.load()
        except (ModelSetupError, OSError) as exc:
            log.warning("espeak-ng voices unavailable: %s", exc)
            self._espeak = None

    def tts(self, engine_tts: TTS) -> LanguageTTS:
        """Every target language, spoken by its preferred voice (English by `engine_tts`)."""
        names = self._espeak.languages if self._espeak is not None else {}
        names = {code: _plain_name(name) for code, name in names.items()}
        routes = [
            LanguageRoute("piper", tts, {code: names.get(code, code)}, DEFAULT_VOICE)
            for code, tts in self._piper.items()
        ]
        routes.append(LanguageRoute("engine", engine_tts, {"en": "English"}, DEFAULT_VOICE))
        if self._espeak is not None:
            routes.append(LanguageRoute("espeak", self._espeak, names))
        return LanguageTTS(routes, sample_rate=OUTPUT_RATE)


def target_voice(tts: LanguageTTS, code: str) -> TargetVoice | None:
    """The voice for `code` ("fr", "fr-FR", "pt_BR"), trying the primary subtag too."""
    found = tts.route(code)
    if found is None:
        return None
    language, route = found
    return TargetVoice(language, route.languages[language], route.name)


class _PiperOnFirstUse:
    """A Piper voice for one language, loaded the first time it speaks."""

    def __init__(self, model: Path) -> None:
        self._model = model
        self._tts: TTS | None = None
        self._lock = asyncio.Lock()
        self.name = f"piper {model.stem}"
        self.capabilities = TTSCapabilities(
            streaming=True, sample_rate=OUTPUT_RATE, voices=(DEFAULT_VOICE,), speed=True
        )

    async def synthesize(
        self,
        text: str,
        *,
        voice: str,
        priority: Priority = Priority.INTERACTIVE,
        speed: float = 1.0,
    ) -> AsyncIterator[AudioChunk]:
        async with self._lock:
            if self._tts is None:
                self._tts = await asyncio.to_thread(_load_piper, self._model)
        audio = self._tts.synthesize(text, voice=voice, priority=priority, speed=speed)
        async with aclosing(audio) as chunks:  # type: ignore[type-var]
            async for chunk in chunks:
                yield chunk


def _load_piper(model: Path) -> TTS:
    from realtime2.backends.local.piper_tts import PiperTTS
    from realtime2.backends.local.voicing import VoiceProfile

    # One neutral profile under the default voice name: no pitch or tilt changes.
    return PiperTTS.load(model, None, {DEFAULT_VOICE: VoiceProfile()})

"""A TTS that speaks many languages by routing each to a TTS that speaks it.

`LanguageTTS` is itself a TTS whose voices are language codes: `synthesize(text, voice="fr")`
goes to the first route that speaks French, with that route's own voice, and the audio comes
out at one rate whatever the route's rate. Routes are tried in order, so a good voice for a
language (a Piper voice) is listed before a catch-all (espeak-ng). Translation speaks through
it; which TTS serves which language is configuration, never a branch in the caller.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass

from realtime2.audio.pcm import float_to_pcm16, pcm16_to_float
from realtime2.audio.resample import resample
from realtime2.engine.interfaces import TTS, AudioChunk, Priority, TTSCapabilities


def normalize(code: str) -> str:
    """ "pt_BR", " FR " -> "pt-br", "fr"."""
    return code.strip().lower().replace("_", "-")


@dataclass(frozen=True)
class LanguageRoute:
    name: str  # how the route is known (logs, the chosen voice), e.g. "espeak"
    tts: TTS
    languages: Mapping[str, str]  # normalized language code -> its English name
    voice: str | None = None  # the voice to ask the TTS for; None: the language code


class LanguageTTS:
    """Language code in, speech in that language out, at `sample_rate`."""

    def __init__(self, routes: Sequence[LanguageRoute], *, sample_rate: int) -> None:
        self.routes = tuple(routes)
        self.name = "+".join(route.name for route in self.routes)
        self.capabilities = TTSCapabilities(
            streaming=True, sample_rate=sample_rate, voices=tuple(self.supported())
        )

    def supported(self) -> list[str]:
        """Every language code a caller may ask for, sorted."""
        return sorted({code for route in self.routes for code in route.languages})

    def route(self, code: str) -> tuple[str, LanguageRoute] | None:
        """The route for `code` ("fr", "fr-FR", "pt_BR"), trying its primary subtag too;
        with the code as matched."""
        wanted = normalize(code)
        if not wanted:
            return None
        for candidate in dict.fromkeys((wanted, wanted.split("-")[0])):
            for route in self.routes:
                if candidate in route.languages:
                    return candidate, route
        return None

    async def synthesize(
        self,
        text: str,
        *,
        voice: str,
        priority: Priority = Priority.INTERACTIVE,
        speed: float = 1.0,
    ) -> AsyncIterator[AudioChunk]:
        found = self.route(voice)
        if found is None:
            raise ValueError(f"no voice speaks {voice!r}")
        language, route = found
        rate = self.capabilities.sample_rate
        audio = route.tts.synthesize(text, voice=route.voice or language, priority=priority)
        async with aclosing(audio) as chunks:  # type: ignore[type-var]
            async for chunk in chunks:
                if chunk.sample_rate == rate:
                    yield chunk
                else:
                    samples = resample(pcm16_to_float(chunk.pcm), chunk.sample_rate, rate)
                    yield AudioChunk(float_to_pcm16(samples), rate)

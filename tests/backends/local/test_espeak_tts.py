"""espeak-ng as an ordinary TTS backend, registered by name (real libespeak-ng, fast)."""

from __future__ import annotations

import pytest

from realtime2.backends.local.espeak_tts import EspeakTTS
from realtime2.engine import catalog
from realtime2.engine.interfaces import TTS
from realtime2.engine.voices import VOICES
from realtime2.engine.warmup import warm_tts


@pytest.fixture(scope="module")
def espeak() -> EspeakTTS:
    return EspeakTTS.load()


def test_it_implements_the_tts_interface(espeak: EspeakTTS) -> None:
    assert isinstance(espeak, TTS)
    assert espeak.capabilities.voices == VOICES
    assert {"en", "fr", "de"} <= set(espeak.languages)
    assert espeak.languages["fr"].startswith("French")


async def test_api_voices_speak_its_language_and_language_codes_their_own(
    espeak: EspeakTTS,
) -> None:
    english = [c async for c in espeak.synthesize("Hello there.", voice="marin")]
    french = [c async for c in espeak.synthesize("Bonjour à tous.", voice="fr")]
    for chunks in (english, french):
        assert chunks and all(c.sample_rate == espeak.capabilities.sample_rate for c in chunks)
        assert sum(c.duration_s for c in chunks) > 0.3


async def test_an_unknown_voice_is_a_value_error(espeak: EspeakTTS) -> None:
    with pytest.raises(ValueError):
        async for _ in espeak.synthesize("Hi.", voice="klingon"):
            pass


async def test_it_is_registered_by_name_and_serves_as_the_engine_tts() -> None:
    entry = catalog.backend("tts", "espeak")
    settings = entry.load_settings({"language": "fr"})
    assert entry.describe(settings) == "espeak-ng fr"
    entry.check_installed()
    tts = entry.build(settings, None)
    speech = await warm_tts(tts)  # every API voice speaks, as EngineHost warms it
    assert speech.size > 0.3 * tts.capabilities.sample_rate

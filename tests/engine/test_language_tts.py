"""The language-routing TTS: a language code picks the TTS, the audio comes out at one rate."""

from __future__ import annotations

import pytest

from realtime2.engine.interfaces import TTS, Priority
from realtime2.engine.language_tts import LanguageRoute, LanguageTTS
from tests.support.fakes import FakeTTS


class Polyglot(FakeTTS):
    """Accepts language codes as voices."""

    def __init__(self, languages: tuple[str, ...]) -> None:
        super().__init__()
        self.capabilities = type(self.capabilities)(True, 22050, languages)


def router() -> tuple[LanguageTTS, FakeTTS, Polyglot]:
    engine = FakeTTS()
    catch_all = Polyglot(("fr", "de", "en"))
    routes = [
        LanguageRoute("engine", engine, {"en": "English"}, "marin"),
        LanguageRoute("espeak", catch_all, {"fr": "French", "de": "German", "en": "English"}),
    ]
    return LanguageTTS(routes, sample_rate=24000), engine, catch_all


def test_it_is_a_tts_whose_voices_are_languages() -> None:
    tts, _, _ = router()
    assert isinstance(tts, TTS)
    assert tts.capabilities.voices == ("de", "en", "fr")
    assert tts.capabilities.sample_rate == 24000


def test_routes_are_tried_in_order_and_by_primary_subtag() -> None:
    tts, _, _ = router()
    found = tts.route("EN_us")
    assert found is not None and (found[0], found[1].name) == ("en", "engine")
    found = tts.route("fr-CA")
    assert found is not None and (found[0], found[1].name) == ("fr", "espeak")
    assert tts.route("xx") is None
    assert tts.route("  ") is None


async def test_each_route_speaks_with_its_own_voice_at_the_routers_rate() -> None:
    tts, engine, catch_all = router()
    english = [c async for c in tts.synthesize("Hi.", voice="en", priority=Priority.FIRST_AUDIO)]
    french = [c async for c in tts.synthesize("Salut.", voice="fr")]
    assert engine.calls == [("Hi.", "marin", Priority.FIRST_AUDIO)]
    assert catch_all.calls == [("Salut.", "fr", Priority.INTERACTIVE)]
    assert {c.sample_rate for c in english + french} == {24000}
    # 50 ms at 22.05 kHz resampled to 24 kHz.
    assert abs(len(french[0].pcm) // 2 - 1200) <= 2


async def test_an_unspoken_language_is_refused_before_any_audio() -> None:
    tts, _, _ = router()
    with pytest.raises(ValueError):
        async for _ in tts.synthesize("Hola.", voice="es"):
            pass

"""Translation sessions apply `audio.input.noise_reduction` before VAD and STT too: steady
noise that makes phrases without it makes none with it (issue 23)."""

from __future__ import annotations

import json

import numpy as np

from realtime2.translation.session import TranslatePhrase, TranslationSession
from realtime2.translation.voices import TargetVoice
from tests.support.fakes import FakeVAD

LANGS = {"fr": TargetVoice("fr", "French", "espeak")}


def _session(noise_reduction: dict[str, str] | None) -> TranslationSession:
    vad = FakeVAD()
    s = TranslationSession(
        model="gpt-realtime-translate",
        vad=vad.new_stream(),
        vad_rate=vad.capabilities.sample_rate,
        vad_frame_samples=vad.capabilities.frame_samples,
        resolve_language=lambda code: LANGS.get(code.lower().split("-")[0]),
        supported_languages=lambda: sorted(LANGS),
    )
    audio = {"input": {"noise_reduction": noise_reduction}, "output": {"language": "fr"}}
    s.receive_text(json.dumps({"type": "session.update", "session": {"audio": audio}}))
    return s


def _phrases(s: TranslationSession, seconds: float) -> int:
    rng = np.random.default_rng(5)
    noise = (rng.standard_normal(int(24000 * seconds)) * 0.03).astype(np.float32)
    for i in range(0, noise.size, 480):
        s.receive_audio(noise[i : i + 480])
    s.close_gracefully()
    return sum(isinstance(c, TranslatePhrase) for c in s.commands())


def test_noise_makes_phrases_only_without_reduction() -> None:
    assert _phrases(_session(None), 8.0) >= 3
    # far_field: after its first second of adaptation the suppressor leaves nothing the
    # VAD hears; that first second may still make one phrase.
    assert _phrases(_session({"type": "far_field"}), 8.0) <= 1

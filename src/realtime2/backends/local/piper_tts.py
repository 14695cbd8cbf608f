"""Text to speech with Piper (ONNX), one sentence per scheduler job, six voices.

Each sentence is spoken by Piper, resynthesized in the voice's pitch and formants
(`voicing.py`, WORLD) and brought to the voice's loudness: one running level per voice
(`loudness.LevelTracker`), so the sentences of a reply keep one gain.

Two workers share the loaded voices: first-audio work goes to its own lane, so a turn's
first sentence never queues behind another session's long sentence, which cannot be
interrupted once started (the CPU gate still decides who gets a core). onnxruntime sessions
may run concurrently; espeak-ng phonemisation may not, so it takes a lock.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from realtime2.audio.pcm import float_to_pcm16
from realtime2.backends.local.loudness import LevelTracker
from realtime2.backends.local.models import (
    ModelSetupError,
    default_piper_voice,
    existing,
    require_module,
)
from realtime2.backends.local.voiced_sentence import VoicedSentence
from realtime2.backends.local.voicing import (
    VoiceProfile,
    VoiceTuning,
    resolve_profiles,
    speed_length_scale,
)
from realtime2.engine.catalog import Shared, register_backend
from realtime2.engine.interfaces import AudioChunk, FloatAudio, Priority, TTSCapabilities
from realtime2.engine.scheduler import ModelWorker, process_gate
from realtime2.engine.voices import VOICES

log = logging.getLogger(__name__)

OUTPUT_RATE = 24000  # the Realtime API's pcm16 rate; every voice is resampled to it


def load_piper_voice(model: Path, config: Path | None, threads: int) -> Any:
    """Load a Piper voice with our own onnxruntime thread settings."""
    piper = require_module("piper", "piper-tts")
    ort = require_module("onnxruntime", "onnxruntime")
    config_path = config or Path(f"{model}.json")
    for path, what in ((model, "Piper voice"), (config_path, "Piper voice config")):
        if not path.exists():
            raise ModelSetupError(f"{what} not found at {path}")
    with config_path.open(encoding="utf-8") as handle:
        piper_config = piper.PiperConfig.from_dict(json.load(handle))
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(
        str(model), sess_options=options, providers=["CPUExecutionProvider"]
    )
    return piper.PiperVoice(session=session, config=piper_config)


class PiperTTS:
    """Piper voices shared by all sessions; synthesis runs sentence by sentence."""

    def __init__(
        self,
        voices: dict[Path, Any],
        profiles: dict[str, VoiceProfile],
        default_model: Path,
        *,
        name: str = "piper",
        worker: ModelWorker | None = None,
    ) -> None:
        self._voices = voices
        self._profiles = profiles
        self._default_model = default_model
        self._worker = worker or ModelWorker("tts", gate=process_gate())
        self._first_audio = ModelWorker("tts-first", gate=process_gate())
        self._espeak = threading.Lock()  # espeak-ng keeps global state
        self._levels = {name: LevelTracker() for name in profiles}
        self.name = name
        self.capabilities = TTSCapabilities(
            streaming=True, sample_rate=OUTPUT_RATE, voices=tuple(VOICES), speed=True
        )

    @classmethod
    def load(
        cls,
        model: Path,
        config: Path | None,
        profiles: dict[str, VoiceProfile],
        *,
        threads: int = 2,
    ) -> PiperTTS:
        voices: dict[Path, Any] = {model: load_piper_voice(model, config, threads)}
        for profile in profiles.values():
            if profile.model is not None and profile.model not in voices:
                voices[profile.model] = load_piper_voice(profile.model, profile.config, threads)
        return cls(voices, profiles, model)

    def profile(self, voice: str) -> VoiceProfile:
        if voice not in self._profiles:
            raise ValueError(f"unknown voice {voice!r}; supported voices: {', '.join(VOICES)}")
        return self._profiles[voice]

    async def synthesize(
        self,
        text: str,
        *,
        voice: str,
        priority: Priority = Priority.INTERACTIVE,
        speed: float = 1.0,
    ) -> AsyncIterator[AudioChunk]:
        profile = self.profile(voice)
        if speed != 1.0:  # Piper's length scale: the voice's own rate, sped up or slowed
            profile = replace(
                profile, length_scale=profile.length_scale * speed_length_scale(speed)
            )
        piper_voice = self._voices[profile.model or self._default_model]
        worker = self._first_audio if priority == Priority.FIRST_AUDIO else self._worker

        def phonemize() -> list[list[str]]:
            with self._espeak:
                return list(piper_voice.phonemize(text))

        sentences = await worker.run(phonemize, priority)
        log.debug("tts: %d chars -> %d sentences, voice=%s", len(text), len(sentences), voice)
        for phonemes in sentences:
            if not phonemes:
                continue
            # One job per sentence and its first piece, one per later piece: other sessions'
            # first sentences can run in between, and the first piece plays while the rest
            # of the sentence is voiced (`voiced_sentence`).
            job = self._sentence_job(piper_voice, phonemes, profile, self._levels[voice])
            sentence, audio = await worker.run(job, priority)
            while audio is not None:
                if audio.size:
                    yield AudioChunk(pcm=float_to_pcm16(audio), sample_rate=OUTPUT_RATE)
                audio = await worker.run(sentence.next_piece, priority)

    def _sentence_job(
        self, piper_voice: Any, phonemes: list[str], profile: VoiceProfile, level: LevelTracker
    ) -> Callable[[], tuple[VoicedSentence, FloatAudio | None]]:
        piper = require_module("piper", "piper-tts")
        syn_config = piper.SynthesisConfig(
            speaker_id=profile.speaker,
            length_scale=profile.length_scale,
            noise_scale=profile.noise_scale,
            noise_w_scale=profile.noise_w,
        )
        rate: int = piper_voice.config.sample_rate

        def job() -> tuple[VoicedSentence, FloatAudio | None]:
            ids = piper_voice.phonemes_to_ids(phonemes)
            raw = np.asarray(piper_voice.phoneme_ids_to_audio(ids, syn_config), np.float32)
            sentence = VoicedSentence(raw.reshape(-1), rate, OUTPUT_RATE, profile, level)
            return sentence, sentence.next_piece()

        return job

    def close(self) -> None:
        self._worker.close()
        self._first_audio.close()


class PiperSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="REALTIME2_TTS_", extra="ignore", protected_namespaces=(), populate_by_name=True
    )

    model_path: Path | None = None  # a Piper .onnx voice (its .onnx.json beside it)
    config_path: Path | None = None
    # Per-voice overrides, JSON: {"ash": {"model": "/voices/x.onnx", "pitch_semitones": -2}}
    voices: dict[str, VoiceTuning] = Field(
        default_factory=dict, validation_alias="REALTIME2_VOICES"
    )


def build(settings: PiperSettings, shared: Shared) -> PiperTTS:
    profiles = resolve_profiles(settings.voices)
    if settings.model_path is not None:
        model = existing(settings.model_path, "Piper voice", "REALTIME2_TTS_MODEL_PATH")
        config = settings.config_path
    else:
        model, config = default_piper_voice()
    return PiperTTS.load(model, config, profiles, threads=shared.threads)


register_backend(
    "tts",
    "local",
    aliases=("piper",),
    settings=PiperSettings,
    build=build,
    describe=lambda s: f"piper {s.model_path.stem if s.model_path else 'en_US-joe-medium'}",
    requires={"piper": "piper-tts", "onnxruntime": "onnxruntime", "pyworld": "pyworld-prebuilt"},
    fix="check REALTIME2_TTS_MODEL_PATH, or reinstall with `make install`",
)

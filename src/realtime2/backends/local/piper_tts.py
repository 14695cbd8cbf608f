"""Text to speech with Piper (ONNX), one sentence per scheduler job, six voices.

Each sentence is spoken by Piper, resynthesized in the voice's pitch and formants
(`voicing.py`, WORLD) and brought to the voice's loudness: one running level per voice
(`loudness.LevelTracker`), so the sentences of a reply keep one gain.

Two workers share the loaded voices: first-audio work goes to its own lane, so a turn's
first sentence never queues behind another session's long sentence, which cannot be
interrupted once started (the CPU gate still decides who gets a core). onnxruntime sessions
may run concurrently; espeak-ng phonemisation may not, so it takes a lock.

A reply's first sentence is what its listener waits for, and on two cores the reply's own
LLM holds the other core meanwhile, writing what is not needed for a second yet. So the
first-audio lane *claims* that core (`CpuGate.claim`: the LLM hands it over at its next
token) and runs Piper on a copy of the voice with one more thread; WORLD, single-threaded,
then runs while the LLM goes on. Whether the wider copy is faster depends on the CPU, so
`calibrate_threads` times both at warm-up, as whisper's does (`whisper_stt`).
"""

from __future__ import annotations

import functools
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
from realtime2.engine.calibration import time_both, wider_pays
from realtime2.engine.catalog import Shared, register_backend
from realtime2.engine.interfaces import AudioChunk, FloatAudio, Priority, TTSCapabilities
from realtime2.engine.scheduler import CpuGate, ModelWorker, process_gate
from realtime2.engine.voices import VOICES

log = logging.getLogger(__name__)

OUTPUT_RATE = 24000  # the Realtime API's pcm16 rate; every voice is resampled to it
Voiced = tuple[VoicedSentence, FloatAudio | None]  # a sentence being voiced, its first piece
# How long a first sentence waits for the core a less urgent job hands over (an LLM hands it
# over at its next token: 20-60 ms on the CPUs measured); without it, it runs on one.
CLAIM_WAIT_S = 0.08
CALIBRATION_TEXT = "Sure, I can help with that."


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
        first_audio_worker: ModelWorker | None = None,
        wide_voices: dict[Path, Any] | None = None,
    ) -> None:
        self._voices = voices
        # The same voices on one more thread, for first sentences that get a second core.
        self._wide_voices = wide_voices or {}
        self.wide_faster = False  # `calibrate_threads` found the wider copy faster here
        self._profiles = profiles
        self._default_model = default_model
        self._worker = worker or ModelWorker("tts", gate=process_gate())
        self._first_audio = first_audio_worker or ModelWorker("tts-first", gate=process_gate())
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
        second_core: bool = True,
    ) -> PiperTTS:
        """`second_core`: also load each voice with one more thread, for first sentences
        that get a second core (only where the machine has one to spare)."""
        configs = {model: config}
        for profile in profiles.values():
            if profile.model is not None:
                configs.setdefault(profile.model, profile.config)
        voices = {path: load_piper_voice(path, conf, threads) for path, conf in configs.items()}
        wide: dict[Path, Any] = {}
        if second_core and process_gate().slots > threads:
            wide = {path: load_piper_voice(path, c, threads + 1) for path, c in configs.items()}
        return cls(voices, profiles, model, wide_voices=wide)

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
        model = profile.model or self._default_model
        piper_voice = self._voices[model]
        first_audio = priority == Priority.FIRST_AUDIO
        worker = self._first_audio if first_audio else self._worker
        wide_voice = self._wide_voices.get(model) if first_audio and self.wide_faster else None

        def voice_sentence(phonemes: list[str]) -> Voiced:
            job = self._sentence_job(
                piper_voice, phonemes, profile, self._levels[voice], wide_voice
            )
            return job()

        def phonemize_and_voice_first() -> tuple[list[list[str]], Voiced | None]:
            # One job, not two: between two jobs the LLM may take the core back for a token.
            with self._espeak:
                sentences = [p for p in piper_voice.phonemize(text) if p]
            return sentences, voice_sentence(sentences[0]) if sentences else None

        sentences, voiced = await worker.run(phonemize_and_voice_first, priority)
        log.debug("tts: %d chars -> %d sentences, voice=%s", len(text), len(sentences), voice)
        for index, phonemes in enumerate(sentences):
            # One job per sentence and its first piece, one per later piece: other sessions'
            # first sentences can run in between, and the first piece plays while the rest
            # of the sentence is voiced (`voiced_sentence`).
            if index > 0 or voiced is None:
                voiced = await worker.run(functools.partial(voice_sentence, phonemes), priority)
            sentence, audio = voiced
            while audio is not None:
                if audio.size:
                    yield AudioChunk(pcm=float_to_pcm16(audio), sample_rate=OUTPUT_RATE)
                audio = await worker.run(sentence.next_piece, priority)

    def _sentence_job(
        self,
        piper_voice: Any,
        phonemes: list[str],
        profile: VoiceProfile,
        level: LevelTracker,
        wide_voice: Any = None,
    ) -> Callable[[], Voiced]:
        """The job voicing one sentence and returning its first piece; Piper runs on
        `wide_voice` (one more thread) if the CPU gate gives the job a second core."""
        piper = require_module("piper", "piper-tts")
        syn_config = piper.SynthesisConfig(
            speaker_id=profile.speaker,
            length_scale=profile.length_scale,
            noise_scale=profile.noise_scale,
            noise_w_scale=profile.noise_w,
        )
        rate: int = piper_voice.config.sample_rate

        def job() -> Voiced:
            ids = piper_voice.phonemes_to_ids(phonemes)
            gate = self._second_core() if wide_voice is not None else None
            try:
                voiced = (wide_voice if gate is not None else piper_voice).phoneme_ids_to_audio(
                    ids, syn_config
                )
            finally:
                if gate is not None:
                    gate.release()  # WORLD is single-threaded: the LLM may go on
            raw = np.asarray(voiced, np.float32)
            sentence = VoicedSentence(raw.reshape(-1), rate, OUTPUT_RATE, profile, level)
            return sentence, sentence.next_piece()

        return job

    def _second_core(self) -> CpuGate | None:
        """The gate that gave this first-audio job a second core, or None."""
        gate = self._first_audio.gate
        if gate is None or not gate.claim(Priority.FIRST_AUDIO, CLAIM_WAIT_S):
            return None
        return gate

    async def calibrate_threads(self) -> None:
        """Time Piper on one thread and on the wider copy (`engine.calibration`); keep the
        wider one for first sentences only if it is clearly the faster on this CPU."""
        wide = self._wide_voices.get(self._default_model)
        if wide is None:
            return
        narrow = self._voices[self._default_model]

        def measure() -> tuple[float, float] | None:
            with self._espeak:
                ids = narrow.phonemes_to_ids(next(iter(narrow.phonemize(CALIBRATION_TEXT))))
            return time_both(
                self._first_audio.gate,
                lambda: narrow.phoneme_ids_to_audio(ids),
                lambda: wide.phoneme_ids_to_audio(ids),
            )

        timed = await self._first_audio.run(measure, Priority.INTERACTIVE)
        if timed is None:
            log.info("tts: no idle core to calibrate on; one core per sentence")
            self._wide_voices = {}  # never used: free its memory (~90 MB a voice)
            return
        narrow_s, wide_s = timed
        self.wide_faster = wider_pays(narrow_s, wide_s)
        if not self.wide_faster:
            self._wide_voices = {}
        log.info(
            "tts: first sentence %.0f ms on one core, %.0f ms on two: %s",
            narrow_s * 1000,
            wide_s * 1000,
            "claiming a second core" if self.wide_faster else "one core per sentence",
        )

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
    # A reply's first sentence claims a second core for Piper (the LLM hands it over), if
    # warm-up calibration finds two threads faster on this CPU.
    second_core: bool = True


def build(settings: PiperSettings, shared: Shared) -> PiperTTS:
    profiles = resolve_profiles(settings.voices)
    if settings.model_path is not None:
        model = existing(settings.model_path, "Piper voice", "REALTIME2_TTS_MODEL_PATH")
        config = settings.config_path
    else:
        model, config = default_piper_voice()
    return PiperTTS.load(
        model, config, profiles, threads=shared.threads, second_core=settings.second_core
    )


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

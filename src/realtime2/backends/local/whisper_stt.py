"""Speech to text with faster-whisper (CTranslate2), int8 on CPU.

Short clips go through `whisper_window` first (a shorter, much cheaper encoder window);
when it is unsure, faster-whisper's own full 30 s path decides.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from realtime2.backends.local.models import default_whisper_dir, existing, require_module
from realtime2.backends.local.whisper_logprobs import token_logprobs
from realtime2.backends.local.whisper_window import transcribe_short
from realtime2.engine.catalog import Shared, register_backend
from realtime2.engine.interfaces import (
    FloatAudio,
    Priority,
    STTCapabilities,
    TokenLogprob,
    Transcript,
)
from realtime2.engine.scheduler import ModelWorker, process_gate

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000


class WhisperSTT:
    """One loaded whisper model; transcriptions run one at a time on its worker."""

    def __init__(
        self,
        model: Any,
        *,
        name: str,
        beam_size: int = 1,
        worker: ModelWorker | None = None,
        short_window: bool = True,
    ) -> None:
        self._model = model
        self._beam_size = beam_size
        self._short_window = short_window  # see whisper_window.py
        self._worker = worker or ModelWorker("stt", gate=process_gate())
        self.name = name
        languages: tuple[str, ...] = (
            tuple(model.supported_languages) if model.model.is_multilingual else ("en",)
        )
        self.capabilities = STTCapabilities(
            streaming=False, sample_rate=SAMPLE_RATE, languages=languages, logprobs=True
        )

    @classmethod
    def load(
        cls,
        model_dir: Path,
        *,
        name: str,
        threads: int = 2,
        compute_type: str = "int8",
        beam_size: int = 1,
        short_window: bool = True,
    ) -> WhisperSTT:
        faster_whisper = require_module("faster_whisper", "faster-whisper")
        model = faster_whisper.WhisperModel(
            str(model_dir),
            device="cpu",
            compute_type=compute_type,
            cpu_threads=threads,
            num_workers=1,
            local_files_only=True,
        )
        return cls(model, name=name, beam_size=beam_size, short_window=short_window)

    async def transcribe(
        self,
        audio: FloatAudio,
        *,
        language: str | None = None,
        prompt: str | None = None,
        priority: Priority = Priority.INTERACTIVE,
        logprobs: bool = False,
    ) -> Transcript:
        samples = np.ascontiguousarray(audio, dtype=np.float32)
        seconds = samples.size / SAMPLE_RATE
        if samples.size == 0:
            return Transcript(
                text="", language=language, audio_seconds=0.0, logprobs=() if logprobs else None
            )
        if language is not None and language not in self.capabilities.languages:
            raise ValueError(
                f"language {language!r} is not supported by {self.name}; "
                f"supported: {', '.join(self.capabilities.languages[:20])}"
            )
        text, detected, scores = await self._worker.run(
            lambda: self._run_scored(samples, language, prompt, logprobs), priority
        )
        log.debug("stt: %.2f s of audio -> %d chars", seconds, len(text))
        return Transcript(text=text, language=detected, audio_seconds=seconds, logprobs=scores)

    def _run_scored(
        self, samples: FloatAudio, language: str | None, prompt: str | None, logprobs: bool
    ) -> tuple[str, str | None, tuple[TokenLogprob, ...] | None]:
        text, detected = self._run(samples, language, prompt)
        if not logprobs:
            return text, detected, None
        scores = token_logprobs(self._model, samples, text, detected or language or "en")
        return text, detected, scores

    def _run(
        self, samples: FloatAudio, language: str | None, prompt: str | None
    ) -> tuple[str, str | None]:
        known = language or (None if self._model.model.is_multilingual else "en")
        if self._short_window and known is not None:
            text = transcribe_short(
                self._model, samples, language=known, prompt=prompt, beam_size=self._beam_size
            )
            if text is not None:
                return text, known
        segments, info = self._model.transcribe(
            samples,
            language=known,
            beam_size=self._beam_size,
            initial_prompt=prompt or None,
            condition_on_previous_text=False,
            without_timestamps=True,
            vad_filter=False,
        )
        # `segments` is lazy: decoding happens while iterating, on this worker thread.
        text = " ".join(segment.text.strip() for segment in segments).strip()
        return text, info.language

    def close(self) -> None:
        self._worker.close()


class WhisperSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="REALTIME2_STT_", extra="ignore", protected_namespaces=()
    )

    model_path: Path | None = None  # a CTranslate2 faster-whisper model directory
    model_name: str = ""  # name reported to clients; default from the directory
    compute_type: str = "int8"
    beam_size: int = Field(default=1, ge=1, le=10)
    # Encode short clips on a shortened window (whisper_window.py); off = always 30 s.
    short_window: bool = True


def build(settings: WhisperSettings, shared: Shared) -> WhisperSTT:
    if settings.model_path is not None:
        path = existing(settings.model_path, "whisper model", "REALTIME2_STT_MODEL_PATH")
        name = settings.model_name or path.name
    else:
        path, name = default_whisper_dir(), settings.model_name or "whisper-tiny.en"
    return WhisperSTT.load(
        path,
        name=name,
        threads=shared.threads,
        compute_type=settings.compute_type,
        beam_size=settings.beam_size,
        short_window=settings.short_window,
    )


def describe(settings: WhisperSettings) -> str:
    path = settings.model_path
    return f"faster-whisper {path.stem if path is not None else 'tiny.en'}"


register_backend(
    "stt",
    "local",
    aliases=("whisper",),
    settings=WhisperSettings,
    build=build,
    describe=describe,
    requires={"faster_whisper": "faster-whisper"},
    fix="check REALTIME2_STT_MODEL_PATH, or reinstall with `make install`",
)

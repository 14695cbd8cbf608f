"""Speech to text with faster-whisper (CTranslate2), int8 on CPU.

Short clips go through `whisper_window` first (a shorter, much cheaper encoder window);
when it is unsure, faster-whisper's own full 30 s path decides.

Live transcription (`prefix`, capabilities `streaming`): each hypothesis is decoded after
the words already sent. Background jobs (live hypotheses) run on their own worker with a
second copy of the model, so a hypothesis being decoded never holds up another session's
first-audio transcription on this model; the CPU gate still runs them last.

A transcription may also borrow an idle core (`wide_model`, one more thread): while the
draft's transcript runs, the LLM waits for it and the second core of a two-core machine is
usually idle. Whether a second thread helps depends on the CPU (on a Zen 2 VM it took the
shipped human turns from ~0.38 to ~0.30 s; on Zen 5 it was slower), so `calibrate` times
both copies on the warm-up speech and the wider one is used only where it is the faster.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from realtime2.backends.local.models import default_whisper_dir, existing, require_module
from realtime2.backends.local.whisper_logprobs import token_logprobs
from realtime2.backends.local.whisper_window import transcribe_short
from realtime2.engine.calibration import time_both, wider_pays
from realtime2.engine.catalog import Shared, register_backend
from realtime2.engine.interfaces import (
    FloatAudio,
    Priority,
    STTCapabilities,
    TokenLogprob,
    Transcript,
)
from realtime2.engine.scheduler import CpuGate, ModelWorker, process_gate

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
        live_model: Callable[[], Any] | None = None,
        wide_model: Any = None,
    ) -> None:
        self._model = model
        # One more thread, for jobs that find an idle core (only once `calibrate` found it
        # faster on this CPU).
        self._wide_model = wide_model
        self.wide_faster = False
        # Background (live) jobs: a second model, loaded on first use, on its own worker.
        self._live_factory = live_model
        self._live_model: Any = None
        self._live_lock = threading.Lock()
        self._live_worker: ModelWorker | None = (
            ModelWorker("stt-live", gate=process_gate(), spare_cores=1)
            if live_model is not None
            else None
        )
        self._beam_size = beam_size
        self._short_window = short_window  # see whisper_window.py
        self._worker = worker or ModelWorker("stt", gate=process_gate())
        self.name = name
        languages: tuple[str, ...] = (
            tuple(model.supported_languages) if model.model.is_multilingual else ("en",)
        )
        self.capabilities = STTCapabilities(
            streaming=live_model is not None,
            sample_rate=SAMPLE_RATE,
            languages=languages,
            logprobs=True,
            local=True,
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
        live: bool = True,
        borrow_idle_core: bool = True,
    ) -> WhisperSTT:
        faster_whisper = require_module("faster_whisper", "faster-whisper")

        def load_model(cpu_threads: int) -> Any:
            return faster_whisper.WhisperModel(
                str(model_dir),
                device="cpu",
                compute_type=compute_type,
                cpu_threads=cpu_threads,
                num_workers=1,
                local_files_only=True,
            )

        return cls(
            load_model(threads),
            name=name,
            beam_size=beam_size,
            short_window=short_window,
            # One thread: live hypotheses never take more than one core.
            live_model=(lambda: load_model(1)) if live else None,
            wide_model=(
                load_model(threads + 1)
                if borrow_idle_core and process_gate().slots > threads
                else None
            ),
        )

    async def transcribe(
        self,
        audio: FloatAudio,
        *,
        language: str | None = None,
        prompt: str | None = None,
        priority: Priority = Priority.INTERACTIVE,
        logprobs: bool = False,
        prefix: str | None = None,
    ) -> Transcript:
        samples = np.ascontiguousarray(audio, dtype=np.float32)
        prefix = prefix.strip() if prefix else None
        seconds = samples.size / SAMPLE_RATE
        if samples.size == 0:
            return Transcript(
                text=prefix or "",
                language=language,
                audio_seconds=0.0,
                logprobs=() if logprobs else None,
            )
        if language is not None and language not in self.capabilities.languages:
            raise ValueError(
                f"language {language!r} is not supported by {self.name}; "
                f"supported: {', '.join(self.capabilities.languages[:20])}"
            )
        if priority == Priority.BACKGROUND and self._live_worker is not None and not logprobs:
            live = self._live_worker
            text, detected = await live.run(
                lambda: self._run(
                    samples, language, prompt, prefix, self._live(), live.check_abandoned
                ),
                priority,
            )
            scores = None
        else:
            text, detected, scores = await self._worker.run(
                lambda: self._run_scored(samples, language, prompt, logprobs, prefix), priority
            )
        log.debug("stt: %.2f s of audio -> %d chars", seconds, len(text))
        return Transcript(text=text, language=detected, audio_seconds=seconds, logprobs=scores)

    def _live(self) -> Any:
        with self._live_lock:
            if self._live_model is None:
                assert self._live_factory is not None
                self._live_model = self._live_factory()
            return self._live_model

    def _run_scored(
        self,
        samples: FloatAudio,
        language: str | None,
        prompt: str | None,
        logprobs: bool,
        prefix: str | None = None,
    ) -> tuple[str, str | None, tuple[TokenLogprob, ...] | None]:
        gate = self._borrowed_core()
        try:
            model = self._wide_model if gate is not None else self._model
            text, detected = self._run(
                samples, language, prompt, prefix, model, self._worker.check_abandoned
            )
        finally:
            if gate is not None:
                gate.release()
        if not logprobs:
            return text, detected, None
        scores = token_logprobs(self._model, samples, text, detected or language or "en")
        return text, detected, scores

    def _borrowed_core(self) -> CpuGate | None:
        """The gate that lent this job an idle core for the wider copy, or None."""
        gate = self._worker.gate
        if self._wide_model is None or not self.wide_faster or gate is None:
            return None
        return gate if gate.lend() else None

    async def calibrate(self, speech: FloatAudio) -> None:
        """Time both copies on real speech (the warm-up sentence, 16 kHz); keep the wider
        one for idle-core jobs only if it is clearly the faster on this CPU."""
        wide = self._wide_model
        if wide is None or speech.size == 0:
            return
        samples = np.ascontiguousarray(speech, dtype=np.float32)

        def measure() -> tuple[float, float] | None:
            return time_both(
                self._worker.gate,
                lambda: self._run(samples, None, None, None, self._model),
                lambda: self._run(samples, None, None, None, wide),
            )

        timed = await self._worker.run(measure, Priority.INTERACTIVE)
        if timed is None:
            log.info("stt: no idle core to calibrate on; one core per job")
            return
        narrow_s, wide_s = timed
        self.wide_faster = wider_pays(narrow_s, wide_s)
        log.info(
            "stt: %.0f ms on one core, %.0f ms borrowing an idle one: %s",
            narrow_s * 1000,
            wide_s * 1000,
            "borrowing idle cores" if self.wide_faster else "one core per job",
        )

    def _run(
        self,
        samples: FloatAudio,
        language: str | None,
        prompt: str | None,
        prefix: str | None = None,
        model: Any = None,
        checkpoint: Callable[[], None] = lambda: None,
    ) -> tuple[str, str | None]:
        """`checkpoint` runs between the stages of the decode (raising `JobAbandoned` ends
        a run whose caller stopped waiting: a discarded draft's)."""
        model = model if model is not None else self._model
        known = language or (None if model.model.is_multilingual else "en")
        if self._short_window and known is not None:
            text = transcribe_short(
                model,
                samples,
                language=known,
                prompt=prompt,
                beam_size=self._beam_size,
                prefix=prefix,
                between=checkpoint,
            )
            if text is not None:
                return _continuing(prefix, text), known
            if model is self._live_model:
                # A hypothesis the short window is unsure of (silence, a word cut off) adds
                # nothing: the next one will see more, and the full window costs 4x.
                return prefix or "", known
        segments, info = model.transcribe(
            samples,
            language=known,
            beam_size=self._beam_size,
            initial_prompt=prompt or None,
            prefix=prefix,
            condition_on_previous_text=False,
            without_timestamps=True,
            vad_filter=False,
        )
        # `segments` is lazy: decoding happens while iterating, on this worker thread.
        texts = []
        for segment in segments:
            texts.append(segment.text.strip())
            checkpoint()
        text = " ".join(texts).strip()
        return _continuing(prefix, text), info.language

    def close(self) -> None:
        self._worker.close()
        if self._live_worker is not None:
            self._live_worker.close()


def _continuing(prefix: str | None, text: str) -> str:
    """`text` starting with `prefix` (the decoder was forced through it; should the
    tokenizer's round trip differ, the prefix is kept and the rest follows it)."""
    if not prefix or text.startswith(prefix):
        return text
    words = text.split()[len(prefix.split()) :]
    return " ".join([prefix, *words])


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
    # Live transcription (words while the user speaks): hypotheses on a second model copy.
    # Off: transcripts come once a turn is committed, and no background STT work runs.
    live: bool = True
    # Run a transcription on one more core when one is idle, if `calibrate` finds that
    # faster on this CPU (a third copy of the model: ~40 MB for tiny.en int8).
    borrow_idle_core: bool = True


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
        live=settings.live,
        borrow_idle_core=settings.borrow_idle_core,
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

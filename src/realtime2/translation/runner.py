"""`TranslationRunner`: a `TranslationSession` driven by the real engines, for a transport.

    runner = TranslationRunner(engines, voices, model="gpt-realtime-translate")
    runner.start()                           # session.created is queued
    await runner.feed_text(message)          # each client text frame
    async for event in runner.events(): ...  # dicts to json.dumps; ends after session.closed
    await runner.close()                     # client gone: cancels all engine work

Phrases are translated in order, but a phrase's transcription starts as soon as it is cut,
while the previous phrase is still being translated and spoken (STT and LLM/TTS run on
different model workers, so on two cores they overlap).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from contextlib import aclosing
from typing import Any, Final

from realtime2.engine.interfaces import (
    AudioChunk,
    Engines,
    EngineUnavailableError,
    Priority,
    TextDelta,
    Transcript,
)
from realtime2.engine.pacing import Steady
from realtime2.engine.sentences import SentenceChunker
from realtime2.engine.speaking import SentenceTTS, SpeechEvent, speak
from realtime2.translation.config import TranslationSettings
from realtime2.translation.pipeline import TranslationFilter, translation_request
from realtime2.translation.session import (
    Closed,
    TranslatePhrase,
    TranslationSession,
    elapsed_ms,
)
from realtime2.translation.voices import TargetVoice, VoiceBook, target_voice

log = logging.getLogger(__name__)

MAX_QUEUED: Final = 512
SOURCE_LANGUAGE: Final = "en"  # what the packaged whisper (tiny.en) hears


class TranslationRunner:
    def __init__(
        self,
        engines: Engines,
        voices: VoiceBook,
        *,
        model: str,
        settings: TranslationSettings | None = None,
    ) -> None:
        settings = settings or TranslationSettings()
        self.engines = engines
        self.voices = voices
        self.tts = voices.tts(engines.tts)  # language code -> speech, at 24 kHz
        vad = engines.vad
        self.session = TranslationSession(
            model=model,
            vad=vad.new_stream(),
            vad_rate=vad.capabilities.sample_rate,
            vad_frame_samples=vad.capabilities.frame_samples,
            resolve_language=lambda code: target_voice(self.tts, code),
            supported_languages=self.tts.supported,
            pause_ms=settings.translation_pause_ms,
            max_phrase_s=settings.translation_max_phrase_s,
        )
        self.closed = asyncio.Event()
        self._out: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._space = asyncio.Event()
        self._space.set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._last_phrase: asyncio.Task[None] | None = None
        self._history: deque[tuple[str, str]] = deque(maxlen=settings.translation_context_phrases)
        self._finished = False
        # Timing of each phrase (seconds): cut -> first translated audio; for tests/metrics.
        self.first_audio_delays: list[float] = []

    # --- transport API -----------------------------------------------------------------

    def start(self) -> None:
        self._flush()
        self._spawn(self._expire_at(self.session.expires_at))

    async def feed_text(self, text: str | bytes) -> None:
        while self._out.qsize() > MAX_QUEUED and not self._finished:
            self._space.clear()
            await self._space.wait()
        target = self.session.target
        self.session.receive_text(text)
        if self.session.target is not None and self.session.target != target:
            self._spawn(self._prewarm(self.session.target))
        self._flush()

    async def events(self) -> Any:
        while (item := await self._out.get()) is not None:
            if self._out.qsize() <= MAX_QUEUED:
                self._space.set()
            yield item

    async def close(self) -> None:
        """Stop now (client gone or session over); safe to call more than once."""
        self.session.abort()
        self._finish()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # --- plumbing ------------------------------------------------------------------------

    def _flush(self) -> None:
        events = self.session.events_to_send()
        if self._finished:
            self.session.commands()
            return
        for item in events:
            self._out.put_nowait(item)
        for command in self.session.commands():
            if isinstance(command, TranslatePhrase):
                previous = self._last_phrase
                self._last_phrase = self._spawn(self._phrase(command, previous))
            elif isinstance(command, Closed):
                self._finish()

    def _finish(self) -> None:
        if not self._finished:
            self._finished = True
            self._out.put_nowait(None)
            self._space.set()
            self.closed.set()

    def _spawn(self, coro: Any) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _expire_at(self, deadline: float) -> None:
        await asyncio.sleep(max(0.0, deadline - time.time()))
        self.session.expire()
        self._flush()

    async def _prewarm(self, target: TargetVoice) -> None:
        """Read the translation prompt's fixed prefix into the LLM before the first phrase.

        A local llama.cpp keeps the last prompt's state, so the first phrase then starts
        from a cached prefix instead of a cold prompt (the largest part of its latency).
        """
        if target.backend == "engine" and target.language == SOURCE_LANGUAGE:
            return  # same language: no LLM involved
        request = translation_request(
            "Hello.", source=_name(SOURCE_LANGUAGE), target=target.name, history=[]
        )
        request.max_tokens = 1
        stream = self.engines.llm.stream(request, priority=Priority.BACKGROUND)
        try:
            async for _ in stream:
                pass
        except EngineUnavailableError:
            pass  # the first phrase reports it
        finally:
            with contextlib.suppress(Exception):
                await stream.aclose()  # type: ignore[attr-defined]

    # --- one phrase ----------------------------------------------------------------------

    async def _phrase(self, command: TranslatePhrase, previous: asyncio.Task[None] | None) -> None:
        cut_at = time.monotonic()
        transcribing = asyncio.ensure_future(
            self.engines.stt.transcribe(command.phrase.audio, priority=Priority.INTERACTIVE)
        )
        try:
            if previous is not None:
                await asyncio.wait([previous])  # keep output in phrase order
            transcript: Transcript = await transcribing
            text = transcript.text.strip()
            at = elapsed_ms(command.phrase)
            if text and command.transcribe_input:
                self.session.input_transcript(text, at)
                self._flush()
            if text and command.target is not None:
                await self._translate(text, transcript, command.target, at, cut_at)
        except EngineUnavailableError as exc:
            self.session.phrase_failed(exc.code, str(exc))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # one failed phrase must not end the session
            log.warning("translation phrase failed: %s", type(exc).__name__)
            self.session.phrase_failed("server_error", "A phrase could not be translated.")
        finally:
            if not transcribing.done():
                transcribing.cancel()
            self.session.phrase_done()
            self._flush()

    async def _translate(
        self, text: str, transcript: Transcript, target: TargetVoice, at: int, cut_at: float
    ) -> None:
        separator = self.session.output_separator()
        source = transcript.language or SOURCE_LANGUAGE
        first_text = True
        first_audio = True

        async def emit(event: SpeechEvent) -> None:
            nonlocal first_text, first_audio
            if isinstance(event, TextDelta):
                # The phrase's first delta gets the separator.
                piece = (separator + event.text.lstrip()) if first_text else event.text
                first_text = False
                self.session.output_transcript(piece, at)
                self._flush()
            elif isinstance(event, AudioChunk):
                if first_audio:
                    first_audio = False
                    self.first_audio_delays.append(time.monotonic() - cut_at)
                self.session.output_audio(event.pcm, at)
                self._flush()

        if source.split("-")[0] == target.language.split("-")[0]:
            self.session.output_transcript(separator + text, at)
            self._flush()
            audio = self.tts.synthesize(text, voice=target.language, priority=Priority.FIRST_AUDIO)
            async with aclosing(audio) as chunks:  # type: ignore[type-var]
                async for chunk in chunks:
                    await emit(chunk)
            self._history.append((text, text))
            return
        request = translation_request(
            text, source=_name(source), target=target.name, history=list(self._history)
        )
        cleaner = TranslationFilter()
        # A phrase is first-audio work throughout; the LLM waits while a piece is spoken.
        pace = Steady(llm=Priority.FIRST_AUDIO, later=Priority.FIRST_AUDIO)
        # Phrase breaks know English function words only; a translation is in any language.
        speech = SentenceTTS(
            self.tts,
            lambda: SentenceChunker(first_clause_min_chars=12, first_phrase_min_chars=None),
        )
        stream = speech.stream(voice=target.language, pace=pace)
        await speak(self.engines.llm, request, stream, emit, overlap=False, text_filter=cleaner)
        if cleaner.clean_text:
            self._history.append((text, cleaner.clean_text))


def _name(code: str) -> str:
    return {"en": "English"}.get(code.split("-")[0], code)

"""`TranslationSession`: the translation protocol as a sans-I/O state machine.

Client text frames go in (`receive_text`); server events (`events_to_send`) and phrase
commands (`commands`) come out. The driver runs each `TranslatePhrase` through the engines
and reports what it produced (`input_transcript`, `output_transcript`, `output_audio`,
`phrase_done`), which the session turns into events. Nothing here awaits or touches a
socket, so the whole protocol is tested by feeding frames in and reading events out.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from realtime2.audio.denoise import NoiseSuppressor
from realtime2.audio.pcm import pcm16_to_float
from realtime2.audio.resample import StreamResampler
from realtime2.engine.interfaces import FloatAudio, VADStream
from realtime2.protocol.models import UnsupportedModelError, resolve_transcription_model
from realtime2.protocol.server_events import ServerEvent, error_event, event, new_id
from realtime2.translation.segmenter import Phrase, PhraseSegmenter
from realtime2.translation.voices import TargetVoice

INPUT_RATE = 24000  # the API accepts 24 kHz pcm16 mono only
OUTPUT_RATE = 24000
SESSION_SECONDS = 60 * 60
ELAPSED_STEP_MS = 200  # the API's alignment metadata advances in 200 ms steps


# --- strict client event models (the SDK's are lenient) --------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NoiseReduction(_Strict):
    type: Literal["near_field", "far_field"]
    strength: float | None = None


class InputTranscription(_Strict):
    model: str


class AudioInput(_Strict):
    transcription: InputTranscription | None = None
    noise_reduction: NoiseReduction | None = None


class AudioOutput(_Strict):
    language: str | None = None


class AudioConfig(_Strict):
    input: AudioInput | None = None
    output: AudioOutput | None = None


class SessionUpdate(_Strict):
    # `type` and `model` are tolerated so a client may echo the session it was sent.
    type: Literal["translation"] | None = None
    model: str | None = None
    audio: AudioConfig | None = None


# --- commands to the driver ------------------------------------------------------------


@dataclass(frozen=True)
class TranslatePhrase:
    phrase: Phrase
    target: TargetVoice | None  # None: no language set yet; transcribe only
    transcribe_input: bool


@dataclass(frozen=True)
class Closed:
    """The session is over: the driver ends its event stream and the socket closes."""


Command = TranslatePhrase | Closed


class TranslationSession:
    def __init__(
        self,
        *,
        model: str,
        vad: VADStream,
        vad_rate: int,
        vad_frame_samples: int,
        resolve_language: Callable[[str], TargetVoice | None],
        supported_languages: Callable[[], list[str]],
        pause_ms: int = 300,
        max_phrase_s: float = 2.5,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.id = new_id("sess")
        self.model = model
        self.expires_at = int(wall_clock()) + SESSION_SECONDS
        self._vad = vad
        self._frame = vad_frame_samples
        self._resampler = StreamResampler(INPUT_RATE, vad_rate)
        self._vad_rate = vad_rate
        self._pending_audio = np.zeros(0, dtype=np.float32)
        self._segmenter = PhraseSegmenter(
            sample_rate=vad_rate,
            frame_samples=vad_frame_samples,
            pause_ms=pause_ms,
            max_phrase_s=max_phrase_s,
        )
        self._resolve = resolve_language
        self._supported = supported_languages
        self.target: TargetVoice | None = None
        self.transcription_model: str | None = None
        self.noise_reduction: NoiseReduction | None = None
        self._noise: NoiseSuppressor | None = None  # applies `noise_reduction`
        self._events: list[ServerEvent] = [event("session.created", session=self.describe())]
        self._commands: list[Command] = []
        self._in_flight = 0
        self._said_input = False  # whether a transcript delta was sent (spacing)
        self._said_output = False
        self._warned_no_language = False
        self.closing = False
        self.ended = False

    # --- outputs -----------------------------------------------------------------------

    def events_to_send(self) -> list[ServerEvent]:
        out, self._events = self._events, []
        return out

    def commands(self) -> list[Command]:
        out, self._commands = self._commands, []
        return out

    def describe(self) -> dict[str, Any]:
        audio_input: dict[str, Any] = {
            "transcription": (
                {"model": self.transcription_model} if self.transcription_model else None
            ),
            "noise_reduction": (
                self.noise_reduction.model_dump() if self.noise_reduction else None
            ),
        }
        return {
            "id": self.id,
            "type": "translation",
            "model": self.model,
            "expires_at": self.expires_at,
            "audio": {
                "input": audio_input,
                "output": {"language": self.target.language if self.target else None},
            },
        }

    # --- client input ------------------------------------------------------------------

    def receive_text(self, text: str | bytes) -> None:
        if self.closing:
            return  # after session.close nothing more is read
        try:
            message = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError):
            self._error("invalid_json", "The message is not valid JSON.")
            return
        if not isinstance(message, dict):
            self._error("invalid_event", "An event must be a JSON object.")
            return
        kind, event_id = message.get("type"), message.get("event_id")
        event_id = event_id if isinstance(event_id, str) else None
        if kind == "session.input_audio_buffer.append":
            self._append(message, event_id)
        elif kind == "session.update":
            self._update(message, event_id)
        elif kind == "session.close":
            self.close_gracefully()
        else:
            self._error(
                "unknown_event",
                f"Unknown event type {kind!r} for a translation session; expected "
                "session.update, session.input_audio_buffer.append or session.close.",
                param="type",
                event_id=event_id,
            )

    def _append(self, message: dict[str, Any], event_id: str | None) -> None:
        audio = message.get("audio")
        extra = set(message) - {"type", "event_id", "audio"}
        if not isinstance(audio, str) or extra:
            self._error(
                "invalid_event",
                "session.input_audio_buffer.append takes a base64 `audio` string only.",
                param="audio",
                event_id=event_id,
            )
            return
        try:
            pcm = base64.b64decode(audio, validate=True)
        except (binascii.Error, ValueError):
            self._error(
                "invalid_audio", "`audio` is not valid base64.", param="audio", event_id=event_id
            )
            return
        if len(pcm) % 2:
            self._error(
                "invalid_audio",
                "`audio` must be 24 kHz pcm16 mono: an even number of bytes.",
                param="audio",
                event_id=event_id,
            )
            return
        self.receive_audio(pcm16_to_float(pcm))

    def receive_audio(self, samples: FloatAudio) -> None:
        """24 kHz float audio from the client: VAD frames -> phrases -> commands."""
        self._frame_audio(self._resampler.process(samples))

    def _frame_audio(self, resampled: FloatAudio) -> None:
        if self._noise is not None:  # before VAD and STT, which both take these frames
            resampled = self._noise.process(resampled)
        self._pending_audio = np.concatenate([self._pending_audio, resampled])
        used = 0
        while len(self._pending_audio) - used >= self._frame:
            frame = self._pending_audio[used : used + self._frame]
            used += self._frame
            for phrase in self._segmenter.push(frame, self._vad.speech_probability(frame)):
                self._queue_phrase(phrase)
        self._pending_audio = self._pending_audio[used:]

    def _update(self, message: dict[str, Any], event_id: str | None) -> None:
        try:
            update = SessionUpdate.model_validate(message.get("session"))
        except ValidationError as exc:
            first = exc.errors()[0]
            param = "session." + ".".join(str(p) for p in first["loc"])
            self._error("invalid_session", first["msg"], param=param, event_id=event_id)
            return
        if update.model is not None and update.model != self.model:
            self._error(
                "invalid_session",
                "The model is set when the session is created and cannot be changed.",
                param="session.model",
                event_id=event_id,
            )
            return
        audio = update.audio or AudioConfig()
        target = self.target
        if audio.output is not None and audio.output.language is not None:
            target = self._resolve(audio.output.language)
            if target is None:
                self._error(
                    "unsupported_language",
                    f"Cannot translate into {audio.output.language!r}. Supported languages: "
                    + ", ".join(self._supported()),
                    param="session.audio.output.language",
                    event_id=event_id,
                )
                return
        transcription_model = self.transcription_model
        noise = self.noise_reduction
        if audio.input is not None:
            fields = audio.input.model_fields_set
            if "transcription" in fields:
                if audio.input.transcription is None:
                    transcription_model = None
                else:
                    try:
                        transcription_model = resolve_transcription_model(
                            audio.input.transcription.model
                        )
                    except UnsupportedModelError as exc:
                        self._error(
                            "unsupported_model",
                            str(exc),
                            param="session.audio.input.transcription.model",
                            event_id=event_id,
                        )
                        return
            if "noise_reduction" in fields:
                noise = audio.input.noise_reduction
        self.target, self.transcription_model, self.noise_reduction = (
            target,
            transcription_model,
            noise,
        )
        if noise is None:
            self._noise = None
        else:
            strength = 1.0 if noise.strength is None else noise.strength
            if self._noise is None or (self._noise.kind, self._noise.strength) != (
                noise.type,
                strength,
            ):
                self._noise = NoiseSuppressor(noise.type, self._vad_rate, strength)
        self._events.append(event("session.updated", session=self.describe()))

    def close_gracefully(self) -> None:
        """`session.close`: translate what is pending, then `session.closed`."""
        if self.closing:
            return
        self._frame_audio(self._resampler.flush())
        for phrase in self._segmenter.flush():
            self._queue_phrase(phrase)
        self.closing = True
        self._maybe_end()

    def expire(self) -> None:
        """The session's time is up: say so, and close after the pending phrases."""
        self._error("session_expired", "The translation session reached its time limit.")
        self.close_gracefully()

    # --- driver results ------------------------------------------------------------------

    def input_transcript(self, text: str, elapsed_ms: int) -> None:
        self._said_input, delta = _join(self._said_input, text)
        if delta:
            self._events.append(
                event("session.input_transcript.delta", delta=delta, elapsed_ms=elapsed_ms)
            )

    def output_transcript(self, text: str, elapsed_ms: int) -> None:
        """A piece of a phrase's translation; `first` pieces get a separating space."""
        if not text:
            return
        self._events.append(
            event("session.output_transcript.delta", delta=text, elapsed_ms=elapsed_ms)
        )
        self._said_output = True

    def output_separator(self) -> str:
        """The text to put before a new phrase's translation (deltas append verbatim)."""
        return " " if self._said_output else ""

    def output_audio(self, pcm: bytes, elapsed_ms: int) -> None:
        if not pcm:
            return
        self._events.append(
            event(
                "session.output_audio.delta",
                delta=base64.b64encode(pcm).decode("ascii"),
                elapsed_ms=elapsed_ms,
                format="pcm16",
                sample_rate=OUTPUT_RATE,
                channels=1,
            )
        )

    def phrase_failed(self, code: str, message: str) -> None:
        self._error(code, message, error_type="server_error")

    def phrase_done(self) -> None:
        self._in_flight -= 1
        self._maybe_end()

    def abort(self) -> None:
        """The client is gone: nothing more is sent."""
        self.closing = self.ended = True

    # --- helpers -------------------------------------------------------------------------

    def _queue_phrase(self, phrase: Phrase) -> None:
        if self.target is None and not self._warned_no_language:
            self._warned_no_language = True
            self._error(
                "missing_output_language",
                "Set session.audio.output.language to receive translations.",
                param="session.audio.output.language",
            )
        if self.target is None and self.transcription_model is None:
            return  # nothing to produce for this phrase
        self._in_flight += 1
        self._commands.append(
            TranslatePhrase(phrase, self.target, self.transcription_model is not None)
        )

    def _maybe_end(self) -> None:
        if self.closing and not self.ended and self._in_flight == 0:
            self.ended = True
            self._events.append(event("session.closed"))
            self._commands.append(Closed())

    def _error(
        self,
        code: str,
        message: str,
        *,
        param: str | None = None,
        event_id: str | None = None,
        error_type: str = "invalid_request_error",
    ) -> None:
        self._events.append(
            error_event(code, message, param=param, event_id=event_id, error_type=error_type)
        )


def elapsed_ms(phrase: Phrase) -> int:
    """Alignment metadata: the phrase's end in the input stream, in 200 ms steps."""
    return phrase.end_ms // ELAPSED_STEP_MS * ELAPSED_STEP_MS


def _join(said_before: bool, text: str) -> tuple[bool, str]:
    """Append-only deltas: one space between phrases, none before the first."""
    text = text.strip()
    if not text:
        return said_before, ""
    return True, (" " + text) if said_before else text

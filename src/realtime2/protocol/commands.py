"""Commands: what the sans-I/O session asks its runner to do.

The session never awaits anything. It returns these records; the runner executes them with
real engines and feeds results back through the session's `on_*` methods, always naming
the item or response id so late results of cancelled work can be recognised and dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from realtime2.engine.interfaces import FloatAudio, LLMRequest


@dataclass(frozen=True)
class TranscribeTurn:
    """Transcribe a committed user audio item; answer with `on_transcript_*`."""

    item_id: str
    audio: FloatAudio  # mono float32 at `sample_rate`
    sample_rate: int
    language: str | None
    prompt: str | None


@dataclass(frozen=True)
class TranscribePartial:
    """Transcribe the speech so far (semantic VAD); answer with `on_partial_transcript`."""

    item_id: str
    audio: FloatAudio
    sample_rate: int
    language: str | None


@dataclass(frozen=True)
class StartResponse:
    """Generate a reply; stream it back with `on_response_*`, finish with `on_response_done`."""

    response_id: str
    request: LLMRequest
    voice: str  # an engine voice name (see realtime2.engine.voices)
    modality: Literal["audio", "text"]
    speed: float


@dataclass(frozen=True)
class CancelResponse:
    """Stop the response's work now; the session already told the client."""

    response_id: str


@dataclass(frozen=True)
class PlayAudio:
    """WebRTC only: pcm16 to play on the outgoing track (WebSocket gets JSON deltas)."""

    response_id: str
    pcm: bytes
    sample_rate: int


@dataclass(frozen=True)
class ClearAudio:
    """WebRTC only: drop any queued, unplayed audio of this response."""

    response_id: str


@dataclass(frozen=True)
class CloseSession:
    reason: Literal["expired", "closed"]


Command = (
    TranscribeTurn
    | TranscribePartial
    | StartResponse
    | CancelResponse
    | PlayAudio
    | ClearAudio
    | CloseSession
)

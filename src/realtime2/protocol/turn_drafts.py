"""A speculative draft of the turn being spoken, as the session tracks it, and the audio a
draft transcribes (`user_turns` sends both in `PrepareDraft` and `ConfirmDraft`)."""

from __future__ import annotations

from dataclasses import dataclass

from realtime2.engine.interfaces import FloatAudio
from realtime2.protocol.commands import DraftReply
from realtime2.protocol.input_audio import InputAudio
from realtime2.protocol.live_transcription import LiveTurn
from realtime2.protocol.session_config import SessionSettings


@dataclass
class Draft:
    """A speculative transcript (and maybe reply) of the turn being spoken."""

    id: str
    transcript: str | None = None  # known once the runner reports it
    end_ms: int = 0  # audio end it covers
    chunk: int = 0  # the live chunk it transcribes
    reply: DraftReply | None = None  # what the reply would answer, minus the user's words
    confirmed: bool = True  # False: an early draft whose pause has not come yet

    @property
    def has_reply(self) -> bool:
        return self.reply is not None


@dataclass(frozen=True)
class DraftAudio:
    """What a draft transcribes: the turn so far, or with live transcription only its open
    chunk (`chunk`), continuing the words already sent (`prefix`; the whole turn's
    transcript is `head` joined with it)."""

    audio: FloatAudio
    sample_rate: int
    language: str | None
    prompt: str | None
    prefix: str | None
    head: str
    chunk: int


def draft_audio(
    audio: InputAudio, settings: SessionSettings, live: LiveTurn | None, turn_start_ms: int
) -> DraftAudio:
    if live is None:
        return DraftAudio(
            audio.peek(turn_start_ms),
            audio.rate,
            settings.transcription_language,
            settings.transcription_prompt,
            None,
            "",
            0,
        )
    return DraftAudio(
        audio.peek(live.chunk_start_ms),
        audio.rate,
        settings.transcription_language,
        live.context(settings.transcription_prompt),
        live.prefix,
        live.head,
        live.chunk,
    )

"""Commands: what the sans-I/O session asks its runner to do.

The session never awaits anything. It returns these records; the runner executes them with
real engines and feeds results back through the session's `on_*` methods, always naming
the item or response id so late results of cancelled work can be recognised and dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from realtime2.engine.interfaces import ChatMessage, FloatAudio, LLMRequest


@dataclass(frozen=True)
class TranscribeTurn:
    """Transcribe a committed user audio item; answer with `on_transcript_*`."""

    item_id: str
    audio: FloatAudio  # mono float32 at `sample_rate`
    sample_rate: int
    language: str | None
    prompt: str | None
    logprobs: bool = False  # the session includes `item.input_audio_transcription.logprobs`
    # Live transcription (protocol.live_transcription): `audio` is the turn's open chunk,
    # its transcript must continue `prefix`, and the item's is `head` joined with it.
    prefix: str | None = None
    head: str = ""


@dataclass(frozen=True)
class TranscribePartial:
    """Transcribe the speech so far (semantic VAD); answer with `on_partial_transcript`.

    With `live`, a hypothesis of a turn's open chunk for live transcription
    (`protocol.live_transcription`): background work unless `urgent` (semantic VAD waits
    for it), continuing `prefix`; answer with `on_live_transcript` / `on_live_failed`."""

    item_id: str
    audio: FloatAudio
    sample_rate: int
    language: str | None
    live: bool = False
    request_id: int = 0
    prompt: str | None = None
    prefix: str | None = None
    urgent: bool = False


@dataclass(frozen=True)
class CheckTurnEnd:
    """Semantic VAD with an end-of-turn model: the user paused; how finished does the turn
    sound? Answer with `on_turn_end_score` (or `on_turn_end_failed`) naming `check_id`; an
    answer for an older pause is dropped, and a check still waiting when a newer one comes
    need not run at all."""

    item_id: str
    check_id: int
    audio: FloatAudio  # the turn's last ≤ 8 s up to now, mono float32 at `sample_rate`
    sample_rate: int
    # Asked where the voice began to fade, before any pause: the runner may decline it (as
    # a failed check) on a busy machine, and the pause then asks.
    at_fade: bool = False


@dataclass(frozen=True)
class CancelTurnCheck:
    """The pause a `CheckTurnEnd` asked about is over (the user talked on, or the turn
    ended): its answer would be dropped, so the check need not run, or be waited for."""

    item_id: str
    check_id: int


@dataclass(frozen=True)
class StartResponse:
    """Generate a reply; stream it back with `on_response_*`, finish with `on_response_done`.

    With `draft_id`, the runner may adopt that draft's work instead of starting afresh, but
    only if the draft was made for exactly this request, voice, modality and speed.
    """

    response_id: str
    request: LLMRequest
    voice: str  # an engine voice name (see realtime2.engine.voices)
    modality: Literal["audio", "text"]
    speed: float
    draft_id: str | None = None


@dataclass(frozen=True)
class DraftReply:
    """What the reply to a drafted turn would be: the request minus the user's words."""

    history: LLMRequest  # the final user message (the transcript) is appended to it
    voice: str
    modality: Literal["audio", "text"]
    speed: float


@dataclass(frozen=True)
class PrepareDraft:
    """The user paused: transcribe the turn so far and, with `reply`, draft the answer.

    Speculative: nothing of it reaches the client until the session adopts it. The runner
    reports the transcript with `on_draft_transcript`; the reply waits, buffered, for a
    `StartResponse` naming this draft, or dies with `DiscardDraft`.
    """

    draft_id: str
    audio: FloatAudio  # mono float32 at `sample_rate`
    sample_rate: int
    language: str | None
    prompt: str | None
    reply: DraftReply | None
    # Live transcription: as in `TranscribeTurn` (the transcript reported is the whole turn's).
    prefix: str | None = None
    head: str = ""
    # `audio` ends where the voice began to fade (`VoiceFading`), before any pause: the
    # runner may start the reply on its transcript (a guess), but the transcript it reports,
    # and the one the reply must have answered, is that of the `ConfirmDraft`'s audio.
    early: bool = False


@dataclass(frozen=True)
class ConfirmDraft:
    """The pause came after an early draft's fade: transcribe the turn up to it (fields as
    in `PrepareDraft`) and report that transcript. A reply the runner began on the guess is
    kept only if this transcript is the same text; otherwise it starts again from it."""

    draft_id: str
    audio: FloatAudio
    sample_rate: int
    language: str | None
    prompt: str | None
    prefix: str | None = None
    head: str = ""


@dataclass(frozen=True)
class DiscardDraft:
    """Stop a draft's work; with `keep_transcript`, only its reply (the transcript is used)."""

    draft_id: str
    keep_transcript: bool = False


def draft_request(history: LLMRequest, transcript: str) -> LLMRequest:
    """The request a drafted turn answers: its history plus the user's words (if any).

    The session builds the real request from the conversation the same way, which is what
    lets the runner compare the two to decide whether a draft can be used.
    """
    messages = list(history.messages)
    if transcript:
        messages.append(ChatMessage("user", transcript))
    return replace(history, messages=messages)


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
class McpServerRef:
    """Where an MCP server is and what to send it; `headers` stay out of the repr."""

    label: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class ListMcpTools:
    """List the server's tools; answer with `on_mcp_tools_listed` / `on_mcp_tools_failed`."""

    item_id: str  # the `mcp_list_tools` item
    server: McpServerRef


@dataclass(frozen=True)
class CallMcpTool:
    """Call a tool for a response; answer with `on_mcp_call_done`."""

    response_id: str
    item_id: str  # the `mcp_call` item
    server: McpServerRef
    name: str
    arguments: str


@dataclass(frozen=True)
class WarmPrompt:
    """The user is still talking: the automatic reply's request with the words agreed so far.

    A hint for an LLM that can evaluate a prompt ahead (`engine.interfaces.PromptWarming`),
    so that the draft at the pause evaluates only the last words. Nothing comes back.
    """

    request: LLMRequest


@dataclass(frozen=True)
class CloseSession:
    reason: Literal["expired", "closed"]


Command = (
    TranscribeTurn
    | TranscribePartial
    | CheckTurnEnd
    | CancelTurnCheck
    | StartResponse
    | PrepareDraft
    | ConfirmDraft
    | DiscardDraft
    | CancelResponse
    | PlayAudio
    | ClearAudio
    | ListMcpTools
    | CallMcpTool
    | WarmPrompt
    | CloseSession
)

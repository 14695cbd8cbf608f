"""Engine interfaces: one per capability (VAD, STT, LLM, TTS, end of turn).

Everything above this module (the pipeline endpoint, the realtime session runner) talks to
these protocols only; no caller names a vendor. Implementations live in
`realtime2.backends.*` and are chosen by configuration in `realtime2.engine.registry`.

Audio crossing these interfaces is always mono. Samples are float32 in [-1, 1] for model
input (`numpy.ndarray`) and signed 16-bit little-endian bytes for synthesized output
(`AudioChunk`), each at the rate the capability record states.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Literal, Protocol, runtime_checkable

# Re-exported: the audio array type lives in the bottom layer (audio/ needs nothing above).
from realtime2.audio.types import FloatAudio as FloatAudio
from realtime2.engine.transcript_pace import TranscriptPace


class Priority(IntEnum):
    """Scheduling order for shared inference: lower values run first.

    What a listener is waiting for right now (the first audio of a turn) goes before work
    that can wait (the rest of a long reply, transcripts of finished turns).
    """

    FIRST_AUDIO = 0
    INTERACTIVE = 1
    BACKGROUND = 2


class Urgency:
    """A priority its owner may change while the work runs.

    A spoken reply's LLM stream is first-audio work until its first sentence is out; after
    that it only has to stay ahead of playback (see `engine.pacing`). Backends that
    schedule work re-read `priority` between steps. An owner whose priority changes with
    time alone (a reply's audio running out as it plays) passes `live`, which is then asked
    on every read, from whichever thread reads it.
    """

    __slots__ = ("_live", "_set")

    def __init__(self, priority: Priority, live: Callable[[], Priority] | None = None) -> None:
        self._set = priority
        self._live = live

    @property
    def priority(self) -> Priority:
        return self._set if self._live is None else self._live()

    @priority.setter
    def priority(self, value: Priority) -> None:
        if self._live is not None:  # it would be ignored: the callable decides
            raise TypeError("a live Urgency's priority is read from its callable, not set")
        self._set = value


def priority_of(priority: Priority | Urgency) -> Priority:
    return priority.priority if isinstance(priority, Urgency) else priority


@dataclass(frozen=True)
class AudioChunk:
    pcm: bytes  # s16le mono
    sample_rate: int

    @property
    def duration_s(self) -> float:
        return len(self.pcm) / 2 / self.sample_rate


class EngineUnavailableError(RuntimeError):
    """A backend cannot serve: a model failed to load or a remote server is unreachable.

    `code` is the error code clients see (e.g. `engine_unavailable`, `upstream_unavailable`).
    """

    def __init__(self, message: str, *, code: str = "engine_unavailable") -> None:
        super().__init__(message)
        self.code = code


# --- VAD ------------------------------------------------------------------------------


@dataclass(frozen=True)
class VADCapabilities:
    sample_rate: int  # rate the frames must be at
    frame_samples: int  # exact frame length `speech_probability` accepts


class VADStream(Protocol):
    """Per-session VAD state. Pure computation, cheap enough to call inline (< 1 ms)."""

    def speech_probability(self, frame: FloatAudio) -> float: ...

    def reset(self) -> None: ...


@runtime_checkable
class VAD(Protocol):
    name: str
    capabilities: VADCapabilities

    def new_stream(self) -> VADStream: ...


# --- STT ------------------------------------------------------------------------------


@dataclass(frozen=True)
class STTCapabilities:
    # `transcribe(prefix=…)` continues a transcript already sent (live transcription:
    # hypotheses of a growing turn, each decoded after the words committed so far).
    streaming: bool
    sample_rate: int
    languages: tuple[str, ...]
    logprobs: bool = False  # `transcribe(logprobs=True)` fills `Transcript.logprobs`
    # Runs on this machine's cores (the CPU gate): a speculative transcription costs an idle
    # core, not an upstream request (early drafts guess only with such an STT).
    local: bool = False


@dataclass(frozen=True)
class TokenLogprob:
    """One token of a transcript and its log-probability (the SDK's `LogProbProperties`)."""

    token: str
    logprob: float
    bytes: tuple[int, ...]


@dataclass(frozen=True)
class Transcript:
    text: str
    language: str | None
    audio_seconds: float
    logprobs: tuple[TokenLogprob, ...] | None = None  # one per token, when asked for


@runtime_checkable
class STT(Protocol):
    name: str  # model name reported to clients
    capabilities: STTCapabilities

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
        """Transcribe mono float32 audio at `capabilities.sample_rate`.

        `logprobs=True` (only for an STT whose capabilities say `logprobs`) also returns
        each token's log-probability. `prefix` (only for an STT whose capabilities say
        `streaming`): words already decided for the start of this audio; the transcript
        starts with them and continues after them. `Priority.BACKGROUND` work (live
        hypotheses) may run on a separate worker so it never holds up urgent jobs."""
        ...


# --- LLM ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    parameters: dict[str, object]  # JSON schema


@dataclass(frozen=True)
class ToolCall:
    call_id: str
    name: str
    arguments: str  # JSON text


@dataclass(frozen=True)
class ImageInput:
    """An image a message shows (a Realtime `input_image` part)."""

    url: str  # https or data: URL
    detail: str = "auto"  # "auto" | "low" | "high": how closely the model should look


@dataclass(frozen=True)
class ChatMessage:
    role: Literal["system", "user", "assistant", "tool"]
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None  # for role == "tool"
    # Images the message shows; only for an LLM with `vision`.
    images: tuple[ImageInput, ...] = ()


@dataclass(frozen=True)
class ContextTruncation:
    """What to do with a conversation too long for the context (OpenAI's `truncation`).

    `auto`: drop the oldest turns (the LLM's own way). `disabled`: never drop; the LLM raises
    `ContextLengthExceededError`. `retention_ratio`: when the turns after the instructions
    outgrow `post_instructions_tokens` (or what the context leaves them), drop the oldest
    until only `retention_ratio` of that limit is used, so later turns keep the same start.
    """

    mode: Literal["auto", "disabled", "retention_ratio"] = "auto"
    retention_ratio: float = 1.0
    post_instructions_tokens: int | None = None


class ContextLengthExceededError(ValueError):
    """The conversation does not fit the context and truncation is disabled."""


@dataclass
class LLMRequest:
    messages: list[ChatMessage]
    tools: list[ToolSpec] = field(default_factory=list)
    # "auto" | "none" | "required", or the name of one function the model must call.
    tool_choice: str = "auto"
    max_tokens: int | None = None
    temperature: float | None = None
    # "minimal" | "low" | "medium" | "high": for an LLM with `reasoning_effort`.
    reasoning_effort: str | None = None
    truncation: ContextTruncation = ContextTruncation()
    # Whether the model may call several functions in one reply (None: the LLM's default).
    # An LLM that makes at most one call per reply honours False and True alike.
    parallel_tool_calls: bool | None = None


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ToolCallDelta:
    """A piece of a tool call's JSON arguments; the first delta of a call carries its name."""

    call_id: str
    name: str
    arguments_delta: str


@dataclass(frozen=True)
class TokenUsage:
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0


@dataclass(frozen=True)
class LLMDone:
    finish_reason: Literal["stop", "length", "tool_calls", "cancelled"]
    usage: TokenUsage


LLMEvent = TextDelta | ToolCallDelta | LLMDone


@dataclass(frozen=True)
class LLMCapabilities:
    streaming: bool
    tools: bool
    context_tokens: int
    # The most tokens a reply gets when the request sets no `max_tokens` (None: no cap of
    # the backend's own). Sessions show it as their `max_output_tokens` ("inf" = this).
    max_output_tokens: int | None = None
    vision: bool = False  # reads `ChatMessage.images`; otherwise images are refused
    reasoning_effort: bool = False  # acts on `LLMRequest.reasoning_effort`


@runtime_checkable
class LLM(Protocol):
    name: str  # model name reported to clients (e.g. the pipeline's `model` field)
    capabilities: LLMCapabilities

    def stream(
        self, request: LLMRequest, *, priority: Priority | Urgency = Priority.INTERACTIVE
    ) -> AsyncIterator[LLMEvent]:
        """Yield text/tool-call deltas, then exactly one `LLMDone`.

        Closing the iterator early (`aclose()`, or cancelling the consuming task) must stop
        generation promptly.
        """
        ...


@runtime_checkable
class PromptWarming(Protocol):
    """An LLM that can evaluate a prompt ahead of the request that will extend it.

    A hint: the user is still talking, and `request` is the reply's prompt with the words
    heard so far. A later request sharing its start evaluates only what differs. Doing
    nothing (a busy machine) is always correct.
    """

    async def warm(self, request: LLMRequest) -> None: ...


@runtime_checkable
class Calibrating(Protocol):
    """A backend that tunes itself to this machine on real speech at warm-up (which of
    its configurations is fastest here), before the first session."""

    async def calibrate(self, speech: FloatAudio) -> None: ...


@runtime_checkable
class ThreadCalibrating(Protocol):
    """A backend that times at warm-up whether its urgent jobs run faster with a second
    core on this CPU, and takes one for them only where they do."""

    async def calibrate_threads(self) -> None: ...


# --- TTS ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TTSCapabilities:
    streaming: bool
    sample_rate: int
    voices: tuple[str, ...]
    # `synthesize` takes `speed` (0.25-1.5, OpenAI's `audio.output.speed`); without it a
    # speed other than 1.0 is refused by the speaking path.
    speed: bool = False


@runtime_checkable
class TTS(Protocol):
    name: str
    capabilities: TTSCapabilities

    def synthesize(
        self,
        text: str,
        *,
        voice: str,
        priority: Priority = Priority.INTERACTIVE,
        speed: float = 1.0,
    ) -> AsyncIterator[AudioChunk]:
        """Yield audio for `text`, sentence by sentence, as soon as each is ready.

        An unknown voice raises `ValueError` before any audio. Closing the iterator early
        stops synthesis. `speed` (1.0 normal, 1.5 half again as fast) is honoured by a TTS
        whose capabilities say `speed`; callers pass another value only to such a TTS.
        """
        ...


# --- end of turn -------------------------------------------------------------------------


@dataclass(frozen=True)
class TurnModelCapabilities:
    sample_rate: int  # rate `end_of_turn` audio must be at
    max_seconds: float  # the model hears at most this much of the end of the turn


@runtime_checkable
class TurnModel(Protocol):
    """An end-of-turn model: has the speaker finished, judging by how the turn sounds?

    `semantic_vad` asks it when the user pauses; eagerness maps its probability to a
    silence window (`protocol.turn_detection`)."""

    name: str
    capabilities: TurnModelCapabilities

    async def end_of_turn(
        self, audio: FloatAudio, *, priority: Priority = Priority.FIRST_AUDIO
    ) -> float:
        """Probability (0…1) that the turn is complete, from its audio so far (mono
        float32 at `capabilities.sample_rate`, ending now; only the last `max_seconds`
        count). Runs off the event loop; cancelling a check that has not started drops it."""
        ...


@dataclass
class Engines:
    """The set of backends a process serves with, shared by every session."""

    vad: VAD
    stt: STT
    llm: LLM
    tts: TTS
    # semantic_vad's end-of-turn model; None: it judges by the transcript's last words.
    turn: TurnModel | None = None
    # How long turn transcripts take in this process: early drafts guess only where quick.
    transcript_pace: TranscriptPace = field(default_factory=TranscriptPace)

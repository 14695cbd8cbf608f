"""Strict models of the 11 client events, and the parser that turns text into one.

The SDK's own models are lenient (they suit a client). Here every event is a pydantic model
with `extra="forbid"` and strict types, and the union is discriminated on `type`, so a
wrong field type or an unknown field is a clean `invalid_request_error`, never a crash.
Fields mirror `openai.types.realtime.*` (GA). Every field parsed here either has its effect
or is refused by name after parsing (`protocol.refusals`); `docs/compatibility.md` says
which, and `tests/protocol/test_field_coverage.py` keeps the two in step with the SDK.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationError,
)


def _prompt_reference(value: dict[str, Any]) -> dict[str, Any]:
    """A stored-prompt reference is echoed back, so it must have the shape clients
    validate: `{id, variables?, version?}` with a string id."""
    if not isinstance(value.get("id"), str) or not value["id"]:
        raise ValueError("prompt.id must be a non-empty string")
    unknown = set(value) - {"id", "variables", "version"}
    if unknown:
        raise ValueError(f"unknown prompt field {sorted(unknown)[0]!r}")
    if value.get("variables") is not None and not isinstance(value["variables"], dict):
        raise ValueError("prompt.variables must be an object")
    if value.get("version") is not None and not isinstance(value["version"], str):
        raise ValueError("prompt.version must be a string")
    return value


PromptReference = Annotated[dict[str, Any], AfterValidator(_prompt_reference)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


# --- session configuration -----------------------------------------------------------


class AudioPCM(_Strict):
    type: Literal["audio/pcm"] = "audio/pcm"
    rate: Literal[24000] | None = None


class AudioPCMU(_Strict):
    type: Literal["audio/pcmu"]


class AudioPCMA(_Strict):
    type: Literal["audio/pcma"]


AudioFormat = Annotated[AudioPCM | AudioPCMU | AudioPCMA, Field(discriminator="type")]


class ServerVad(_Strict):
    type: Literal["server_vad"]
    threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    prefix_padding_ms: int | None = Field(default=None, ge=0, le=10_000)
    silence_duration_ms: int | None = Field(default=None, ge=0, le=10_000)
    create_response: bool | None = None
    interrupt_response: bool | None = None
    idle_timeout_ms: int | None = Field(default=None, ge=5_000, le=30_000)


class SemanticVad(_Strict):
    type: Literal["semantic_vad"]
    eagerness: Literal["low", "medium", "high", "auto"] | None = None
    create_response: bool | None = None
    interrupt_response: bool | None = None


TurnDetection = Annotated[ServerVad | SemanticVad, Field(discriminator="type")]


class Transcription(_Strict):
    model: str | None = None
    language: str | None = None
    languages: list[str] | None = None
    prompt: str | None = None
    keywords: list[str] | None = None
    delay: Literal["minimal", "low", "medium", "high", "xhigh"] | None = None


class NoiseReduction(_Strict):
    type: Literal["near_field", "far_field"] | None = None
    strength: float | None = None


class AudioInput(_Strict):
    format: AudioFormat | None = None
    transcription: Transcription | None = None
    turn_detection: TurnDetection | None = None
    noise_reduction: NoiseReduction | None = None


class VoiceId(_Strict):
    id: str


class AudioOutput(_Strict):
    format: AudioFormat | None = None
    voice: str | VoiceId | None = None
    speed: float | None = Field(default=None, ge=0.25, le=1.5)


class AudioConfig(_Strict):
    input: AudioInput | None = None
    output: AudioOutput | None = None


class FunctionTool(_Strict):
    type: Literal["function"] = "function"
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None


class McpToolFilter(_Strict):
    read_only: bool | None = None
    tool_names: list[str] | None = None


class McpApprovalFilter(_Strict):
    always: McpToolFilter | None = None
    never: McpToolFilter | None = None


class McpTool(_Strict):
    """A remote MCP server's tools (`realtime2.realtime.mcp`; docs/compatibility.md).
    `connector_id`, `tunnel_id`, `defer_loading` and `allowed_callers` are not declared,
    so they are refused by name."""

    type: Literal["mcp"]
    server_label: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    server_url: str = Field(min_length=1, max_length=2048)
    server_description: str | None = Field(default=None, max_length=1024)
    allowed_tools: list[str] | McpToolFilter | None = None
    require_approval: Literal["always", "never"] | McpApprovalFilter | None = None
    headers: dict[str, str] | None = None
    authorization: str | None = None


def _tool_kind(value: Any) -> str:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return "mcp" if kind == "mcp" else "function"


Tool = Annotated[
    Annotated[FunctionTool, Tag("function")] | Annotated[McpTool, Tag("mcp")],
    Discriminator(_tool_kind),
]


class ToolChoiceFunction(_Strict):
    type: Literal["function"]
    name: str


class ToolChoiceMcp(_Strict):
    type: Literal["mcp"]
    server_label: str
    name: str | None = None


ToolChoice = Literal["none", "auto", "required"] | ToolChoiceFunction | ToolChoiceMcp
MaxTokens = Annotated[int, Field(ge=1, le=4096)] | Literal["inf"]


class TokenLimits(_Strict):
    post_instructions: int | None = Field(default=None, ge=1)


class RetentionRatioTruncation(_Strict):
    type: Literal["retention_ratio"]
    retention_ratio: float = Field(ge=0.0, le=1.0)
    token_limits: TokenLimits | None = None


class RealtimeSessionConfig(_Strict):
    type: Literal["realtime"]
    model: str | None = None
    instructions: str | None = None
    output_modalities: list[Literal["text", "audio"]] | None = Field(default=None, min_length=1)
    audio: AudioConfig | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    max_output_tokens: MaxTokens | None = None
    include: list[Literal["item.input_audio_transcription.logprobs"]] | None = None
    parallel_tool_calls: bool | None = None
    # reasoning and tracing: default-sent hints (docs/compatibility.md); a stored prompt
    # is refused by name (protocol.refusals).
    reasoning: dict[str, Any] | None = None
    prompt: PromptReference | None = None
    tracing: Literal["auto"] | dict[str, Any] | None = None
    truncation: Literal["auto", "disabled"] | RetentionRatioTruncation | None = None


class TranscriptionAudio(_Strict):
    input: AudioInput | None = None


class TranscriptionSessionConfig(_Strict):
    type: Literal["transcription"]
    audio: TranscriptionAudio | None = None
    include: list[Literal["item.input_audio_transcription.logprobs"]] | None = None


SessionConfig = Annotated[
    RealtimeSessionConfig | TranscriptionSessionConfig, Field(discriminator="type")
]


# --- conversation items --------------------------------------------------------------


class ContentPart(_Strict):
    type: Literal["input_text", "input_audio", "input_image", "output_text", "output_audio"]
    text: str | None = None
    audio: str | None = None
    transcript: str | None = None
    image_url: str | None = None
    detail: Literal["auto", "low", "high"] | None = None


class _ItemBase(_Strict):
    id: str | None = Field(default=None, max_length=64)
    object: Literal["realtime.item"] | None = None
    status: Literal["completed", "incomplete", "in_progress"] | None = None


class MessageItem(_ItemBase):
    type: Literal["message"]
    role: Literal["system", "user", "assistant"]
    content: list[ContentPart]


class FunctionCallItem(_ItemBase):
    type: Literal["function_call"]
    name: str
    arguments: str
    call_id: str | None = None


class FunctionCallOutputItem(_ItemBase):
    type: Literal["function_call_output"]
    call_id: str
    output: str


class McpApprovalResponseItem(_ItemBase):
    type: Literal["mcp_approval_response"]
    approval_request_id: str = Field(max_length=64)
    approve: bool
    reason: str | None = None


class ItemReference(_Strict):
    type: Literal["item_reference"]
    id: str


Item = Annotated[
    MessageItem | FunctionCallItem | FunctionCallOutputItem | McpApprovalResponseItem,
    Field(discriminator="type"),
]
InputItem = Annotated[
    MessageItem
    | FunctionCallItem
    | FunctionCallOutputItem
    | McpApprovalResponseItem
    | ItemReference,
    Field(discriminator="type"),
]


class ResponseAudioOutput(_Strict):
    format: AudioFormat | None = None
    voice: str | VoiceId | None = None


class ResponseAudio(_Strict):
    output: ResponseAudioOutput | None = None


class ResponseConfig(_Strict):
    conversation: str | None = None  # "auto" | "none"
    input: list[InputItem] | None = None
    instructions: str | None = None
    output_modalities: list[Literal["text", "audio"]] | None = Field(default=None, min_length=1)
    audio: ResponseAudio | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    max_output_tokens: MaxTokens | None = None
    metadata: dict[str, str] | None = None
    parallel_tool_calls: bool | None = None
    reasoning: dict[str, Any] | None = None
    prompt: PromptReference | None = None


# --- the 11 events -------------------------------------------------------------------


class _Event(_Strict):
    event_id: str | None = None


class SessionUpdate(_Event):
    type: Literal["session.update"]
    session: SessionConfig


class InputAudioBufferAppend(_Event):
    type: Literal["input_audio_buffer.append"]
    audio: str


class InputAudioBufferCommit(_Event):
    type: Literal["input_audio_buffer.commit"]


class InputAudioBufferClear(_Event):
    type: Literal["input_audio_buffer.clear"]


class OutputAudioBufferClear(_Event):
    type: Literal["output_audio_buffer.clear"]


class ConversationItemCreate(_Event):
    type: Literal["conversation.item.create"]
    item: Item
    previous_item_id: str | None = None


class ConversationItemRetrieve(_Event):
    type: Literal["conversation.item.retrieve"]
    item_id: str


class ConversationItemTruncate(_Event):
    type: Literal["conversation.item.truncate"]
    item_id: str
    content_index: int = Field(ge=0)
    audio_end_ms: int = Field(ge=0)


class ConversationItemDelete(_Event):
    type: Literal["conversation.item.delete"]
    item_id: str


class ResponseCreate(_Event):
    type: Literal["response.create"]
    response: ResponseConfig | None = None


class ResponseCancel(_Event):
    type: Literal["response.cancel"]
    response_id: str | None = None


ClientEvent = Annotated[
    SessionUpdate
    | InputAudioBufferAppend
    | InputAudioBufferCommit
    | InputAudioBufferClear
    | OutputAudioBufferClear
    | ConversationItemCreate
    | ConversationItemRetrieve
    | ConversationItemTruncate
    | ConversationItemDelete
    | ResponseCreate
    | ResponseCancel,
    Field(discriminator="type"),
]

CLIENT_EVENT_TYPES = frozenset(
    {
        "session.update",
        "input_audio_buffer.append",
        "input_audio_buffer.commit",
        "input_audio_buffer.clear",
        "output_audio_buffer.clear",
        "conversation.item.create",
        "conversation.item.retrieve",
        "conversation.item.truncate",
        "conversation.item.delete",
        "response.create",
        "response.cancel",
    }
)

_ADAPTER: TypeAdapter[ClientEvent] = TypeAdapter(ClientEvent)


@dataclass(frozen=True)
class ParseError:
    """Why a client message was rejected; becomes an `error` server event."""

    code: str
    message: str
    param: str | None = None
    event_id: str | None = None


def parse_client_event(text: str | bytes) -> ClientEvent | ParseError:
    """Parse one WebSocket/data-channel message. Never raises on client input."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return ParseError("invalid_json", "The message is not valid JSON.")
    except RecursionError:
        return ParseError("invalid_json", "The message is nested too deeply.")
    if not isinstance(data, dict):
        return ParseError("invalid_json", "The message must be a JSON object.")
    raw_id = data.get("event_id")
    event_id = raw_id if isinstance(raw_id, str) else None
    kind = data.get("type")
    if not isinstance(kind, str):
        return ParseError("missing_required_parameter", "Missing 'type'.", "type", event_id)
    if kind not in CLIENT_EVENT_TYPES:
        # Echo at most a short prefix of an unknown type: it is client-controlled text.
        return ParseError(
            "invalid_value", f"Invalid value: '{kind[:64]}'. Unknown event type.", "type", event_id
        )
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as exc:
        return _validation_error(exc, event_id)


_UNION_TAGS = frozenset(
    {"realtime", "transcription", "audio/pcm", "audio/pcmu", "audio/pcma", "server_vad"}
    | {"semantic_vad", "message", "function_call", "function_call_output", "item_reference"}
    | {"str", "int", "float", "bool", "function", "mcp", "mcp_approval_response"}
)


def _is_union_tag(part: str) -> bool:
    return part in _UNION_TAGS or "[" in part or part[:1].isupper()


def _validation_error(exc: ValidationError, event_id: str | None) -> ParseError:
    first = exc.errors()[0]
    # Drop the union tags pydantic inserts into locations ("session.update", "realtime",
    # "str", "literal[...]", class names); real field names are lower snake case.
    loc = [str(p) for p in first["loc"][1:] if not (isinstance(p, str) and _is_union_tag(p))]
    param = ".".join(loc) or None
    kind = first["type"]
    if kind == "extra_forbidden":
        return ParseError("unknown_parameter", f"Unknown parameter: '{param}'.", param, event_id)
    if kind == "missing":
        return ParseError(
            "missing_required_parameter", f"Missing required parameter: '{param}'.", param, event_id
        )
    return ParseError(
        "invalid_value", f"Invalid value for '{param}': {first['msg']}.", param, event_id
    )

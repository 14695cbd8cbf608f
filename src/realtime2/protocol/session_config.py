"""The effective session configuration: defaults, `session.update` merging, validation.

The configuration is kept as the JSON session object clients see (so `session.created` and
`session.updated` are a copy of it) and read through typed accessors. An update is merged
into a copy and validated before it replaces the current one, so a rejected update leaves
the session exactly as it was.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Final, Literal

from realtime2.engine.interfaces import ContextTruncation, ToolSpec
from realtime2.engine.voices import DEFAULT_VOICE, VOICES, is_supported_voice
from realtime2.protocol import refusals
from realtime2.protocol.client_events import RealtimeSessionConfig, TranscriptionSessionConfig
from realtime2.protocol.mcp import McpState, redact
from realtime2.protocol.mcp import check_tools as check_mcp_tools
from realtime2.protocol.models import (
    DEFAULT_TRANSCRIPTION_MODEL,
    UnsupportedModelError,
    resolve_realtime_model,
    resolve_transcription_model,
)
from realtime2.protocol.server_events import ProtocolError

SessionType = Literal["realtime", "transcription"]
FormatType = Literal["audio/pcm", "audio/pcmu", "audio/pcma"]

DEFAULT_INSTRUCTIONS: Final = (
    "You are a helpful, friendly voice assistant. Keep your answers short and conversational."
)
# Fields where an explicit `null` in an update means "turn off"; for the others it is ignored.
_NULLABLE: Final = frozenset(
    {"turn_detection", "transcription", "noise_reduction", "tracing", "prompt", "include"}
    | {"reasoning"}
)

SERVER_VAD_DEFAULTS: Final[dict[str, Any]] = {
    "type": "server_vad",
    "threshold": 0.5,
    "prefix_padding_ms": 300,
    "silence_duration_ms": 500,
    "create_response": True,
    "interrupt_response": True,
    "idle_timeout_ms": None,
}
SEMANTIC_VAD_DEFAULTS: Final[dict[str, Any]] = {
    "type": "semantic_vad",
    "eagerness": "auto",
    "create_response": True,
    "interrupt_response": True,
}


def _pcm() -> dict[str, Any]:
    return {"type": "audio/pcm", "rate": 24000}


def default_session(
    kind: SessionType,
    *,
    model: str,
    session_id: str,
    expires_at: int,
    token_cap: int | None = None,
) -> dict[str, Any]:
    """The session before any update; `token_cap`: the LLM's own reply cap (shown as
    `max_output_tokens` instead of "inf", which would promise more than it gives)."""
    audio_input: dict[str, Any] = {
        "format": _pcm(),
        "transcription": None,
        "noise_reduction": None,
        "turn_detection": dict(SERVER_VAD_DEFAULTS),
    }
    if kind == "transcription":
        audio_input["transcription"] = {
            "model": DEFAULT_TRANSCRIPTION_MODEL,
            "language": None,
            "prompt": "",
        }
        return {
            "type": "transcription",
            "object": "realtime.transcription_session",
            "id": session_id,
            "expires_at": expires_at,
            "audio": {"input": audio_input},
            "include": None,
        }
    return {
        "type": "realtime",
        "object": "realtime.session",
        "id": session_id,
        "model": model,
        "expires_at": expires_at,
        "output_modalities": ["audio"],
        "instructions": DEFAULT_INSTRUCTIONS,
        "audio": {
            "input": audio_input,
            "output": {"format": _pcm(), "voice": DEFAULT_VOICE, "speed": 1.0},
        },
        "tools": [],
        "tool_choice": "auto",
        "max_output_tokens": token_cap or "inf",
        "tracing": None,
        "truncation": "auto",
        "prompt": None,
        "include": None,
    }


def _merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Deep merge; a patch object whose `type` differs from the base replaces it whole."""
    out = dict(base)
    for key, value in patch.items():
        if value is None and key not in _NULLABLE:
            continue
        current = out.get(key)
        if (
            isinstance(value, dict)
            and isinstance(current, dict)
            and value.get("type", current.get("type")) == current.get("type")
        ):
            out[key] = _merge(current, value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _fill_turn_detection(td: dict[str, Any] | None) -> dict[str, Any] | None:
    if td is None:
        return None
    defaults = SERVER_VAD_DEFAULTS if td["type"] == "server_vad" else SEMANTIC_VAD_DEFAULTS
    return {**defaults, **{k: v for k, v in td.items() if v is not None}}


@dataclass(frozen=True)
class VoiceChoice:
    requested: str
    engine_voice: str


def resolve_voice(name: str) -> VoiceChoice:
    """A voice the engine really has; any other name (OpenAI's `alloy`, `echo`…) is refused.

    Speaking an unknown name with some other voice would hide the substitution from the
    client; no client the suite drives sends one by default (openai-agents sends `ash`,
    livekit `marin`, pipecat none).
    """
    if is_supported_voice(name):
        return VoiceChoice(name, name)
    raise ProtocolError(
        "unsupported_voice",
        f"Unsupported voice '{name[:40]}'. Supported voices: {', '.join(VOICES)}.",
        param="voice",
    )


class SessionSettings:
    """The effective configuration of one session."""

    def __init__(self, data: dict[str, Any], *, token_cap: int | None = None) -> None:
        self.data = data
        # The LLM's reply cap: what "inf" gets, and what the session shows for it.
        self.token_cap = token_cap
        # Whether `max_output_tokens` is the client's own number (not "inf" or the cap).
        self.client_max_tokens = False
        # The MCP servers among the tools, and their listed tools (protocol.mcp).
        self.mcp = McpState()

    @property
    def kind(self) -> SessionType:
        return "transcription" if self.data["type"] == "transcription" else "realtime"

    def apply(
        self, update: RealtimeSessionConfig | TranscriptionSessionConfig, *, voice_locked: bool
    ) -> None:
        """Merge a `session.update`; raise `ProtocolError` and change nothing if invalid."""
        if update.type != self.kind:
            raise ProtocolError(
                "invalid_value",
                f"Cannot change the session type from '{self.kind}' to '{update.type}'.",
                param="session.type",
            )
        patch = update.model_dump(exclude_unset=True)
        client_max_tokens = self.client_max_tokens
        if isinstance(update, RealtimeSessionConfig) and update.max_output_tokens is not None:
            client_max_tokens = update.max_output_tokens != "inf"
            if not client_max_tokens and self.token_cap is not None:
                patch["max_output_tokens"] = self.token_cap
        if isinstance(update, RealtimeSessionConfig) and update.model is not None:
            self._check_model(update.model)
            patch.pop("model")
        merged = _merge(self.data, patch)
        audio_in = merged["audio"]["input"]
        audio_in["turn_detection"] = _fill_turn_detection(audio_in.get("turn_detection"))
        transcription = audio_in.get("transcription")
        if transcription is not None:
            try:
                transcription["model"] = resolve_transcription_model(transcription.get("model"))
            except UnsupportedModelError as exc:
                raise ProtocolError(
                    "unsupported_model", str(exc), param="session.audio.input.transcription.model"
                ) from exc
        refusals.check_transcription(transcription, "session.audio.input.transcription")
        if self.kind == "realtime":
            refusals.check_prompt(merged.get("prompt"), "session.prompt")
            for tool in merged.get("tools") or []:
                tool.setdefault("type", "function")
            check_mcp_tools(merged.get("tools") or [], "session.tools")
            self._check_output(merged, voice_locked=voice_locked)
        self.data = merged
        self.client_max_tokens = client_max_tokens

    def _check_model(self, name: str) -> None:
        """A model name must be one we serve; the session keeps the model it opened with.

        The connection's model (URL) fixes the tier and its billing for the whole session.
        A different tier named later is not an error: `openai-agents` sends its default
        `gpt-realtime` in every session.update whatever URL it connected to, and refusing
        it breaks such clients. session.updated reports the model actually in use.
        """
        try:
            resolve_realtime_model(name)
        except UnsupportedModelError as exc:
            raise ProtocolError("unsupported_model", str(exc), param="session.model") from exc

    def _check_output(self, merged: dict[str, Any], *, voice_locked: bool) -> None:
        output = merged["audio"]["output"]
        voice = output.get("voice")
        if isinstance(voice, dict):
            raise ProtocolError(
                "invalid_value", "Custom voices are not supported.", "session.audio.output.voice"
            )
        try:
            resolve_voice(str(voice))
        except ProtocolError as exc:
            exc.param = "session.audio.output.voice"
            raise
        if voice_locked and voice != self.data["audio"]["output"]["voice"]:
            raise ProtocolError(
                "cannot_update_voice",
                "Cannot update the voice after the assistant has produced audio.",
                param="session.audio.output.voice",
            )
        if len(merged["output_modalities"]) != 1:
            raise ProtocolError(
                "invalid_value",
                "output_modalities must be either ['audio'] or ['text'].",
                param="session.output_modalities",
            )

    # --- typed accessors ---------------------------------------------------------------

    def render(self) -> dict[str, Any]:
        rendered = copy.deepcopy(self.data)
        redact(rendered.get("tools") or [])
        return rendered

    @property
    def input_format(self) -> FormatType:
        fmt: FormatType = self.data["audio"]["input"]["format"]["type"]
        return fmt

    @property
    def output_format(self) -> FormatType:
        if self.kind != "realtime":
            return "audio/pcm"
        fmt: FormatType = self.data["audio"]["output"]["format"]["type"]
        return fmt

    @property
    def turn_detection(self) -> dict[str, Any] | None:
        td: dict[str, Any] | None = self.data["audio"]["input"]["turn_detection"]
        return td

    @property
    def noise_reduction(self) -> tuple[Literal["near_field", "far_field"], float] | None:
        """The input noise suppression in use and its strength (a config without a type:
        `near_field`; without a strength: 1)."""
        nr = self.data["audio"]["input"].get("noise_reduction")
        if nr is None:
            return None
        kind: Literal["near_field", "far_field"] = nr.get("type") or "near_field"
        strength = nr.get("strength")
        return kind, 1.0 if strength is None else float(strength)

    @property
    def logprobs(self) -> bool:
        """Transcription events carry token log-probabilities (`include`)."""
        return "item.input_audio_transcription.logprobs" in (self.data.get("include") or ())

    @property
    def transcription(self) -> dict[str, Any] | None:
        tr: dict[str, Any] | None = self.data["audio"]["input"]["transcription"]
        return tr

    @property
    def transcription_language(self) -> str | None:
        """The STT's language: `language`, or the one entry of `languages`."""
        return refusals.transcription_language(self.transcription or {})

    @property
    def transcription_prompt(self) -> str | None:
        """The STT's prompt: `prompt`, then `keywords` as a vocabulary hint."""
        return refusals.transcription_prompt(self.transcription or {})

    @property
    def voice(self) -> VoiceChoice:
        return resolve_voice(str(self.data["audio"]["output"]["voice"]))

    @property
    def speed(self) -> float:
        return float(self.data["audio"]["output"].get("speed") or 1.0)

    @property
    def instructions(self) -> str:
        return str(self.data.get("instructions") or "")

    @property
    def modality(self) -> Literal["audio", "text"]:
        return "text" if self.data.get("output_modalities") == ["text"] else "audio"

    @property
    def tools(self) -> list[dict[str, Any]]:
        tools: list[dict[str, Any]] = self.data.get("tools") or []
        return tools

    @property
    def tool_choice(self) -> Any:
        return self.data.get("tool_choice", "auto")

    @property
    def truncation(self) -> ContextTruncation:
        value = self.data.get("truncation") or "auto"
        if value == "disabled":
            return ContextTruncation("disabled")
        if isinstance(value, dict):
            limits = value.get("token_limits") or {}
            return ContextTruncation(
                "retention_ratio",
                retention_ratio=float(value["retention_ratio"]),
                post_instructions_tokens=limits.get("post_instructions"),
            )
        return ContextTruncation()

    @property
    def max_output_tokens(self) -> int | Literal["inf"]:
        value: int | Literal["inf"] = self.data.get("max_output_tokens", "inf")
        return value


def tool_specs(tools: list[dict[str, Any]]) -> list[ToolSpec]:
    return [
        ToolSpec(
            name=t["name"],
            description=t.get("description") or "",
            parameters=t.get("parameters") or {"type": "object", "properties": {}},
        )
        for t in tools
        if t.get("type", "function") == "function"
    ]


def tool_choice_name(choice: Any) -> str:
    """The LLMRequest form: "auto" | "none" | "required" | a function name.

    An MCP choice names a tool (or, without a name, asks for one of the server's tools:
    `protocol.requests` then offers only that server's)."""
    if isinstance(choice, dict):
        return str(choice.get("name") or "required")
    return str(choice or "auto")

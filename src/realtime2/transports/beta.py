"""The Realtime beta protocol (`OpenAI-Beta: realtime=v1`) as a mapping onto the GA one.

Older clients (`client.beta.realtime`, openai-realtime-api-beta, early livekit/pipecat
releases) speak the beta names and shapes. Rather than teach the session core two
dialects, the WebSocket transport translates at the edge: beta client events become GA
ones on the way in, GA server events become beta ones on the way out. What differs:

- event names: `response.output_audio.*` -> `response.audio.*`,
  `response.output_audio_transcript.*` -> `response.audio_transcript.*`,
  `response.output_text.*` -> `response.text.*`, `conversation.item.added` ->
  `conversation.item.created`; GA-only events (`conversation.item.done`,
  `input_audio_buffer.timeout_triggered`, …) have no beta counterpart and are dropped;
- the session object is flat in beta (`voice`, `input_audio_format: "pcm16"`,
  `input_audio_transcription`, `turn_detection`, `modalities`) where GA nests it under
  `audio.input` / `audio.output`;
- assistant content parts are `text`/`audio` in beta, `output_text`/`output_audio` in GA;
- `transcription_session.update` is the beta way to configure a transcription session;
  it is answered with `transcription_session.updated`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

BETA_SUBPROTOCOL: Final = "openai-beta.realtime-v1"

_SERVER_RENAMES: Final = {
    "response.output_audio.delta": "response.audio.delta",
    "response.output_audio.done": "response.audio.done",
    "response.output_audio_transcript.delta": "response.audio_transcript.delta",
    "response.output_audio_transcript.done": "response.audio_transcript.done",
    "response.output_text.delta": "response.text.delta",
    "response.output_text.done": "response.text.done",
    "conversation.item.added": "conversation.item.created",
}
# GA server events a beta client has no model for (pipecat raises on unknown events).
_SERVER_DROPPED: Final = frozenset(
    {
        "conversation.item.done",
        "conversation.item.input_audio_transcription.segment",
        "input_audio_buffer.timeout_triggered",
        "input_audio_buffer.dtmf_event_received",
        "output_audio_buffer.started",
        "output_audio_buffer.stopped",
        "output_audio_buffer.cleared",
    }
)
_BETA_FORMATS: Final = {"audio/pcm": "pcm16", "audio/pcmu": "g711_ulaw", "audio/pcma": "g711_alaw"}
_GA_FORMATS: Final = {beta: ga for ga, beta in _BETA_FORMATS.items()}
_GA_PART_TYPES: Final = {"text": "output_text", "audio": "output_audio"}
_BETA_PART_TYPES: Final = {ga: beta for beta, ga in _GA_PART_TYPES.items()}


def wants_beta(headers: Mapping[str, str], subprotocols: Sequence[str]) -> bool:
    """A client asks for the beta protocol by header or by subprotocol."""
    header = headers.get("openai-beta", "")
    return "realtime=v1" in header.replace(" ", "") or BETA_SUBPROTOCOL in subprotocols


class BetaMapper:
    """Per-connection translation state (which updates were beta transcription updates)."""

    def __init__(self) -> None:
        self._transcription_updates = 0

    # --- client -> server ----------------------------------------------------------------

    def client_to_ga(self, data: str | bytes) -> str | bytes:
        """A beta client frame as the GA frame the session understands.

        Frames that are not JSON objects pass through untouched, so the session's own
        error reporting (bad JSON, unknown event) still answers them.
        """
        try:
            message = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return data
        if not isinstance(message, dict):
            return data
        kind = message.get("type")
        if kind == "transcription_session.update":
            self._transcription_updates += 1
            message["type"] = "session.update"
            session = message.get("session")
            if isinstance(session, dict):
                message["session"] = {"type": "transcription", **_ga_input(session)}
        elif kind == "session.update" and isinstance(message.get("session"), dict):
            message["session"] = ga_session(message["session"])
        elif kind == "conversation.item.create" and isinstance(message.get("item"), dict):
            message["item"] = _ga_item(message["item"])
        elif kind == "response.create" and isinstance(message.get("response"), dict):
            message["response"] = _ga_response_params(message["response"])
        return json.dumps(message, separators=(",", ":"))

    # --- server -> client ----------------------------------------------------------------

    def server_to_beta(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """A GA server event as its beta form, or None when beta has no such event."""
        kind = event.get("type", "")
        if kind in _SERVER_DROPPED or kind.startswith(("mcp_list_tools.", "response.mcp_call")):
            return None
        out = dict(event)
        out["type"] = _SERVER_RENAMES.get(kind, kind)
        if kind in ("session.created", "session.updated") and isinstance(out.get("session"), dict):
            session = out["session"]
            if session.get("type") == "transcription":
                out["session"] = beta_transcription_session(session)
                if kind == "session.updated" and self._transcription_updates:
                    self._transcription_updates -= 1
                    out["type"] = "transcription_session.updated"
                    # The beta model requires `client_secret`; a server-side session has
                    # none, so it is an empty value with the session's expiry.
                    out["session"]["client_secret"] = {
                        "value": "",
                        "expires_at": session.get("expires_at") or 0,
                    }
            else:
                out["session"] = beta_session(session)
        if isinstance(out.get("item"), dict):
            out["item"] = _beta_item(out["item"])
        if isinstance(out.get("response"), dict):
            out["response"] = _beta_response(out["response"])
        if isinstance(out.get("part"), dict):
            out["part"] = _beta_part(out["part"])
        return out


# --- sessions --------------------------------------------------------------------------


def _beta_format(fmt: Any) -> str | None:
    if isinstance(fmt, dict):
        return _BETA_FORMATS.get(str(fmt.get("type")))
    return None


def _ga_format(fmt: Any) -> dict[str, Any] | None:
    if not isinstance(fmt, str) or fmt not in _GA_FORMATS:
        return None
    ga = _GA_FORMATS[fmt]
    return {"type": ga, "rate": 24000} if ga == "audio/pcm" else {"type": ga}


def beta_session(session: dict[str, Any]) -> dict[str, Any]:
    """A GA realtime session object, flattened to the beta shape."""
    audio = session.get("audio") or {}
    audio_in, audio_out = audio.get("input") or {}, audio.get("output") or {}
    modalities = session.get("output_modalities") or ["audio"]
    out: dict[str, Any] = {
        "id": session.get("id"),
        "object": "realtime.session",
        "model": session.get("model"),
        "expires_at": session.get("expires_at"),
        # Beta's audio modality always came with its transcript text.
        "modalities": ["text"] if modalities == ["text"] else ["audio", "text"],
        "instructions": session.get("instructions"),
        "voice": audio_out.get("voice"),
        "speed": audio_out.get("speed"),
        "input_audio_format": _beta_format(audio_in.get("format")) or "pcm16",
        "output_audio_format": _beta_format(audio_out.get("format")) or "pcm16",
        "input_audio_transcription": audio_in.get("transcription"),
        "input_audio_noise_reduction": audio_in.get("noise_reduction"),
        "turn_detection": _beta_turn_detection(audio_in.get("turn_detection")),
        "tools": session.get("tools") or [],
        "tool_choice": session.get("tool_choice") or "auto",
        "max_response_output_tokens": session.get("max_output_tokens", "inf"),
        "tracing": session.get("tracing"),
    }
    return {k: v for k, v in out.items() if v is not None or k in _NULLABLE}


_NULLABLE: Final = frozenset(
    {"input_audio_transcription", "input_audio_noise_reduction", "turn_detection", "tracing"}
)


def _beta_turn_detection(turn: Any) -> Any:
    if not isinstance(turn, dict):
        return turn
    # `idle_timeout_ms` is GA-only.
    return {k: v for k, v in turn.items() if k != "idle_timeout_ms"}


def beta_transcription_session(session: dict[str, Any]) -> dict[str, Any]:
    audio_in = (session.get("audio") or {}).get("input") or {}
    transcription = audio_in.get("transcription")
    return {
        "id": session.get("id"),
        "object": "realtime.transcription_session",
        "expires_at": session.get("expires_at"),
        "modalities": ["text"],
        "input_audio_format": _beta_format(audio_in.get("format")) or "pcm16",
        "input_audio_transcription": (
            {k: v for k, v in transcription.items() if v not in (None, "")}
            if isinstance(transcription, dict)
            else None
        ),
        "turn_detection": _transcription_turn_detection(audio_in.get("turn_detection")),
    }


def _transcription_turn_detection(turn: Any) -> Any:
    """Beta transcription sessions never create responses: only the VAD fields apply."""
    if not isinstance(turn, dict):
        return turn
    keep = ("type", "threshold", "prefix_padding_ms", "silence_duration_ms")
    return {k: v for k, v in turn.items() if k in keep}


def _ga_input(session: dict[str, Any]) -> dict[str, Any]:
    """The audio-input half of a beta session (shared by both update kinds)."""
    audio_in: dict[str, Any] = {}
    if (fmt := _ga_format(session.get("input_audio_format"))) is not None:
        audio_in["format"] = fmt
    for beta_key, ga_key in (
        ("input_audio_transcription", "transcription"),
        ("input_audio_noise_reduction", "noise_reduction"),
        ("turn_detection", "turn_detection"),
    ):
        if beta_key in session:
            audio_in[ga_key] = session[beta_key]
    out: dict[str, Any] = {"audio": {"input": audio_in}} if audio_in else {}
    if "include" in session:
        out["include"] = session["include"]
    return out


def ga_session(session: dict[str, Any]) -> dict[str, Any]:
    """A beta `session.update` session as the GA realtime session update."""
    if session.get("type") in ("realtime", "transcription"):
        return session  # already GA: a client mixing dialects
    out: dict[str, Any] = {"type": "realtime", **_ga_input(session)}
    audio_out: dict[str, Any] = {}
    if (fmt := _ga_format(session.get("output_audio_format"))) is not None:
        audio_out["format"] = fmt
    for key in ("voice", "speed"):
        if key in session:
            audio_out[key] = session[key]
    if audio_out:
        out.setdefault("audio", {})["output"] = audio_out
    if isinstance(session.get("modalities"), list):
        out["output_modalities"] = _ga_modalities(session["modalities"])
    if "max_response_output_tokens" in session:
        out["max_output_tokens"] = session["max_response_output_tokens"]
    for key in ("instructions", "tools", "tool_choice", "tracing", "model"):
        if key in session:
            out[key] = session[key]
    # `temperature` has no GA counterpart; the engine's own setting applies.
    return out


def _ga_modalities(modalities: list[Any]) -> list[str]:
    # GA has one output modality: audio (with its transcript) or text.
    return ["audio"] if "audio" in modalities else ["text"]


# --- items and responses ---------------------------------------------------------------


def _ga_item(item: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in item.items() if k != "object"}
    content = out.get("content")
    if isinstance(content, list) and out.get("role") == "assistant":
        out["content"] = [_ga_part(part) if isinstance(part, dict) else part for part in content]
    return out


def _ga_part(part: dict[str, Any]) -> dict[str, Any]:
    kind = part.get("type")
    return {**part, "type": _GA_PART_TYPES.get(kind, kind)} if isinstance(kind, str) else part


def _beta_part(part: dict[str, Any]) -> dict[str, Any]:
    kind = part.get("type")
    return {**part, "type": _BETA_PART_TYPES.get(kind, kind)} if isinstance(kind, str) else part


def _beta_item(item: dict[str, Any]) -> dict[str, Any]:
    content = item.get("content")
    if not isinstance(content, list):
        return item
    return {
        **item,
        "content": [_beta_part(part) if isinstance(part, dict) else part for part in content],
    }


def _ga_response_params(response: dict[str, Any]) -> dict[str, Any]:
    out = {
        k: v
        for k, v in response.items()
        if k
        not in (
            "modalities",
            "voice",
            "output_audio_format",
            "max_response_output_tokens",
            "temperature",
        )
    }
    if isinstance(response.get("modalities"), list):
        out["output_modalities"] = _ga_modalities(response["modalities"])
    audio_out: dict[str, Any] = {}
    if "voice" in response:
        audio_out["voice"] = response["voice"]
    if (fmt := _ga_format(response.get("output_audio_format"))) is not None:
        audio_out["format"] = fmt
    if audio_out:
        out["audio"] = {"output": audio_out}
    if "max_response_output_tokens" in response:
        out["max_output_tokens"] = response["max_response_output_tokens"]
    if isinstance(out.get("input"), list):
        out["input"] = [_ga_item(i) if isinstance(i, dict) else i for i in out["input"]]
    return out


def _beta_response(response: dict[str, Any]) -> dict[str, Any]:
    out = {
        k: v
        for k, v in response.items()
        if k not in ("output_modalities", "audio", "conversation_id")
    }
    modalities = response.get("output_modalities")
    if isinstance(modalities, list):
        out["modalities"] = ["text"] if modalities == ["text"] else ["audio", "text"]
    audio_out = (response.get("audio") or {}).get("output") or {}
    if audio_out.get("voice") is not None:
        out["voice"] = audio_out["voice"]
    if (fmt := _beta_format(audio_out.get("format"))) is not None:
        out["output_audio_format"] = fmt
    if isinstance(response.get("conversation_id"), str):
        out["conversation_id"] = response["conversation_id"]
    if isinstance(out.get("output"), list):
        out["output"] = [_beta_item(i) if isinstance(i, dict) else i for i in out["output"]]
    if isinstance(out.get("usage"), dict):
        out["usage"] = _beta_usage(out["usage"])
    return out


def _beta_usage(usage: dict[str, Any]) -> dict[str, Any]:
    """Beta usage has no image tokens nor cached-token breakdown."""
    details = usage.get("input_token_details")
    if not isinstance(details, dict):
        return usage
    kept = {
        k: v for k, v in details.items() if k in ("audio_tokens", "cached_tokens", "text_tokens")
    }
    return {**usage, "input_token_details": kept}

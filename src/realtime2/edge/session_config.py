"""Session configuration sent over HTTP (call creation, client secrets), checked up front.

The same rules as a `session.update` on the wire apply (the protocol core's parser and
`SessionSettings.apply`), but a bad config is answered with HTTP 400 before any work
instead of an `error` event on a session that already exists.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from openai.types.realtime import (
    RealtimeSessionCreateRequest,
    RealtimeTranscriptionSessionCreateRequest,
)
from pydantic import BaseModel, ValidationError

from realtime2.accounts.pricing import TRANSLATION
from realtime2.errors import ApiError
from realtime2.protocol import client_events as ce
from realtime2.protocol.models import (
    DEFAULT_MODEL,
    UnsupportedModelError,
    resolve_realtime_model,
    resolve_transcription_model,
)
from realtime2.protocol.server_events import ProtocolError
from realtime2.protocol.session_config import SessionSettings, SessionType, default_session
from realtime2.translation.models import resolve_translation_model
from realtime2.translation.session import SessionUpdate as TranslationUpdate

SESSION_SECONDS = 60 * 60


@dataclass(frozen=True)
class CheckedSession:
    kind: SessionType
    model: str | None  # the realtime model the config names, if any
    config: dict[str, Any]  # as sent, with `type` filled in
    rendered: dict[str, Any]  # the effective session object (OpenAI's shape)

    def update_event(self) -> str:
        """The `session.update` a runner applies before its first turn."""
        return json.dumps({"type": "session.update", "session": self.config})


def check_session(config: Any, *, param: str = "session", upstream: bool = False) -> CheckedSession:
    """Validate a session object; raise ApiError 400 naming the offending field.

    `upstream`: the gateway relays this session, so what the upstream serves decides: the
    config must fit the SDK's own session types (OpenAI's API), not the embedded engine's
    narrower rules (`tools` of type `mcp`, say, which only the upstream runs)."""
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise ApiError(400, "invalid_value", f"'{param}' must be a JSON object.", param=param)
    config = {"type": "realtime", **config}
    if upstream:
        return _check_for_upstream(config, param)
    parsed = ce.parse_client_event(json.dumps({"type": "session.update", "session": config}))
    if isinstance(parsed, ce.ParseError):
        raise ApiError(400, parsed.code, parsed.message, param=_param(param, parsed.param))
    assert isinstance(parsed, ce.SessionUpdate)
    kind: SessionType = "transcription" if config["type"] == "transcription" else "realtime"
    model = config.get("model") if kind == "realtime" else None
    if model is not None:
        try:
            resolve_realtime_model(model)
        except UnsupportedModelError as exc:
            raise ApiError(400, "unsupported_model", str(exc), param=f"{param}.model") from None
    settings = SessionSettings(
        default_session(
            kind,
            model=model or DEFAULT_MODEL,
            session_id=f"sess_{secrets.token_hex(10)}",
            expires_at=int(time.time()) + SESSION_SECONDS,
        )
    )
    try:
        settings.apply(parsed.session, voice_locked=False)
    except ProtocolError as exc:
        raise ApiError(400, exc.code, exc.message, param=_param(param, exc.param)) from None
    return CheckedSession(kind, model, config, settings.render())


def _check_for_upstream(config: dict[str, Any], param: str) -> CheckedSession:
    kind: SessionType = "transcription" if config["type"] == "transcription" else "realtime"
    schema: type[BaseModel] = (
        RealtimeTranscriptionSessionCreateRequest
        if kind == "transcription"
        else RealtimeSessionCreateRequest
    )
    try:
        schema.model_validate(config)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"] if _is_field(p))
        raise ApiError(400, "invalid_value", first["msg"], param=f"{param}.{where}") from None
    model = config.get("model") if kind == "realtime" else None
    if model is not None:
        try:
            resolve_realtime_model(model)  # our names: the gateway maps them to theirs
        except UnsupportedModelError as exc:
            raise ApiError(400, "unsupported_model", str(exc), param=f"{param}.model") from None
    return CheckedSession(kind, model, config, dict(config))


_TYPE_TAGS = frozenset({"int", "str", "float", "bool", "dict", "list", "none"})


def _is_field(part: str | int) -> bool:
    """A path part of a validation error that names a field or index (pydantic also puts
    the union member it tried there: `RealtimeFunctionTool`, `int`, `literal['inf']`)."""
    if isinstance(part, int):
        return True
    return part.isidentifier() and part.islower() and part not in _TYPE_TAGS


def check_translation_session(config: Any, *, param: str = "session") -> dict[str, Any]:
    """A translation session config (`POST /v1/realtime/translations/client_secrets`),
    checked by the rules a translation `session.update` follows; returns it with `type`
    and the resolved `model` filled in. The output language is checked when a socket
    opens with it (the voices available then decide)."""
    if not isinstance(config, dict):
        raise ApiError(400, "invalid_value", f"'{param}' must be a JSON object.", param=param)
    try:
        update = TranslationUpdate.model_validate(config)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ApiError(400, "invalid_value", first["msg"], param=f"{param}.{where}") from None
    try:
        model = resolve_translation_model(update.model)
    except UnsupportedModelError as exc:
        raise ApiError(400, "unsupported_model", str(exc), param=f"{param}.model") from None
    audio_in = update.audio.input if update.audio is not None else None
    if audio_in is not None and audio_in.transcription is not None:
        try:
            resolve_transcription_model(audio_in.transcription.model)
        except UnsupportedModelError as exc:
            where = f"{param}.audio.input.transcription.model"
            raise ApiError(400, "unsupported_model", str(exc), param=where) from None
    return {**config, "type": "translation", "model": model}


def _param(prefix: str, inner: str | None) -> str:
    if not inner:
        return prefix
    inner = inner.removeprefix("session.").removeprefix("session")
    return f"{prefix}.{inner}" if inner else prefix


def bound_model(config: dict[str, Any] | None) -> str | None:
    """The realtime model a client secret's session config names, if any."""
    if config is None or config.get("type", "realtime") != "realtime":
        return None
    model = config.get("model")
    return model if isinstance(model, str) and model else None


def check_bound_model(config: dict[str, Any] | None, tier: str, *, param: str) -> None:
    """A client secret minted for one model opens sessions of that model only (403), and
    one minted for translation opens translation sessions only (and the other way round)."""
    if config is None:  # an API key, a login, or a secret minted without a session
        return
    translation = config.get("type") == "translation"
    if translation != (tier == TRANSLATION):
        minted = "translation" if translation else "realtime"
        raise ApiError(
            403,
            "model_not_allowed",
            f"This client secret was minted for {minted} sessions and cannot open "
            f"a '{tier}' session.",
            param=param,
        )
    model = bound_model(config)
    if model is None:
        return
    try:
        bound = resolve_realtime_model(model)
    except UnsupportedModelError:
        bound = None  # checked when minted; a model since withdrawn opens nothing
    if bound != tier:
        raise ApiError(
            403,
            "model_not_allowed",
            f"This client secret was minted for the model '{model[:64]}' and cannot open "
            f"a '{tier}' session.",
            param=param,
        )

"""WebRTC call endpoints.

- `POST /v1/realtime/calls` as OpenAI serves it: raw `application/sdp` body, or
  `multipart/form-data` with `sdp` and `session` (JSON) parts; 201 with the SDP answer and
  `Location: /v1/realtime/calls/{call_id}`.
- `POST /v1/realtime/calls/{call_id}/hangup`: owner only; a call on another replica is
  hung up there, over the call bus (`calls.bus`).
- `POST /api/realtime2/session`: the seed's flow, JSON `{model, voice, instructions, sdp}`
  → the SDP answer as text, the call id in `x-openai-call-id`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Mapping
from typing import Any, Final

from fastapi import APIRouter, Request, Response
from starlette.datastructures import UploadFile

from realtime2.calls.base import Call
from realtime2.calls.bus import Handler
from realtime2.calls.lookup import find_call
from realtime2.calls.open import CallRequest, invalid_sdp, principal_sessions
from realtime2.calls.records import CallRecord
from realtime2.edge.sdp import MAX_SDP_BYTES
from realtime2.edge.session_config import (
    CheckedSession,
    bound_model,
    check_bound_model,
    check_session,
)
from realtime2.engine.voices import DEFAULT_VOICE, is_supported_voice
from realtime2.errors import ApiError, invalid_request
from realtime2.gateway.call_open import open_upstream_call
from realtime2.gateway.session import gateway_of, relays
from realtime2.http.auth import RealtimePrincipal
from realtime2.http.call_commands import run_or_forward
from realtime2.http.json_body import read_json_object
from realtime2.http.pipeline import unsupported_voice
from realtime2.protocol.models import (
    MINI,
    PRO,
    Tier,
    UnsupportedModelError,
    resolve_realtime_model,
)
from realtime2.transports.webrtc.open import open_call

router = APIRouter(tags=["webrtc"])

SDP_MEDIA_TYPE: Final = "application/sdp"
MAX_BODY_BYTES: Final = MAX_SDP_BYTES + 256 * 1024
MAX_INSTRUCTIONS_CHARS: Final = 16_000
HANGUP_WAIT_SECONDS: Final = 10.0


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def _limited_body(request: Request) -> bytes:
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise ApiError(413, "request_too_large", "The request body is too large.")
    return body


def _decode_sdp(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise invalid_sdp("The SDP offer is not UTF-8 text.") from None


async def _form_text(value: str | UploadFile | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raw = await value.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(413, "request_too_large", "A form part is too large.")
    return _decode_sdp(raw)


async def _read_call_body(request: Request) -> tuple[str | None, Any]:
    """(sdp, session JSON or None) from either body form."""
    media_type = _media_type(request)
    if media_type == SDP_MEDIA_TYPE:
        return _decode_sdp(await _limited_body(request)), None
    if media_type == "multipart/form-data":
        if int(request.headers.get("content-length") or 0) > MAX_BODY_BYTES:
            raise ApiError(413, "request_too_large", "The request body is too large.")
        form = await request.form(max_files=4, max_fields=8)
        sdp = await _form_text(form.get("sdp"))
        session_text = await _form_text(form.get("session"))
        if session_text is None:
            return sdp, None
        try:
            return sdp, json.loads(session_text)
        except json.JSONDecodeError:
            raise ApiError(
                400, "invalid_json", "The 'session' part is not valid JSON.", param="session"
            ) from None
    raise ApiError(
        415,
        "unsupported_media_type",
        "Send the SDP offer as application/sdp, or multipart/form-data with 'sdp' and "
        "'session' parts.",
    )


def _call_tier(sessions: list[CheckedSession], query_model: str | None) -> tuple[str, Tier]:
    """(client model name, tier): the last session config naming a model wins."""
    named = [s.model for s in sessions if s.model]
    model = named[-1] if named else query_model
    try:
        return model or PRO, resolve_realtime_model(model)
    except UnsupportedModelError as exc:
        raise ApiError(400, "unsupported_model", str(exc), param="session.model") from None


async def _open(
    request: Request, principal: RealtimePrincipal, spec: CallRequest
) -> tuple[Call, str]:
    """Start the call upstream when gateway mode maps its tier, else on the engine;
    returns the call and the SDP answer."""
    check_bound_model(principal.session_config, spec.tier, param="model")
    gateway = gateway_of(request)
    their_model = gateway.their_model(spec.tier) if gateway is not None else None
    if gateway is not None and their_model is not None:
        return await open_upstream_call(request, principal, spec, gateway, their_model)
    return await open_call(request, principal, spec)


@router.post("/v1/realtime/calls", status_code=201)
async def create_call(request: Request, principal: RealtimePrincipal) -> Response:
    sdp, session = await _read_call_body(request)
    # The model the call will have (as `_call_tier` picks it) decides whose rules apply:
    # a call the gateway relays is checked against what the upstream serves.
    named = session.get("model") if isinstance(session, dict) else None
    model_name = named or bound_model(principal.session_config) or request.query_params.get("model")
    upstream = relays(request, model_name if isinstance(model_name, str) else None)
    sessions = principal_sessions(principal, upstream=upstream)
    if session is not None:
        sessions.append(check_session(session, upstream=upstream))
    model, tier = _call_tier(sessions, request.query_params.get("model"))
    call, answer = await _open(request, principal, CallRequest(sdp, tier, model, sessions))
    return Response(
        answer,
        status_code=201,
        media_type=SDP_MEDIA_TYPE,
        headers={"Location": f"/v1/realtime/calls/{call.id}"},
    )


@router.post("/v1/realtime/calls/{call_id}/hangup")
async def hangup_call(call_id: str, request: Request, principal: RealtimePrincipal) -> Response:
    found = await find_call(request, principal, call_id)
    # A record alone means the call has already ended: nothing to hang up.
    if not isinstance(found, CallRecord):
        # Here (embedded or relayed upstream), or on the replica that runs it; the owner
        # waits up to HANGUP_WAIT_SECONDS for the call to settle, so the asker waits longer.
        await run_or_forward(found, "hangup", {}, here=hangup_here, within=HANGUP_WAIT_SECONDS + 5)
    return Response(status_code=200)


async def hangup_here(call: Call, args: Mapping[str, Any]) -> dict[str, Any]:
    """End a call this replica runs and wait (a while) for it to settle."""
    call.hang_up("hangup")
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(call.wait_ended(), HANGUP_WAIT_SECONDS)
    return {}


CALL_COMMANDS: dict[str, Handler] = {"hangup": hangup_here}


async def json_object_body(request: Request) -> dict[str, Any]:
    """A JSON object body of a call route (an empty body is refused: these routes take
    required fields or an explicit session configuration)."""
    return await read_json_object(request, max_bytes=MAX_BODY_BYTES, empty_is_object=False)


@router.post("/api/realtime2/session")
async def seed_session(request: Request, principal: RealtimePrincipal) -> Response:
    body = await json_object_body(request)
    model = body.get("model")
    if model not in (MINI, PRO):
        shown = model[:40] if isinstance(model, str) else model
        raise ApiError(
            400,
            "unsupported_model",
            f"The model '{shown}' is not supported by this endpoint; use '{MINI}' or '{PRO}'.",
            param="model",
        )
    voice = body.get("voice") or DEFAULT_VOICE
    if not isinstance(voice, str) or not is_supported_voice(voice):
        raise unsupported_voice(str(voice))
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise invalid_request("'instructions' must be a string.", param="instructions")
    if instructions and len(instructions) > MAX_INSTRUCTIONS_CHARS:
        raise invalid_request(
            f"'instructions' is longer than {MAX_INSTRUCTIONS_CHARS} characters.",
            param="instructions",
        )
    sdp = body.get("sdp")
    if sdp is not None and not isinstance(sdp, str):
        raise invalid_sdp("'sdp' must be a string.")
    config: dict[str, Any] = {"type": "realtime", "audio": {"output": {"voice": voice}}}
    if instructions:
        config["instructions"] = instructions
    sessions = [*principal_sessions(principal), check_session(config)]
    call, answer = await _open(request, principal, CallRequest(sdp, model, model, sessions))
    return Response(answer, media_type=SDP_MEDIA_TYPE, headers={"x-openai-call-id": call.id})

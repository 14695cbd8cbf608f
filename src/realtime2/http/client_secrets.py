"""`POST /v1/realtime/client_secrets` and `POST /v1/realtime/translations/client_secrets`:
mint a short-lived `ek_…` secret for a browser.

Shape as OpenAI's: `{session?, expires_after?: {anchor: "created_at", seconds}}` →
`{value, expires_at, session}`. Only a real API key or a dashboard login may mint one
(a client secret cannot mint more). A translation secret (its `session` is required, as
in OpenAI's API) is bound to translation: it opens `/v1/realtime/translations` sockets of
its model only, and a realtime secret opens none (`edge.session_config.check_bound_model`).
"""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Request

from realtime2.accounts.client_secrets import (
    DEFAULT_TTL_SECONDS,
    MAX_TTL_SECONDS,
    MIN_TTL_SECONDS,
    ClientSecrets,
)
from realtime2.edge.session_config import check_session, check_translation_session
from realtime2.errors import ApiError
from realtime2.gateway.session import relays
from realtime2.http.auth import CurrentPrincipal
from realtime2.http.json_body import read_json_object
from realtime2.state import services_of

router = APIRouter(tags=["webrtc"])
MAX_BODY_BYTES = 256 * 1024
_FIELDS = frozenset({"session", "expires_after"})


def _ttl(expires_after: Any) -> int:
    if expires_after is None:
        return DEFAULT_TTL_SECONDS
    if not isinstance(expires_after, dict):
        raise ApiError(
            400, "invalid_value", "'expires_after' must be an object.", param="expires_after"
        )
    anchor = expires_after.get("anchor", "created_at")
    if anchor != "created_at":
        raise ApiError(
            400,
            "invalid_value",
            "expires_after.anchor must be 'created_at'.",
            param="expires_after.anchor",
        )
    seconds = expires_after.get("seconds", DEFAULT_TTL_SECONDS)
    if (
        not isinstance(seconds, int)
        or isinstance(seconds, bool)
        or not MIN_TTL_SECONDS <= seconds <= MAX_TTL_SECONDS
    ):
        raise ApiError(
            400,
            "invalid_value",
            f"expires_after.seconds must be an integer from {MIN_TTL_SECONDS} to "
            f"{MAX_TTL_SECONDS}.",
            param="expires_after.seconds",
        )
    return seconds


async def _body(request: Request) -> dict[str, Any]:
    return await read_json_object(request, max_bytes=MAX_BODY_BYTES, fields=_FIELDS)


@router.post("/v1/realtime/client_secrets")
async def create_client_secret(request: Request, principal: CurrentPrincipal) -> dict[str, Any]:
    body = await _body(request)
    ttl = _ttl(body.get("expires_after"))
    session = body.get("session")
    named = session.get("model") if isinstance(session, dict) else None
    checked = check_session(
        session, upstream=relays(request, named if isinstance(named, str) else None)
    )
    services = services_of(request)
    minted = await ClientSecrets(services.db, services.keys.hash).create(
        principal.user_id,
        api_key_id=principal.key_id,
        session=checked.config if session is not None else None,
        ttl_seconds=ttl,
    )
    return {
        "value": minted.value,
        "expires_at": int(minted.expires_at.timestamp()),
        "session": checked.rendered,
    }


@router.post("/v1/realtime/translations/client_secrets")
async def create_translation_client_secret(
    request: Request, principal: CurrentPrincipal
) -> dict[str, Any]:
    body = await _body(request)
    ttl = _ttl(body.get("expires_after"))
    if body.get("session") is None:
        raise ApiError(
            400,
            "missing_required_parameter",
            "Missing required parameter: 'session'.",
            param="session",
        )
    config = check_translation_session(body["session"])
    services = services_of(request)
    minted = await ClientSecrets(services.db, services.keys.hash).create(
        principal.user_id, api_key_id=principal.key_id, session=config, ttl_seconds=ttl
    )
    expires_at = int(minted.expires_at.timestamp())
    audio = config.get("audio") or {}
    audio_in = audio.get("input") or {}
    session = {
        "id": f"sess_{secrets.token_hex(10)}",
        "type": "translation",
        "model": config["model"],
        "expires_at": expires_at,
        "audio": {
            "input": {
                "transcription": audio_in.get("transcription"),
                "noise_reduction": audio_in.get("noise_reduction"),
            },
            "output": {"language": (audio.get("output") or {}).get("language")},
        },
    }
    return {"value": minted.value, "expires_at": expires_at, "session": session}

"""The Playground page: talk to a realtime model from the browser over WebRTC.

The page never holds an API key. Its script asks `POST /playground/secret` (login cookie
plus the session's CSRF token in `x-csrf-token`) for a short-lived `ek_…` client secret,
then follows the seed's own flow with it: SDP offer → `POST /api/realtime2/session` →
answer, events on the `oai-events` data channel, `POST /v1/realtime/calls/{id}/hangup`
and `POST /api/realtime2/charge`. The balance comes from `GET /api/realtime2/me`, which
the login cookie already authenticates.
"""

from __future__ import annotations

from typing import Any, Final

from fastapi import APIRouter, Request
from starlette.responses import Response

from realtime2.accounts.client_secrets import ClientSecrets
from realtime2.edge import ratelimit
from realtime2.edge.auth import unauthorized
from realtime2.edge.session_config import check_session
from realtime2.engine.voices import DEFAULT_VOICE, VOICES
from realtime2.errors import ApiError
from realtime2.http.auth import CSRF_HEADER
from realtime2.http.dashboard_web import (
    PageRoute,
    current_login,
    login_redirect,
    render,
    tokens_match,
)
from realtime2.protocol.models import MINI, PRO
from realtime2.state import services_of

router = APIRouter(route_class=PageRoute, include_in_schema=False)

# Long enough to open a call and charge it after a normal conversation; the page mints a
# fresh one whenever the one it holds is about to expire.
SECRET_TTL_SECONDS: Final = 600
MODELS: Final = ((MINI, "GPT Realtime Mini"), (PRO, "GPT Realtime 2"))
# Bound to every call the secret opens: the page shows what the user said, so input
# transcription is always on.
PLAYGROUND_SESSION: Final[dict[str, Any]] = {
    "type": "realtime",
    "audio": {"input": {"transcription": {"model": "whisper-1"}}},
}


@router.get("/playground")
async def playground(request: Request) -> Response:
    login = await current_login(request)
    if login is None:
        return login_redirect(request)
    balance = await services_of(request).ledger.balance(login.user_id)
    context = {
        "active": "playground",
        "balance": balance,
        "models": MODELS,
        "voices": VOICES,
        "default_voice": DEFAULT_VOICE,
    }
    return render(request, "playground.html", context, login=login)


@router.post("/playground/secret")
async def playground_secret(request: Request) -> dict[str, Any]:
    """A short-lived client secret for the logged-in user; same-origin pages only."""
    login = await current_login(request)
    if login is None:
        raise unauthorized()
    if not tokens_match(login.csrf_token, request.headers.get(CSRF_HEADER, "")):
        raise ApiError(403, "csrf_failed", "Missing or wrong CSRF token.")
    await ratelimit.enforce(request, login.user_id)
    services = services_of(request)
    minted = await ClientSecrets(services.db, services.keys.hash).create(
        login.user_id,
        api_key_id=None,
        session=check_session(PLAYGROUND_SESSION).config,
        ttl_seconds=SECRET_TTL_SECONDS,
    )
    return {"value": minted.value, "expires_at": int(minted.expires_at.timestamp())}

"""Request authentication: an API key (`Authorization: Bearer`, `x-api-key`, or for
browser WebSockets the `openai-insecure-api-key.` subprotocol) or a dashboard login cookie.
Realtime routes (`RealtimePrincipal`, `authenticate(..., allow_client_secret=True)`) also
accept a short-lived `ek_…` client secret; it never works anywhere else, so it cannot mint
secrets or manage keys.

Every route that does work depends on `require_principal`, so authentication always runs
before any work (and, for WebSockets, before the socket is accepted). For sockets
`authenticate` also spends the user's rate limit and checks the Origin of cookie logins.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Depends, Request
from starlette.datastructures import Headers
from starlette.requests import HTTPConnection

from realtime2.accounts.client_secrets import ClientSecrets, looks_like_client_secret
from realtime2.accounts.keys import InvalidApiKeyError
from realtime2.errors import ApiError
from realtime2.http import ratelimit
from realtime2.http.origins import origin_allowed, origin_refused
from realtime2.state import Services

SESSION_COOKIE = "realtime2_session"
CSRF_HEADER = "x-csrf-token"
SUBPROTOCOL_KEY_PREFIX = "openai-insecure-api-key."
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
_REQUIRED_KEY = "realtime2.principal"  # scope key: (allow_client_secret, Principal)


@dataclass(frozen=True)
class Principal:
    user_id: int
    email: str
    key_id: str | None  # None for a dashboard login
    via: Literal["api_key", "session", "client_secret"]
    csrf_token: str | None = None
    # A client secret's bound session configuration, applied to sessions it opens.
    session_config: dict[str, Any] | None = None


def services_of(conn: HTTPConnection) -> Services:
    services: Services = conn.app.state.services
    return services


def extract_api_key(headers: Headers) -> str | None:
    """The key a client sent, if any. A present but empty/odd header yields '' (malformed)."""
    authorization = headers.get("authorization")
    if authorization is not None:
        scheme, _, value = authorization.partition(" ")
        return value.strip() if scheme.lower() == "bearer" else ""
    if "x-api-key" in headers:
        return headers["x-api-key"].strip()
    for protocol in _subprotocols(headers):
        if protocol.startswith(SUBPROTOCOL_KEY_PREFIX):
            return protocol[len(SUBPROTOCOL_KEY_PREFIX) :]
    return None


def _subprotocols(headers: Headers) -> list[str]:
    raw = headers.get("sec-websocket-protocol", "")
    return [p.strip() for p in raw.split(",") if p.strip()]


def invalid_api_key() -> ApiError:
    return ApiError(401, "invalid_api_key", "The API key is malformed, unknown or revoked.")


def unauthorized() -> ApiError:
    return ApiError(
        401,
        "unauthorized",
        "No API key and no login session. Send Authorization: Bearer sk-gptr2-… or x-api-key.",
    )


async def authenticate(conn: HTTPConnection, *, allow_client_secret: bool = False) -> Principal:
    principal = await _identify(conn, allow_client_secret=allow_client_secret)
    if conn.scope["type"] == "websocket":
        # A socket has no route dependency to run these, so every WebSocket route (realtime,
        # translations, sidebands) gets them here, before it is accepted: the Origin check
        # that stands in for CSRF, and the same per-user rate limit as HTTP requests.
        if principal.via == "session" and not origin_allowed(
            conn.headers, services_of(conn).settings.allowed_origin_set()
        ):
            raise origin_refused()
        await ratelimit.enforce(conn, principal.user_id)
    return principal


async def _identify(conn: HTTPConnection, *, allow_client_secret: bool) -> Principal:
    services = services_of(conn)
    raw = extract_api_key(conn.headers)
    if raw is not None and allow_client_secret and looks_like_client_secret(raw):
        store = ClientSecrets(services.db, services.keys.hash)
        try:
            secret = await store.authenticate(raw)
        except InvalidApiKeyError:
            raise invalid_api_key() from None
        return Principal(
            secret.user_id,
            secret.email,
            secret.api_key_id,
            "client_secret",
            session_config=secret.session,
        )
    if raw is not None:
        try:
            owner = await services.keys.authenticate(raw)
        except InvalidApiKeyError:
            raise invalid_api_key() from None
        return Principal(owner.user_id, owner.email, owner.key_id, "api_key")
    token = conn.cookies.get(SESSION_COOKIE)
    if token:
        login = await services.web_sessions.lookup(token)
        if login is not None:
            return Principal(login.user_id, login.email, None, "session", login.csrf_token)
    raise unauthorized()


async def require_principal(request: Request) -> Principal:
    return await _require(request, allow_client_secret=False)


async def require_realtime_principal(request: Request) -> Principal:
    return await _require(request, allow_client_secret=True)


async def _require(request: Request, *, allow_client_secret: bool) -> Principal:
    # The body-limit middleware runs this before reading a body; the route's dependency
    # then finds the result here rather than counting the request against limits twice.
    kept = request.scope.get(_REQUIRED_KEY)
    if kept is not None and kept[0] == allow_client_secret:
        principal: Principal = kept[1]
        return principal
    principal = await authenticate(request, allow_client_secret=allow_client_secret)
    await ratelimit.enforce(request, principal.user_id)
    # Cookie-authenticated writes must prove they come from our own pages.
    if (
        principal.via == "session"
        and request.method not in _SAFE_METHODS
        and request.headers.get(CSRF_HEADER) != principal.csrf_token
    ):
        raise ApiError(403, "csrf_failed", "Missing or wrong CSRF token.")
    request.scope[_REQUIRED_KEY] = (allow_client_secret, principal)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(require_principal)]
# Realtime routes: an API key, a login, or a client secret.
RealtimePrincipal = Annotated[Principal, Depends(require_realtime_principal)]

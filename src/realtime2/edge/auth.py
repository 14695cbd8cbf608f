"""Authentication of a connection scope (an HTTP request or a WebSocket handshake): an API
key (`Authorization: Bearer`, `x-api-key`, or for browser WebSockets the
`openai-insecure-api-key.` subprotocol) or a dashboard login cookie.
Realtime routes (`RealtimePrincipal`, `authenticate(..., allow_client_secret=True)`) also
accept a short-lived `ek_…` client secret; it never works anywhere else, so it cannot mint
secrets or manage keys.

This is the concept; its FastAPI adapter (`require_principal`, CSRF for cookie writes) is
`realtime2.http.auth`, and every socket endpoint reaches it through
`realtime2.edge.handshake.admit_socket`, so authentication always runs before any work
(and, for WebSockets, before the socket is accepted). For sockets `authenticate` also
spends the user's rate limit and checks the Origin of cookie logins.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from starlette.datastructures import Headers
from starlette.requests import HTTPConnection

from realtime2.accounts.client_secrets import ClientSecrets, looks_like_client_secret
from realtime2.accounts.keys import InvalidApiKeyError
from realtime2.edge import ratelimit
from realtime2.edge.origins import origin_allowed, origin_refused
from realtime2.errors import ApiError
from realtime2.state import services_of

SESSION_COOKIE = "realtime2_session"
SUBPROTOCOL_KEY_PREFIX = "openai-insecure-api-key."


@dataclass(frozen=True)
class Principal:
    user_id: int
    email: str
    key_id: str | None  # None for a dashboard login
    via: Literal["api_key", "session", "client_secret"]
    csrf_token: str | None = None
    # A client secret's bound session configuration, applied to sessions it opens.
    session_config: dict[str, Any] | None = None


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


def refused_key(reason: str) -> ApiError:
    """The answer to a key (or client secret) refused for `reason`."""
    if reason == "expired":
        return ApiError(401, "api_key_expired", "The API key (or client secret) has expired.")
    if reason == "disabled":
        return ApiError(403, "account_disabled", "This account is disabled.")
    return invalid_api_key()


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
        except InvalidApiKeyError as exc:
            raise refused_key(str(exc)) from None
        if secret.allowed_origins is not None and (
            conn.headers.get("origin", "").rstrip("/").lower() not in secret.allowed_origins
        ):
            raise ApiError(
                403,
                "origin_not_allowed",
                "This client secret may not be used from this origin.",
            )
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
        except InvalidApiKeyError as exc:
            raise refused_key(str(exc)) from None
        return Principal(owner.user_id, owner.email, owner.key_id, "api_key")
    token = conn.cookies.get(SESSION_COOKIE)
    if token:
        login = await services.web_sessions.lookup(token)  # None for a disabled user
        if login is not None:
            return Principal(login.user_id, login.email, None, "session", login.csrf_token)
    raise unauthorized()

"""Which page origins may open a WebSocket that the dashboard cookie authenticates.

Browsers attach cookies to a WebSocket handshake whatever page opened it, and the
WebSocket API has no CORS, so without this check any page a logged-in user visits could
open `/v1/realtime` as them (cross-site WebSocket hijacking; SameSite=Lax does not help
against same-site origins such as another subdomain). Browsers always send `Origin` on a
WebSocket handshake and pages cannot forge it, so a cookie-authenticated socket must come
from this server's own origin (the `Host` it was reached at) or one listed in
`REALTIME2_ALLOWED_ORIGINS`. Sockets authenticated by an API key or an `ek_` secret carry
their credential explicitly and are not checked.
"""

from __future__ import annotations

from starlette.datastructures import Headers

from realtime2.errors import ApiError


def origin_allowed(headers: Headers, allowed: frozenset[str]) -> bool:
    origin = _normal(headers.get("origin", ""))
    if not origin or origin == "null":  # absent, or an opaque origin (sandbox, file://)
        return False
    if origin in allowed:  # Settings.allowed_origin_set(), normalised the same way
        return True
    scheme, sep, netloc = origin.partition("://")
    # Host only, not scheme: behind a TLS-terminating proxy the socket arrives as ws://
    # while the page is https://; the host is what names this server.
    host = headers.get("host", "").strip().lower()
    return bool(sep) and scheme in ("http", "https") and bool(host) and netloc == host


def origin_refused() -> ApiError:
    return ApiError(
        403,
        "origin_not_allowed",
        "A WebSocket authenticated by the login cookie must come from this server's own pages "
        "(or an origin in REALTIME2_ALLOWED_ORIGINS); send an API key otherwise.",
    )


def _normal(origin: str) -> str:
    return origin.strip().rstrip("/").lower()

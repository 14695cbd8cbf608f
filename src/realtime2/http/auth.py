"""The FastAPI adapter of `realtime2.edge.auth`: route dependencies for HTTP requests.

Every route that does work depends on `require_principal` (or, for realtime routes that
also accept an `ek_…` client secret, `require_realtime_principal`), so authentication and
the user's rate limit run before any work. Cookie-authenticated writes must also carry the
login's CSRF token.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from realtime2.edge import ratelimit
from realtime2.edge.auth import Principal, authenticate
from realtime2.errors import ApiError

CSRF_HEADER = "x-csrf-token"
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
_REQUIRED_KEY = "realtime2.principal"  # scope key: (allow_client_secret, Principal)


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

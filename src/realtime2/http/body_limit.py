"""Request bodies at the edge: each route's byte limit, counted as the bytes arrive, and
each route's authentication before the first byte is read.

FastAPI reads and parses a JSON body before any dependency runs, so authentication used to
come after the whole body (a 200 MB unauthenticated POST cost 580 MB before its 401), and
routes checked their size only after reading everything. This middleware hooks the app's
first `receive` instead. By then routing has chosen the route (`scope["route"]`) but not a
byte of the body has been read, so it can:

1. run the route's own authentication dependency (`require_principal` or
   `require_realtime_principal`, found in the route's dependency tree); `auth` keeps the
   result in the scope, so the dependency does not run twice;
2. refuse a declared Content-Length over the route's limit;
3. then count every chunk, chunked uploads included, and refuse the moment the count passes
   the limit.

A refusal (401, 413, …) is sent by this middleware in the error shape; the app then sees a
disconnect and whatever it still tries to send is dropped. Routes that never read their
body are never hooked. Multipart forms also cap each text field (`pipeline.read_form`);
the file part streams to a spooled temporary file, so the limit here bounds it too.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import Request
from fastapi.dependencies.models import Dependant
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from realtime2.edge.auth import Principal
from realtime2.errors import ApiError
from realtime2.http.auth import require_principal, require_realtime_principal

log = logging.getLogger(__name__)

KIB = 1024
MIB = 1024 * KIB
DEFAULT_KEY = "*"
# Bytes a request body may hold, by route template; "*" for every other route (dashboard
# forms, hang-up, …). REALTIME2_BODY_LIMITS='{"/v1/chat/completions": 4194304}' overrides.
DEFAULT_BODY_LIMITS: dict[str, int] = {
    DEFAULT_KEY: 64 * KIB,
    "/api/realtime2/charge": 16 * KIB,
    "/v1/realtime/client_secrets": 256 * KIB,
    "/v1/chat/completions": 1 * MIB,
    "/v1/audio/speech": 64 * KIB,  # 4,096 characters of input and of instructions
    # An SDP offer (64 KiB at most) plus a session configuration.
    "/v1/realtime/calls": 320 * KIB,
    "/api/realtime2/session": 320 * KIB,
    # 25 MB of audio plus the form's other fields and multipart framing.
    "/v1/audio/transcriptions": 26 * MIB,
    "/api/realtime2/pipeline": 26 * MIB,
}
_GUARDS: tuple[Callable[[Request], Awaitable[Principal]], ...] = (
    require_principal,
    require_realtime_principal,
)
_DISCONNECT: Message = {"type": "http.disconnect"}


def resolve_limits(overrides: Mapping[str, int]) -> dict[str, int]:
    limits = {**DEFAULT_BODY_LIMITS, **overrides}
    bad = {route: n for route, n in limits.items() if not isinstance(n, int) or n < 0}
    if bad:
        raise ValueError(f"body limits must be non-negative byte counts: {bad}")
    return limits


def too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        "request_too_large",
        f"The request body is larger than the {limit} bytes this endpoint accepts.",
    )


def _guard_of(route: Any) -> Callable[[Request], Awaitable[Principal]] | None:
    """The authentication dependency somewhere in the route's dependency tree, if any."""
    dependant = getattr(route, "dependant", None)
    stack: list[Dependant] = [dependant] if isinstance(dependant, Dependant) else []
    while stack:
        current = stack.pop()
        if current.call in _GUARDS:
            return current.call  # type: ignore[return-value]
        stack.extend(current.dependencies)
    return None


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, limits: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.limits = resolve_limits(limits or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        guarded = _GuardedRequest(self, scope, receive, send)
        try:
            await self.app(scope, guarded.receive, guarded.send)
        except Exception:
            if not guarded.refused:
                raise
            # The app failed on the disconnect it was handed; the client has its answer.

    def limit_for(self, route: Any) -> int:
        path = getattr(route, "path", None)
        return self.limits.get(path if isinstance(path, str) else "", self.limits[DEFAULT_KEY])


class _GuardedRequest:
    """The state of one request: whether it was checked, how much arrived, who answered."""

    def __init__(self, owner: BodyLimitMiddleware, scope: Scope, receive: Receive, send: Send):
        self.owner = owner
        self.scope = scope
        self._receive = receive
        self._send = send
        self.checked = False
        self.limit = 0
        self.received = 0
        self.started = False  # a response (the app's or ours) has begun
        self.refused = False

    async def receive(self) -> Message:
        if self.refused:
            return _DISCONNECT
        if not self.checked:
            self.checked = True
            error = await self._check_before_body()
            if error is not None:
                return await self._refuse(error)
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                return await self._refuse(too_large(self.limit))
        return message

    async def send(self, message: Message) -> None:
        if self.refused:
            return  # the client already has our refusal
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)

    async def _check_before_body(self) -> ApiError | None:
        route = self.scope.get("route")
        self.limit = self.owner.limit_for(route)
        guard = _guard_of(route)
        if guard is not None:
            try:
                await guard(Request(self.scope))
            except ApiError as exc:
                return exc
            except Exception:
                log.exception("authentication failed before reading the body")
                return ApiError(500, "internal_error", "internal server error")
        declared = Headers(scope=self.scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.limit:
            return too_large(self.limit)
        return None

    async def _refuse(self, error: ApiError) -> Message:
        if not self.started:
            self.started = True
            # No `Connection: close`: closing on unread bytes resets the connection and a
            # client still sending loses this answer. uvicorn discards what still arrives,
            # holding none of it; a client waiting on `Expect: 100-continue` sends nothing.
            await error.response()(self.scope, self._receive, self._send)
        self.refused = True
        return _DISCONNECT

"""ASGI middleware: a request id for every HTTP request and WebSocket handshake (echoed as
`x-request-id`, bound into log lines), and the HTTP metrics — route template, status,
duration, and the error code of every JSON error body (including WebSocket refusals,
which are sent as HTTP denial responses before the socket is accepted).
"""

from __future__ import annotations

import json
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from realtime2.observability import context, metrics

_MAX_ERROR_BODY = 4096


def _route(scope: Scope) -> str:
    # The template ("/v1/realtime/calls/{call_id}/hangup"), never the raw path, keeps the
    # label set bounded; anything unrouted shares one label.
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


def _error_code(body: bytes) -> str | None:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    error = data.get("error") if isinstance(data, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else None


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = context.new_request_id()
        token = context.request_id.set(request_id)
        started = time.monotonic()
        status = 0
        error_body = bytearray()

        async def observe(message: Message) -> None:
            nonlocal status
            kind = message["type"]
            if kind in ("http.response.start", "websocket.http.response.start"):
                status = int(message["status"])
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            elif kind == "websocket.accept":
                status = 101
            elif kind == "websocket.close" and status == 0:
                status = 403  # closed before accept: the server answers 403
            elif (
                kind in ("http.response.body", "websocket.http.response.body")
                and status >= 400
                and len(error_body) < _MAX_ERROR_BODY
            ):
                error_body.extend(message.get("body", b"")[:_MAX_ERROR_BODY])
            await send(message)

        try:
            await self.app(scope, receive, observe)
        finally:
            self._record(scope, status, time.monotonic() - started, bytes(error_body))
            context.request_id.reset(token)

    @staticmethod
    def _record(scope: Scope, status: int, seconds: float, error_body: bytes) -> None:
        route = _route(scope)
        method = scope.get("method", "WS") if scope["type"] == "http" else "WS"
        metrics.HTTP_REQUESTS.labels(route, method, str(status or 500)).inc()
        if scope["type"] == "http":
            metrics.HTTP_SECONDS.labels(route).observe(seconds)
        if status >= 400 or status == 0:
            code: Any = _error_code(error_body) if error_body else None
            metrics.ERRORS.labels(code or f"http_{status or 500}").inc()

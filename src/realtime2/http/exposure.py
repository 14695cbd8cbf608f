"""What the server shows about itself: the API docs and `/metrics`.

`/metrics` carries credits (revenue) per model and `/docs` maps every route, so both are
served freely only on a loopback bind (a developer's machine). On any other address they
are off unless configured: `REALTIME2_EXPOSE_DOCS` / `REALTIME2_EXPOSE_METRICS=true` serve
them to anyone, and `REALTIME2_METRICS_TOKEN` serves `/metrics` to a scraper that sends
`Authorization: Bearer <token>` (Prometheus' `authorization` scrape setting).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from fastapi import Request

from realtime2.config import Settings
from realtime2.errors import ApiError


def _metrics_token(settings: Settings) -> bytes | None:
    token = settings.metrics_token
    value = token.get_secret_value().strip() if token is not None else ""
    return value.encode() if value else None  # an empty token would let "Bearer " in


def docs_exposed(settings: Settings) -> bool:
    return settings.binds_loopback() if settings.expose_docs is None else settings.expose_docs


def metrics_exposed(settings: Settings) -> bool:
    if settings.expose_metrics is not None:
        return settings.expose_metrics
    return settings.binds_loopback() or _metrics_token(settings) is not None


def metrics_guard(settings: Settings) -> Callable[[Request], Awaitable[None]]:
    """The dependency for `/metrics`: with a token configured, only that bearer token."""
    expected = _metrics_token(settings)

    async def require_metrics_token(request: Request) -> None:
        if expected is None:
            return
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
            raise ApiError(
                401,
                "unauthorized",
                "/metrics needs Authorization: Bearer <REALTIME2_METRICS_TOKEN>.",
                headers={"www-authenticate": "Bearer"},
            )

    return require_metrics_token

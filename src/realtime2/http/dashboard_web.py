"""Plumbing for the server-rendered dashboard: templates, security headers, cookies, CSRF."""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi.routing import APIRoute
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from realtime2.accounts.web_sessions import LoginSession
from realtime2.edge.auth import SESSION_COOKIE
from realtime2.state import services_of

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
TEMPLATES_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"

# Pages load only our own CSS/JS: no inline scripts, no framing, no form posts elsewhere.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    # Pages show balances and, once, a new API key: keep them out of every cache.
    "Cache-Control": "no-store",
}


def _when(value: datetime | None) -> str:
    if value is None:
        return "never"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
templates.env.filters["when"] = _when


class PageRoute(APIRoute):
    """A route whose every response carries SECURITY_HEADERS."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def with_headers(request: Request) -> Response:
            response = await handler(request)
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            return response

        return with_headers


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
    login: LoginSession | None = None,
) -> Response:
    ctx: dict[str, Any] = {"login": login, **(context or {})}
    return templates.TemplateResponse(request, template, ctx, status_code=status)


def redirect(url: str) -> RedirectResponse:
    # 303 makes the browser follow a POST with a GET (post/redirect/get).
    return RedirectResponse(url, status_code=303)


def login_redirect(request: Request) -> RedirectResponse:
    if request.method != "GET":  # a form post cannot be replayed after login
        return redirect("/login")
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    return redirect("/login?next=" + quote(target, safe=""))


def safe_next(value: str | None) -> str:
    """A same-site path to go to after login; anything else (open redirects) → /dashboard."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/dashboard"
    return value


async def current_login(request: Request) -> LoginSession | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    return await services_of(request).web_sessions.lookup(token)


def field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def tokens_match(expected: str | None, given: str) -> bool:
    return bool(expected) and bool(given) and hmac.compare_digest(expected or "", given)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def cookie_secure(request: Request) -> bool:
    """Settings.cookie_secure, or when unset: Secure unless plain http on a loopback bind."""
    settings = services_of(request).settings
    if settings.cookie_secure is not None:
        return settings.cookie_secure
    return not (request.url.scheme == "http" and _is_loopback(settings.host))


def client_ip(request: Request) -> str:
    # Behind a reverse proxy this is the proxy's address unless the proxy is trusted
    # (REALTIME2_TRUSTED_PROXIES; uvicorn then takes the client from X-Forwarded-For).
    return request.client.host if request.client else "unknown"

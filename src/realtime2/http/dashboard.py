"""The dashboard pages: login/logout; balance, 30 days of spend, sessions running now and
usage; Settings → API Keys. (The admin page is `http.dashboard_admin`.)

Server-rendered forms with post/redirect/get. Every POST from a logged-in page carries the
session's CSRF token in a hidden field; the login form uses a double-submit cookie so a
foreign site cannot log a visitor into another account.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from fastapi import APIRouter, Request
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response

from realtime2.accounts.keys import KeyInfo, KeyNotFoundError
from realtime2.accounts.running import Running, RunningWork, kind_of
from realtime2.accounts.web_sessions import SESSION_TTL, LoginSession
from realtime2.db.models import LedgerEntry
from realtime2.edge.auth import SESSION_COOKIE
from realtime2.http.dashboard_admin import is_admin
from realtime2.http.dashboard_ratelimit import (
    LocalLoginThrottle,
    LoginLimiter,
    LoginThrottle,
    RedisLoginThrottle,
)
from realtime2.http.dashboard_web import (
    STATIC_DIR,
    PageRoute,
    client_ip,
    cookie_secure,
    current_login,
    field,
    login_redirect,
    redirect,
    render,
    safe_next,
    tokens_match,
)
from realtime2.http.spend import reports
from realtime2.http.spend_chart import spend_chart
from realtime2.state import services_of

LOGIN_CSRF_COOKIE = "realtime2_login_csrf"
USAGE_ROWS = 50
CHART_DAYS = 30
SESSION_ROWS = 200
# Holds and releases are reservations, shown as "held"; the table lists money that moved.
_USAGE_KINDS = {"capture": "Usage", "topup": "Top-up", "adjustment": "Adjustment"}
_KEY_ID = re.compile(r"^key_[0-9a-f]{16}$")

router = APIRouter(route_class=PageRoute, include_in_schema=False)
router.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")


def login_limiter(request: Request) -> LoginThrottle:
    """The app's login throttle, made on first use (tests may put their own `LoginLimiter` on
    app.state first); in Redis when REALTIME2_REDIS_URL is set, else in this process."""
    services = services_of(request)
    limiter: LoginLimiter | None = getattr(request.app.state, "login_limiter", None)
    if limiter is None:
        limiter = request.app.state.login_limiter = LoginLimiter.from_settings(services.settings)
    if services.redis is None:
        return LocalLoginThrottle(limiter)
    return RedisLoginThrottle(services.redis, limiter)


@router.get("/")
async def root(request: Request) -> Response:
    return redirect("/dashboard" if await current_login(request) else "/login")


# --- login / logout -----------------------------------------------------------------------


def _login_page(
    request: Request, *, status: int = 200, error: str = "", email: str = "", next_url: str = ""
) -> Response:
    token = secrets.token_urlsafe(24)
    context = {"csrf_token": token, "error": error, "email": email, "next": next_url}
    response = render(request, "login.html", context, status=status)
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=3600,
        path="/login",
        httponly=True,
        samesite="strict",
        secure=cookie_secure(request),
    )
    return response


@router.get("/login")
async def login_form(request: Request) -> Response:
    next_url = safe_next(request.query_params.get("next"))
    if await current_login(request):
        return redirect(next_url)
    return _login_page(request, next_url=next_url)


@router.post("/login")
async def login_submit(request: Request) -> Response:
    form = await request.form()
    email, password = field(form, "email").strip().lower()[:320], field(form, "password")
    next_url = safe_next(field(form, "next"))
    if not tokens_match(request.cookies.get(LOGIN_CSRF_COOKIE), field(form, "csrf_token")):
        error = "The login form expired. Please try again."
        return _login_page(request, status=403, error=error, email=email, next_url=next_url)

    limiter = login_limiter(request)
    address = client_ip(request)
    wait = await limiter.retry_after(email, address)
    if wait:
        later = f"{wait} second(s)" if wait < 60 else f"{(wait + 59) // 60} minute(s)"
        error = f"Too many failed attempts. Try again in {later}."
        response = _login_page(request, status=429, error=error, email=email, next_url=next_url)
        response.headers["Retry-After"] = str(wait)
        return response

    services = services_of(request)
    user = await services.users.verify_password(email, password) if email and password else None
    if user is None:
        await limiter.record_failure(email, address)
        error = "Wrong email or password."
        return _login_page(request, status=401, error=error, email=email, next_url=next_url)

    await limiter.succeeded(email, address)
    old = request.cookies.get(SESSION_COOKIE)
    if old:  # a fresh session id on every login (no session fixation)
        await services.web_sessions.delete(old)
    token, _ = await services.web_sessions.create(user.id)
    response = redirect(next_url)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(SESSION_TTL.total_seconds()),
        path="/",
        httponly=True,
        samesite="lax",
        secure=cookie_secure(request),
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    login = await current_login(request)
    if login is not None:
        if not tokens_match(login.csrf_token, field(await request.form(), "csrf_token")):
            return _forbidden(request, login)
        await services_of(request).web_sessions.delete(request.cookies.get(SESSION_COOKIE, ""))
    response = redirect("/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _forbidden(request: Request, login: LoginSession) -> Response:
    message = "The form was stale or did not come from this site. Reload the page and retry."
    return render(request, "error.html", {"message": message}, status=403, login=login)


# --- dashboard ----------------------------------------------------------------------------


def _usage_rows(entries: list[LedgerEntry], keys: dict[str, KeyInfo]) -> list[dict[str, Any]]:
    rows = []
    for entry in entries:
        if entry.kind not in _USAGE_KINDS:
            continue
        key = keys.get(entry.api_key_id or "")
        rows.append(
            {
                "when": entry.created_at,
                "kind": _USAGE_KINDS[entry.kind],
                "model": entry.model or "",
                "seconds": entry.seconds,
                "amount": -entry.amount if entry.kind == "capture" else entry.amount,
                "key": f"{key.prefix}…" if key else "",
                "key_name": key.name if key else "",
            }
        )
    return rows[:USAGE_ROWS]


@router.get("/dashboard")
async def dashboard(request: Request) -> Response:
    login = await current_login(request)
    if login is None:
        return login_redirect(request)
    services = services_of(request)
    balance = await services.ledger.balance(login.user_id)
    # Over-fetch: holds and releases are skipped in the table.
    entries = await services.ledger.entries(login.user_id, limit=USAGE_ROWS * 4)
    keys = {k.id: k for k in await services.keys.list(login.user_id)}
    admin = await is_admin(request, login.user_id)
    store = reports(request)
    context = {
        "balance": balance,
        "rows": _usage_rows(entries, keys),
        "active": "dashboard",
        "is_admin": admin,
        "chart": spend_chart(await store.daily(login.user_id, days=CHART_DAYS)),
        # A user sees their own sessions; an admin everyone's, to end one if need be.
        "sessions": await _session_rows(
            request,
            await RunningWork(services.db).list(
                None if admin else login.user_id, limit=SESSION_ROWS
            ),
            keys,
            own=login,
        ),
    }
    return render(request, "dashboard.html", context, login=login)


async def _session_rows(
    request: Request, sessions: list[Running], keys: dict[str, KeyInfo], *, own: LoginSession
) -> list[dict[str, Any]]:
    """The work running now (an open hold: a session, call or request on any replica)."""
    users = services_of(request).users
    emails = {own.user_id: own.email}
    rows = []
    for session in sessions:
        if session.user_id not in emails:  # (an admin's view: at most SESSION_ROWS users)
            user = await users.get(session.user_id)
            emails[session.user_id] = user.email if user else f"user {session.user_id}"
        key = keys.get(session.api_key_id or "")
        rows.append(
            {
                "hold_id": session.id,
                "started_at": session.started_at,
                "email": emails[session.user_id],
                "kind": kind_of(session.reference),
                "model": session.model,
                # Another user's key (an admin's view) is shown by its id, not its prefix.
                "key": f"{key.prefix}…" if key else (session.api_key_id or ""),
                "used": session.used,
                "held": session.reserved,
                "stopping": session.stop_reason is not None,
            }
        )
    return rows


# --- settings → API keys ------------------------------------------------------------------


async def _keys_page(
    request: Request, login: LoginSession, *, status: int = 200, **context: Any
) -> Response:
    keys = await services_of(request).keys.list(login.user_id)
    keys.sort(key=lambda k: (k.revoked_at is not None, -k.created_at.timestamp()))
    ctx = {"keys": keys, "active": "api-keys", **context}
    return render(request, "api_keys.html", ctx, status=status, login=login)


@router.get("/settings/api-keys")
async def api_keys(request: Request) -> Response:
    login = await current_login(request)
    if login is None:
        return login_redirect(request)
    revoked = request.query_params.get("revoked", "")
    keys = await services_of(request).keys.list(login.user_id)
    notice = next((f"Revoked {k.prefix}…" for k in keys if k.id == revoked and k.revoked_at), "")
    return await _keys_page(request, login, notice=notice)


@router.post("/settings/api-keys")
async def create_api_key(request: Request) -> Response:
    login = await current_login(request)
    if login is None:
        return login_redirect(request)
    form = await request.form()
    if not tokens_match(login.csrf_token, field(form, "csrf_token")):
        return _forbidden(request, login)
    name = field(form, "name").strip()
    if len(name) > 100:
        return await _keys_page(request, login, status=400, error="Names are 100 characters max.")
    info, raw = await services_of(request).keys.create(login.user_id, name)
    # Rendered straight into this response, never redirected or stored: shown exactly once.
    return await _keys_page(request, login, new_key=raw, new_key_info=info)


@router.post("/settings/api-keys/{key_id}/revoke")
async def revoke_api_key(request: Request, key_id: str) -> Response:
    login = await current_login(request)
    if login is None:
        return login_redirect(request)
    if not tokens_match(login.csrf_token, field(await request.form(), "csrf_token")):
        return _forbidden(request, login)
    try:
        if not _KEY_ID.match(key_id):
            raise KeyNotFoundError(key_id)
        await services_of(request).keys.revoke(key_id, user_id=login.user_id)
    except KeyNotFoundError:
        return await _keys_page(request, login, status=404, error="No such key.")
    return redirect(f"/settings/api-keys?revoked={key_id}")

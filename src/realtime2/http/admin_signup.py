"""`POST /api/signup`: self-service sign-up, off unless REALTIME2_SIGNUP says otherwise.

- `open`: the user is created active;
- `invite`: an admin's invite code is needed (spent in the same transaction);
- `approval`: the user is created pending, unable to log in or use keys until an admin
  enables them.

No email verification is sent (no SMTP sending is built): the address is not proven.
Sign-ups are counted per client address per hour in this process (bounded memory)."""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any, Final

from fastapi import APIRouter, Request

from realtime2.accounts.invites import InviteError, Invites
from realtime2.accounts.users import UserExistsError, normalize_email
from realtime2.db.models import User
from realtime2.errors import ApiError
from realtime2.http.admin_body import invalid, json_body, optional_str
from realtime2.http.admin_views import user_json
from realtime2.http.dashboard_web import client_ip
from realtime2.state import services_of

router = APIRouter(tags=["account"])
_FIELDS = frozenset({"email", "password", "invite_code"})
MAX_ADDRESSES: Final = 10_000
WINDOW_SECONDS: Final = 3600.0


class SignupThrottle:
    """Sign-ups per address in the last hour; the oldest addresses are forgotten first."""

    def __init__(self, per_hour: int, clock: Any = time.monotonic) -> None:
        self.per_hour = per_hour
        self.clock = clock
        self._seen: OrderedDict[str, list[float]] = OrderedDict()

    def allow(self, address: str) -> bool:
        if self.per_hour == 0:
            return True
        now = self.clock()
        times = [t for t in self._seen.pop(address, []) if now - t < WINDOW_SECONDS]
        allowed = len(times) < self.per_hour
        if allowed:
            times.append(now)
        self._seen[address] = times
        while len(self._seen) > MAX_ADDRESSES:
            self._seen.popitem(last=False)
        return allowed


def _throttle(request: Request) -> SignupThrottle:
    throttle: SignupThrottle | None = getattr(request.app.state, "signup_throttle", None)
    if throttle is None:
        per_hour = services_of(request).settings.signup_per_hour
        throttle = request.app.state.signup_throttle = SignupThrottle(per_hour)
    return throttle


@router.post("/api/signup", status_code=201)
async def signup(request: Request) -> dict[str, Any]:
    services = services_of(request)
    mode = services.settings.signup
    if mode == "off":
        raise ApiError(404, "not_found", "Sign-up is not enabled on this server.")
    body = await json_body(request, _FIELDS)
    if not _throttle(request).allow(client_ip(request)):
        raise ApiError(429, "rate_limited", "Too many sign-ups from this address; try later.")
    email = optional_str(body, "email", most=320)
    password = optional_str(body, "password", most=1024)
    code = optional_str(body, "invite_code", most=100)
    if not email or not password:
        name = "email" if not email else "password"
        raise ApiError(400, "missing_required_parameter", f"'{name}' is required.", param=name)
    if code is not None and mode != "invite":
        raise invalid("invite_code", "This server does not take invite codes.")
    try:
        if mode == "invite":
            if not code:
                raise ApiError(
                    400,
                    "missing_required_parameter",
                    "'invite_code' is required.",
                    param="invite_code",
                )
            user = await _with_invite(request, email, password, code)
        else:
            user = await services.users.create(email, password, pending=mode == "approval")
    except UserExistsError:
        raise ApiError(409, "user_exists", "A user with this email exists.") from None
    except ValueError as exc:
        raise invalid("email" if "email" in str(exc) else "password", str(exc)) from None
    return user_json(user)


async def _with_invite(request: Request, email: str, password: str, code: str) -> User:
    services = services_of(request)
    email = normalize_email(email)
    if await services.users.by_email(email) is not None:
        raise UserExistsError(email)
    user = User(email=email, password_hash=await services.users.hash(password), role="user")
    try:
        await Invites(services.db).redeem(code, user)
    except InviteError as exc:
        raise ApiError(403, "invalid_invite", str(exc).capitalize() + ".") from None
    return user

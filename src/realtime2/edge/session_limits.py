"""The caller's real limits, as a realtime session reports them (`rate_limits.updated`).

Sent right after each `response.created` (`protocol.response_set`), with the SDK's two
names (`requests`, `tokens`), whose meaning here is:

- `requests`: the user's requests-per-minute bucket (`edge.ratelimit`): `limit` is their
  rpm, `remaining` the requests they may make now, `reset_seconds` until the bucket is
  full again. Left out when rate limiting is off (rpm 0).
- `tokens`: credits, the unit this server bills in (`accounts.ledger`): `limit` is what the
  account could spend when the session began, `remaining` what it can spend now (this
  session's use so far taken off), `reset_seconds` how many seconds the session can still
  run at its per-second rate on those credits.

The balance is read from the ledger when the session starts and after each response
(`refresh`); between reads the session's own use is taken off locally, so `current()` is
cheap enough to call before every input the session gets.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import HTTPConnection

from realtime2.accounts.metering import SessionMeter
from realtime2.edge.ratelimit import RateLimiter, limiter_of


class SessionRateLimits:
    def __init__(self, limiter: RateLimiter, rpm: int, meter: SessionMeter) -> None:
        self._limiter = limiter
        self._rpm = rpm
        self._meter = meter
        self._key = f"user:{meter.user_id}"  # the key `edge.ratelimit.enforce` spends
        self._available: int | None = None  # the account's available credit at the read
        self._reserved = 0  # this session's reserve at that read (part of its holds)
        self._start_credits: int | None = None

    async def refresh(self) -> None:
        balance = await self._meter.ledger.balance(self._meter.user_id)
        self._available, self._reserved = balance.available, self._meter.reserved
        if self._start_credits is None:
            self._start_credits = self.credits_left()

    def credits_left(self) -> int:
        """Credits the account can still spend: what no other hold reserves, less the
        seconds this session has used."""
        if self._available is None:
            return 0
        return max(0, self._available + self._reserved - self._meter.used_credits())

    def current(self) -> list[dict[str, Any]]:
        limits: list[dict[str, Any]] = []
        if self._rpm > 0:
            remaining, reset = self._limiter.peek(self._key, self._rpm)
            limits.append(
                {
                    "name": "requests",
                    "limit": self._rpm,
                    "remaining": remaining,
                    "reset_seconds": round(reset, 3),
                }
            )
        if self._available is not None:
            credits = self.credits_left()
            limits.append(
                {
                    "name": "tokens",
                    "limit": max(self._start_credits or 0, credits),
                    "remaining": credits,
                    "reset_seconds": float(credits // max(self._meter.rate, 1)),
                }
            )
        return limits


async def session_rate_limits(conn: HTTPConnection, meter: SessionMeter) -> SessionRateLimits:
    """The limits of the user behind `meter`, for a session arriving on `conn`."""
    limiter = limiter_of(conn)
    users = conn.app.state.services.users

    async def lookup(uid: int) -> int | None:
        user = await users.get(uid)
        return user.rpm_limit if user is not None else None

    rpm = await limiter.limit_for(meter.user_id, lookup)
    return SessionRateLimits(limiter, rpm, meter)

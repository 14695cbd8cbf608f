"""Failed-login throttling for the dashboard: exponential backoff per (email, address).

Counting failures per email alone let anyone lock a user out from everywhere by typing
wrong passwords for their email. Here a guesser slows down only themselves: failures are
counted per (email, client address), and separately per address across all emails (so one
address cannot spray guesses over many accounts). The first few failures of a key are free;
each further one doubles the wait before the next try (1 s, 2 s, 4 s, … up to a maximum).
A successful login clears its (email, address) pair only — clearing the address too would
let an attacker reset their own counter by logging into an account of their own between
guesses. A key idle for `forget_after` seconds is forgotten.

`LoginLimiter` keeps the counts in this process's memory (a restart forgets them).
`RedisLoginThrottle`, used when `REALTIME2_REDIS_URL` is set, keeps them in Redis so every
replica counts the same failures: each key is a hash (count, time of the last failure on
Redis's clock) that expires `forget_after` seconds after its last failure, updated by one
Lua script; keys are hashed, so no email or address is stored in clear. If Redis cannot be
reached the in-process counts decide (logged). The dashboard reaches either through
`LoginThrottle`.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from redis.exceptions import RedisError

from realtime2.config import Settings

log = logging.getLogger(__name__)

# Bounds memory: past this many tracked keys the least recently failed is forgotten.
MAX_TRACKED = 10_000
FORGET_AFTER_SECONDS = 60 * 60


@dataclass(frozen=True)
class Backoff:
    free_failures: int
    max_delay: float
    base_delay: float = 1.0

    def delay(self, failures: int) -> float:
        """Seconds to wait after the last of `failures` failures before the next try."""
        extra = failures - self.free_failures
        if extra < 0:
            return 0.0
        # Capped exponent: 2**large would overflow long before any real count.
        return min(self.max_delay, self.base_delay * 2.0 ** min(extra, 64))


@dataclass
class _Failures:
    count: int
    last: float


class LoginLimiter:
    def __init__(
        self,
        *,
        per_pair: Backoff | None = None,
        per_address: Backoff | None = None,
        forget_after: float = FORGET_AFTER_SECONDS,
        max_tracked: int = MAX_TRACKED,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_pair = per_pair or Backoff(5, 15 * 60)
        self.per_address = per_address or Backoff(20, 15 * 60)
        self.forget_after = forget_after
        self.max_tracked = max_tracked
        self.clock = clock
        self._failures: OrderedDict[str, _Failures] = OrderedDict()

    @classmethod
    def from_settings(cls, settings: Settings) -> LoginLimiter:
        cap = settings.login_backoff_max_s
        return cls(
            per_pair=Backoff(settings.login_failures_before_backoff, cap),
            per_address=Backoff(settings.login_address_failures_before_backoff, cap),
        )

    def retry_after(self, email: str, address: str) -> int:
        """Seconds until this email may be tried from this address; 0 when it may now."""
        now = self.clock()
        wait = 0.0
        for key, backoff in self._keys(email, address):
            seen = self._current(key, now)
            if seen is not None:
                wait = max(wait, seen.last + backoff.delay(seen.count) - now)
        return math.ceil(wait) if wait > 0 else 0

    def record_failure(self, email: str, address: str) -> None:
        now = self.clock()
        for key, _ in self._keys(email, address):
            seen = self._current(key, now)
            if seen is None:
                self._failures[key] = _Failures(1, now)
            else:
                seen.count, seen.last = seen.count + 1, now
            self._failures.move_to_end(key)
        while len(self._failures) > self.max_tracked:
            self._failures.popitem(last=False)

    def succeeded(self, email: str, address: str) -> None:
        self._failures.pop(self._pair(email, address), None)

    def tracked(self) -> int:
        return len(self._failures)

    def _keys(self, email: str, address: str) -> tuple[tuple[str, Backoff], ...]:
        return ((self._pair(email, address), self.per_pair), (f"ip:{address}", self.per_address))

    @staticmethod
    def _pair(email: str, address: str) -> str:
        return f"pair:{address}\n{email}"  # the address never holds a newline: no collisions

    def _current(self, key: str, now: float) -> _Failures | None:
        seen = self._failures.get(key)
        if seen is not None and now - seen.last > self.forget_after:
            del self._failures[key]
            return None
        return seen


class LoginThrottle(Protocol):
    async def retry_after(self, email: str, address: str) -> int: ...
    async def record_failure(self, email: str, address: str) -> None: ...
    async def succeeded(self, email: str, address: str) -> None: ...


class LocalLoginThrottle:
    """A `LoginLimiter` (this process's memory) as a `LoginThrottle`."""

    def __init__(self, limiter: LoginLimiter) -> None:
        self.limiter = limiter

    async def retry_after(self, email: str, address: str) -> int:
        return self.limiter.retry_after(email, address)

    async def record_failure(self, email: str, address: str) -> None:
        self.limiter.record_failure(email, address)

    async def succeeded(self, email: str, address: str) -> None:
        self.limiter.succeeded(email, address)


# KEYS: the failure hashes; ARGV[1]: seconds to keep a key after its last failure.
_RECORD = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
for _, key in ipairs(KEYS) do
  redis.call('HINCRBY', key, 'count', 1)
  redis.call('HSET', key, 'last', tostring(now))
  redis.call('EXPIRE', key, ARGV[1])
end
return 1
"""
# KEYS: the failure hashes. Returns {now, count1, last1, count2, last2, ...} as strings.
_READ = """
local clock = redis.call('TIME')
local out = {tostring(tonumber(clock[1]) + tonumber(clock[2]) / 1000000)}
for _, key in ipairs(KEYS) do
  local h = redis.call('HMGET', key, 'count', 'last')
  out[#out + 1] = h[1] or '0'
  out[#out + 1] = h[2] or '0'
end
return out
"""
REDIS_PREFIX = "realtime2:login:"


class RedisLoginThrottle:
    """The same backoff as `LoginLimiter`, counted in Redis across replicas."""

    def __init__(self, redis: Any, fallback: LoginLimiter) -> None:
        self.redis = redis
        self.fallback = fallback  # also holds the backoff settings

    def _keys(self, email: str, address: str) -> list[tuple[str, Backoff]]:
        return [
            (REDIS_PREFIX + hashlib.sha256(key.encode()).hexdigest(), backoff)
            for key, backoff in self.fallback._keys(email, address)
        ]

    async def retry_after(self, email: str, address: str) -> int:
        keys = self._keys(email, address)
        try:
            out = await self.redis.eval(_READ, len(keys), *(k for k, _ in keys))
        except (RedisError, OSError) as exc:
            log.warning("login throttle store unreachable (%s); counting in this process", exc)
            return self.fallback.retry_after(email, address)
        now, wait = float(out[0]), 0.0
        for i, (_, backoff) in enumerate(keys):
            count, last = int(out[1 + 2 * i]), float(out[2 + 2 * i])
            if count:
                wait = max(wait, last + backoff.delay(count) - now)
        return math.ceil(wait) if wait > 0 else 0

    async def record_failure(self, email: str, address: str) -> None:
        keys = self._keys(email, address)
        forget = max(1, math.ceil(self.fallback.forget_after))
        try:
            await self.redis.eval(_RECORD, len(keys), *(k for k, _ in keys), forget)
        except (RedisError, OSError) as exc:
            log.warning("login throttle store unreachable (%s); counting in this process", exc)
            self.fallback.record_failure(email, address)

    async def succeeded(self, email: str, address: str) -> None:
        self.fallback.succeeded(email, address)
        try:
            await self.redis.delete(self._keys(email, address)[0][0])
        except (RedisError, OSError) as exc:
            log.warning("login throttle store unreachable (%s)", exc)

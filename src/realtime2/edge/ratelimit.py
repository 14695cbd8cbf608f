"""Per-user request rate limits (requests per minute) for authenticated HTTP routes and
WebSocket handshakes.

One token bucket per user, whatever carried the request (any of their API keys, a client
secret, a dashboard login): a user with three keys gets the same limit as with one. Capacity
= the limit, refilled at limit/60 tokens a second, so a user may burst up to their whole
minute and then runs at the steady rate. A WebSocket handshake (`/v1/realtime`, translations,
sidebands) spends a token like any request, after authentication and before the socket is
accepted (see `realtime2.edge.auth.authenticate`). The limit is the user's own `rpm_limit`
(`realtime2 limits set EMAIL --rpm N`) or `REALTIME2_RATE_LIMIT_RPM` (600); a default of 0
turns limiting off.

Without Redis, state lives in this process's memory only, bounded by `max_tracked` buckets
(least recently used forgotten first — a forgotten bucket starts full again, which errs
towards allowing). With `REALTIME2_REDIS_URL` set, the buckets live in Redis and every
replica spends from the same one: a Lua script (`_TOKEN_BUCKET`) refills and spends
atomically on Redis's own clock, so replicas' clocks never disagree; a bucket expires once
it would be full again. The result is mirrored into the local bucket so `peek` (the
session's `rate_limits.updated`) shows the last known state. If Redis cannot be reached the
local bucket decides (errs towards allowing, logged) rather than refusing every request.
Concurrent realtime sessions are limited separately by `edge.admission.SessionSlots`.
"""

from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from redis.exceptions import RedisError
from starlette.requests import HTTPConnection

from realtime2.errors import ApiError

log = logging.getLogger(__name__)

MAX_TRACKED = 50_000
# A user's own limit is read from the database at most this often per process, so
# `limits set` takes effect within this many seconds without a query per request.
LIMIT_CACHE_SECONDS = 10.0

LimitLookup = Callable[[int], Awaitable[int | None]]

# KEYS[1] the bucket; ARGV[1] the limit. Returns {allowed (0/1), tokens left (string)}.
_TOKEN_BUCKET = """
local limit = tonumber(ARGV[1])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local b = redis.call('HMGET', KEYS[1], 'tokens', 'updated', 'limit')
local tokens = tonumber(b[1])
if tokens == nil or tonumber(b[3]) ~= limit then
  tokens = limit
else
  tokens = math.min(limit, tokens + math.max(0, now - tonumber(b[2])) * limit / 60)
end
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'updated', tostring(now), 'limit', limit)
redis.call('EXPIRE', KEYS[1], 61 + math.ceil(60 * (limit - tokens) / limit))
return {allowed, tostring(tokens)}
"""
REDIS_PREFIX = "realtime2:rl:"


@dataclass
class _Bucket:
    tokens: float
    updated: float
    limit: int


class RateLimiter:
    def __init__(
        self,
        default_rpm: int,
        *,
        max_tracked: int = MAX_TRACKED,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.default_rpm = default_rpm
        self.max_tracked = max_tracked
        self.clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._limits: OrderedDict[int, tuple[float, int | None]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    async def limit_for(self, user_id: int, lookup: LimitLookup) -> int:
        """The user's rpm (cached briefly), else the default; 0 means unlimited."""
        now = self.clock()
        cached = self._limits.get(user_id)
        if cached is None or now - cached[0] > LIMIT_CACHE_SECONDS:
            cached = (now, await lookup(user_id))
            self._limits[user_id] = cached
            self._limits.move_to_end(user_id)
            while len(self._limits) > self.max_tracked:
                self._limits.popitem(last=False)
        own = cached[1]
        return own if own else self.default_rpm

    def take(self, key: str, limit: int) -> float:
        """Spend one token; 0.0 if allowed, else the seconds until one is available."""
        if limit <= 0:
            return 0.0
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None or bucket.limit != limit:
            bucket = _Bucket(float(limit), now, limit)
            self._buckets[key] = bucket
        else:
            rate = limit / 60.0
            bucket.tokens = min(float(limit), bucket.tokens + (now - bucket.updated) * rate)
            bucket.updated = now
        self._buckets.move_to_end(key)
        while len(self._buckets) > self.max_tracked:
            self._buckets.popitem(last=False)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / (limit / 60.0)

    async def take_shared(self, redis: object, key: str, limit: int) -> float:
        """`take` counted in Redis (shared by every replica); the local bucket on failure."""
        if limit <= 0:
            return 0.0
        try:
            allowed, left = await redis.eval(  # type: ignore[attr-defined]
                _TOKEN_BUCKET, 1, REDIS_PREFIX + key, limit
            )
        except (RedisError, OSError) as exc:
            log.warning("rate limit store unreachable (%s); counting in this process", exc)
            return self.take(key, limit)
        tokens = float(left)
        self._buckets[key] = _Bucket(tokens, self.clock(), limit)
        self._buckets.move_to_end(key)
        while len(self._buckets) > self.max_tracked:
            self._buckets.popitem(last=False)
        return 0.0 if int(allowed) else (1.0 - tokens) / (limit / 60.0)

    def peek(self, key: str, limit: int) -> tuple[int, float]:
        """(Requests left now, seconds until the bucket is full again), spending nothing."""
        bucket = self._buckets.get(key)
        if limit <= 0 or bucket is None or bucket.limit != limit:
            return max(limit, 0), 0.0
        rate = limit / 60.0
        tokens = min(float(limit), bucket.tokens + (self.clock() - bucket.updated) * rate)
        return int(tokens), (limit - tokens) / rate


def rate_limited(limit: int, wait: float) -> ApiError:
    seconds = max(1, math.ceil(wait))
    return ApiError(
        429,
        "rate_limit_exceeded",
        f"Rate limit of {limit} requests per minute reached; retry in {seconds} s.",
        headers={"Retry-After": str(seconds)},
    )


def limiter_of(conn: HTTPConnection) -> RateLimiter:
    """The app's limiter, created on first use from its settings."""
    state = conn.app.state
    limiter: RateLimiter | None = getattr(state, "rate_limiter", None)
    if limiter is None:
        limiter = RateLimiter(state.services.settings.rate_limit_rpm)
        state.rate_limiter = limiter
    return limiter


async def enforce(conn: HTTPConnection, user_id: int) -> None:
    """Count one request for this user; raise 429 with Retry-After when over."""
    limiter = limiter_of(conn)
    users = conn.app.state.services.users

    async def lookup(uid: int) -> int | None:
        user = await users.get(uid)
        return user.rpm_limit if user is not None else None

    limit = await limiter.limit_for(user_id, lookup)
    # Keyed on the user, never the key: extra keys must not multiply the limit.
    redis = conn.app.state.services.redis
    key = f"user:{user_id}"
    wait = (
        limiter.take(key, limit) if redis is None else await limiter.take_shared(redis, key, limit)
    )
    if wait > 0:
        raise rate_limited(limit, wait)

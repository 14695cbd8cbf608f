"""API keys: `sk-gptr2-<43 url-safe chars>` (256 random bits), shown once.

Only a keyed hash (HMAC-SHA256 with the server secret) and a short display prefix are
stored, so a database leak yields no usable key and offline guessing needs the secret too.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, select, update

from realtime2.db.engine import Database
from realtime2.db.models import ApiKey, User
from realtime2.db.prepared import Prepared

KEY_PREFIX = "sk-gptr2-"
_RANDOM_CHARS = 43  # token_urlsafe(32) → 256 bits
_KEY_FORMAT = re.compile(rf"^{re.escape(KEY_PREFIX)}[A-Za-z0-9_-]{{{_RANDOM_CHARS}}}$")
_DISPLAY_CHARS = 6
_CONTROLS = frozenset(
    {"expires_at", "allowed_models", "allowed_origins", "budget_credits", "budget_period"}
)
# Writing last_used_at on every request would turn each read into a write.
_LAST_USED_RESOLUTION = timedelta(seconds=60)

_keys = cast(Table, ApiKey.__table__)
_users = cast(Table, User.__table__)
# Core statements, built once (compiled once): the ORM's per-query overhead is most of the
# cost of a key check.
_BY_HASH = Prepared(
    select(
        _keys.c.id,
        _keys.c.user_id,
        _keys.c.revoked_at,
        _keys.c.expires_at,
        _keys.c.last_used_at,
        _users.c.email,
        _users.c.disabled_at,
    )
    .join(_users, _users.c.id == _keys.c.user_id)
    .where(_keys.c.key_hash == bindparam("hash"))
)
_ACTIVE = (
    select(_keys.c.revoked_at, _keys.c.expires_at, _users.c.disabled_at)
    .join(_users, _users.c.id == _keys.c.user_id)
    .where(_keys.c.id == bindparam("kid"))
)
_TOUCH = (
    update(_keys)
    .where(_keys.c.id == bindparam("kid"))
    .values(last_used_at=bindparam("now", type_=_keys.c.last_used_at.type))
)


class InvalidApiKeyError(Exception):
    """Malformed, unknown, revoked, expired ("expired") or its user disabled ("disabled");
    the message is the reason."""


class KeyNotFoundError(LookupError):
    pass


@dataclass(frozen=True)
class KeyInfo:
    id: str
    user_id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    expires_at: datetime | None = None
    allowed_models: list[str] | None = None
    allowed_origins: list[str] | None = None
    budget_credits: int | None = None
    budget_period: str | None = None

    @classmethod
    def of(cls, key: ApiKey) -> KeyInfo:
        return cls(
            key.id,
            key.user_id,
            key.name,
            key.prefix,
            key.created_at,
            key.last_used_at,
            key.revoked_at,
            key.expires_at,
            key.allowed_models,
            key.allowed_origins,
            key.budget_credits,
            key.budget_period,
        )


@dataclass(frozen=True)
class KeyOwner:
    user_id: int
    email: str
    key_id: str


def is_well_formed(raw: str) -> bool:
    return bool(_KEY_FORMAT.match(raw))


def display_prefix(raw: str) -> str:
    return raw[: len(KEY_PREFIX) + _DISPLAY_CHARS]


class KeyStore:
    def __init__(self, db: Database, secret: str) -> None:
        self.db = db
        self._secret = secret.encode()

    def hash(self, raw: str) -> str:
        return hmac.new(self._secret, raw.encode(), hashlib.sha256).hexdigest()

    async def create(self, user_id: int, name: str = "") -> tuple[KeyInfo, str]:
        """Create a key; returns its info and the raw key, which is never retrievable again."""
        name = name.strip()
        if len(name) > 100:
            raise ValueError("key name is longer than 100 characters")
        raw = KEY_PREFIX + secrets.token_urlsafe(32)
        key = ApiKey(
            id=f"key_{secrets.token_hex(8)}",
            user_id=user_id,
            name=name,
            prefix=display_prefix(raw),
            key_hash=self.hash(raw),
            created_at=datetime.now(UTC),
        )
        async with self.db.transaction() as session:
            session.add(key)
        return KeyInfo.of(key), raw

    async def list(self, user_id: int, *, include_revoked: bool = True) -> list[KeyInfo]:
        query = select(ApiKey).where(ApiKey.user_id == user_id)
        if not include_revoked:
            query = query.where(ApiKey.revoked_at.is_(None))
        async with self.db.sessions() as session:
            rows = await session.scalars(query.order_by(ApiKey.created_at, ApiKey.id))
            return [KeyInfo.of(k) for k in rows]

    async def revoke(self, ref: str, *, user_id: int | None = None) -> KeyInfo:
        """Revoke by id, display prefix or the whole key; `user_id` restricts to one owner."""
        ref = ref.strip()
        if ref.startswith(KEY_PREFIX) and len(ref) > len(KEY_PREFIX) + _DISPLAY_CHARS:
            condition = ApiKey.key_hash == self.hash(ref)
        elif ref.startswith(KEY_PREFIX):
            condition = ApiKey.prefix == ref
        else:
            condition = ApiKey.id == ref
        query = select(ApiKey).where(condition)
        if user_id is not None:
            query = query.where(ApiKey.user_id == user_id)
        async with self.db.transaction() as session:
            matches = list(await session.scalars(query.with_for_update()))
            if not matches:
                raise KeyNotFoundError(f"no key matches {ref[: len(KEY_PREFIX) + 6]!r}")
            if len(matches) > 1:
                raise KeyNotFoundError("that prefix matches several keys; use the key id")
            key = matches[0]
            if key.revoked_at is None:
                key.revoked_at = datetime.now(UTC)
            return KeyInfo.of(key)

    async def is_active(self, key_id: str) -> bool:
        """Whether the key exists, is neither revoked nor expired and its user is not
        disabled (a live session's check at renewal)."""
        rows = await self.db.run(
            lambda conn: conn.execute(_ACTIVE, {"kid": key_id}).all(), write=False, inline=True
        )
        if not rows:
            return False
        row = rows[0]
        expired = row.expires_at is not None and row.expires_at <= datetime.now(UTC)
        return row.revoked_at is None and row.disabled_at is None and not expired

    async def get(self, key_id: str) -> KeyInfo | None:
        async with self.db.sessions() as session:
            key = await session.get(ApiKey, key_id)
            return KeyInfo.of(key) if key else None

    async def set_controls(self, key_id: str, changes: dict[str, Any]) -> KeyInfo:
        """Set some of expires_at, allowed_models, allowed_origins, budget_credits and
        budget_period (already checked by the caller; None clears)."""
        unknown = set(changes) - _CONTROLS
        if unknown:
            raise ValueError(f"not a key control: {sorted(unknown)[0]}")
        async with self.db.transaction() as session:
            key = await session.get(ApiKey, key_id, with_for_update=True)
            if key is None:
                raise KeyNotFoundError(key_id)
            for name, value in changes.items():
                setattr(key, name, value)
            if "budget_credits" in changes:  # a new budget may run out (and notify) again
                key.budget_alerted_for = None
            return KeyInfo.of(key)

    async def authenticate(self, raw: str) -> KeyOwner:
        if not is_well_formed(raw):
            raise InvalidApiKeyError("malformed")
        key_hash = self.hash(raw)
        # The hot path of every request: one indexed lookup, inline (see Database.run).
        row = await self.db.run(
            lambda conn: _BY_HASH.first(conn, {"hash": key_hash}),
            write=False,
            inline=True,
        )
        if row is None:
            raise InvalidApiKeyError("unknown")
        if row.revoked_at is not None:
            raise InvalidApiKeyError("revoked")
        now = datetime.now(UTC)
        if row.disabled_at is not None:
            raise InvalidApiKeyError("disabled")
        if row.expires_at is not None and row.expires_at <= now:
            raise InvalidApiKeyError("expired")
        if row.last_used_at is None or now - row.last_used_at > _LAST_USED_RESOLUTION:
            await self._touch(row.id, now)
        return KeyOwner(user_id=row.user_id, email=row.email, key_id=row.id)

    async def _touch(self, key_id: str, now: datetime) -> None:
        def touch(conn: Connection) -> None:
            conn.execute(_TOUCH, {"kid": key_id, "now": now})

        await self.db.run(touch, write=True, inline=True)

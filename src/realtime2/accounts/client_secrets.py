"""Client secrets: short-lived `ek_…` tokens a server mints so a browser can open realtime
sessions without holding the long-lived API key.

A secret is bound to the user who minted it (usage is billed to them), to the minting API
key (revoking the key revokes its secrets) and optionally to a session configuration that
is applied to every session opened with it. Only a keyed hash is stored, like API keys.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sqlalchemy import delete, select

from realtime2.accounts.keys import InvalidApiKeyError
from realtime2.db.engine import Database
from realtime2.db.models import ApiKey, ClientSecret, User

PREFIX: Final = "ek_"
DEFAULT_TTL_SECONDS: Final = 600
MIN_TTL_SECONDS: Final = 10
MAX_TTL_SECONDS: Final = 7200
_RANDOM_BYTES: Final = 32

Clock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now(UTC)


def looks_like_client_secret(raw: str) -> bool:
    return raw.startswith(PREFIX)


@dataclass(frozen=True)
class SecretOwner:
    user_id: int
    email: str
    api_key_id: str | None
    session: dict[str, Any] | None
    expires_at: datetime
    # The minting key's `allowed_origins` (None: any): where a browser may use the secret.
    allowed_origins: list[str] | None = None


@dataclass(frozen=True)
class MintedSecret:
    value: str  # shown once, never stored
    expires_at: datetime


class ClientSecrets:
    def __init__(self, db: Database, hasher: Callable[[str], str], *, clock: Clock = _now):
        self.db = db
        self._hash = hasher
        self.clock = clock

    async def create(
        self,
        user_id: int,
        *,
        api_key_id: str | None,
        session: dict[str, Any] | None,
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
    ) -> MintedSecret:
        if not MIN_TTL_SECONDS <= ttl_seconds <= MAX_TTL_SECONDS:
            raise ValueError("ttl out of range")
        value = PREFIX + secrets.token_urlsafe(_RANDOM_BYTES)
        now = self.clock()
        expires_at = now + timedelta(seconds=ttl_seconds)
        async with self.db.transaction() as tx:
            # Expired secrets are useless; drop the owner's old ones while we are here.
            await tx.execute(
                delete(ClientSecret).where(
                    ClientSecret.user_id == user_id, ClientSecret.expires_at < now
                )
            )
            tx.add(
                ClientSecret(
                    id=f"cs_{secrets.token_hex(8)}",
                    user_id=user_id,
                    api_key_id=api_key_id,
                    secret_hash=self._hash(value),
                    session=session,
                    created_at=now,
                    expires_at=expires_at,
                )
            )
        return MintedSecret(value, expires_at)

    async def authenticate(self, raw: str) -> SecretOwner:
        """The secret's owner, or InvalidApiKeyError (unknown, expired, its key revoked or
        expired, its user disabled)."""
        if not looks_like_client_secret(raw) or len(raw) > 100:
            raise InvalidApiKeyError("malformed")
        async with self.db.sessions() as tx:
            row = (
                await tx.execute(
                    select(
                        ClientSecret,
                        User.email,
                        User.disabled_at,
                        ApiKey.revoked_at,
                        ApiKey.expires_at,
                        ApiKey.allowed_origins,
                    )
                    .join(User, User.id == ClientSecret.user_id)
                    .outerjoin(ApiKey, ApiKey.id == ClientSecret.api_key_id)
                    .where(ClientSecret.secret_hash == self._hash(raw))
                )
            ).first()
        if row is None:
            raise InvalidApiKeyError("unknown")
        secret, email, disabled_at, key_revoked_at, key_expires_at, origins = row
        now = self.clock()
        if secret.expires_at <= now:
            raise InvalidApiKeyError("expired")
        if key_revoked_at is not None:
            raise InvalidApiKeyError("revoked")
        if disabled_at is not None:
            raise InvalidApiKeyError("disabled")
        if key_expires_at is not None and key_expires_at <= now:
            raise InvalidApiKeyError("expired")
        return SecretOwner(
            secret.user_id, email, secret.api_key_id, secret.session, secret.expires_at, origins
        )

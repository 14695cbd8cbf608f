"""Tables. Money is integer credit units; the ledger is append-only.

`credit_accounts` is the per-user projection of the ledger (posted and held totals), updated
in the same transaction as every ledger insert under a row lock, with CHECK constraints as a
last guard: the available balance (posted − held) can never go below zero.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every database (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime, dict[str, Any]: JSON}


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Per-user overrides of the configured rate limits (None = the defaults).
    rpm_limit: Mapped[int | None] = mapped_column(Integer)
    max_sessions: Mapped[int | None] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(16), default="user")  # user|admin
    # Set while the user is disabled: every key, client secret and login is refused.
    disabled_at: Mapped[datetime | None] = mapped_column()
    # Why: "admin" (an admin disabled them) or "pending_approval" (a sign-up to approve).
    disabled_reason: Mapped[str | None] = mapped_column(String(32))
    # `balance.low` notifications: the threshold, and whether the next crossing notifies
    # (cleared when one is sent, set again once the balance is back at the threshold).
    balance_alert_below: Mapped[int | None] = mapped_column(BigInteger)
    balance_alert_armed: Mapped[bool] = mapped_column(Boolean, default=True)
    # The user's own notification webhook (set by an admin), signed with this secret.
    notify_url: Mapped[str | None] = mapped_column(String(2000))
    notify_secret: Mapped[str | None] = mapped_column(String(100))


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    # Only a short display prefix and a keyed hash are stored, never the key.
    prefix: Mapped[str] = mapped_column(String(32))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()
    # Per-key controls (accounts.key_controls); None = no limit.
    expires_at: Mapped[datetime | None] = mapped_column()
    allowed_models: Mapped[list[str] | None] = mapped_column(JSON)
    allowed_origins: Mapped[list[str] | None] = mapped_column(JSON)
    # The key's credit budget per period (total|day|month), enforced by the ledger's holds.
    budget_credits: Mapped[int | None] = mapped_column(BigInteger)
    budget_period: Mapped[str | None] = mapped_column(String(8))
    # Start of the last period whose exhaustion was notified (once per period).
    budget_alerted_for: Mapped[datetime | None] = mapped_column()


class CreditAccount(Base):
    __tablename__ = "credit_accounts"
    __table_args__ = (
        CheckConstraint("held >= 0", name="held_non_negative"),
        CheckConstraint("posted - held >= 0", name="available_non_negative"),
    )

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    posted: Mapped[int] = mapped_column(BigInteger, default=0)
    held: Mapped[int] = mapped_column(BigInteger, default=0)


class Hold(Base):
    """Credit reserved for running work: renewed while it runs, settled when it ends.

    `used` is the usage recorded so far (monotonic); if the owner dies and the hold
    expires, what was used is captured and the rest released, so a crash neither loses the
    operator's credit nor charges the user for time not used.
    """

    __tablename__ = "holds"
    __table_args__ = (
        Index("ix_holds_status_expires", "status", "expires_at"),
        # A key's spending in a budget period, SUM(amount + captured) of its holds since
        # the period began: covering, so SQLite sums from the index alone (3x faster).
        Index("ix_holds_key_created", "api_key_id", "created_at", "amount", "captured"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    api_key_id: Mapped[str | None] = mapped_column(String(40))
    model: Mapped[str] = mapped_column(String(64))
    reference: Mapped[str] = mapped_column(String(80), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)  # still reserved
    used: Mapped[int] = mapped_column(BigInteger, default=0)  # recorded usage, total
    captured: Mapped[int] = mapped_column(BigInteger, default=0)  # charged so far
    status: Mapped[str] = mapped_column(String(16), default="open")  # open|settled|released|expired
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    settled_at: Mapped[datetime | None] = mapped_column()
    # Set to ask whoever renews the hold to end its work (an admin ended the session, or
    # disabled its user); the owner's meter stops at its next renewal and settles as usual.
    stop_reason: Mapped[str | None] = mapped_column(String(32))


class LedgerEntry(Base):
    """One money movement. kinds: topup, adjustment (posted ±), hold (held +),
    capture (posted −, held −), release (held −)."""

    __tablename__ = "ledger_entries"
    __table_args__ = (Index("ix_ledger_user_created", "user_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(BigInteger)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    hold_id: Mapped[str | None] = mapped_column(String(40), index=True)
    api_key_id: Mapped[str | None] = mapped_column(String(40))
    model: Mapped[str | None] = mapped_column(String(64))
    seconds: Mapped[float | None] = mapped_column(Float)
    details: Mapped[dict[str, Any] | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebSession(Base):
    """A dashboard login. The cookie holds a random token; only its hash is stored."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the token
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()


class ClientSecret(Base):
    """A short-lived `ek_…` client secret minted for a browser; only its keyed hash is kept."""

    __tablename__ = "client_secrets"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # The API key that minted it (None when minted from a dashboard login); revoking the key
    # revokes its secrets too.
    api_key_id: Mapped[str | None] = mapped_column(String(40))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Session configuration applied to every session opened with this secret.
    session: Mapped[dict[str, Any] | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class RealtimeCall(Base):
    """A WebRTC call: who owns it and which replica runs it (calls live in one process)."""

    __tablename__ = "realtime_calls"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    api_key_id: Mapped[str | None] = mapped_column(String(40))
    model: Mapped[str] = mapped_column(String(64))
    replica: Mapped[str] = mapped_column(String(120))
    status: Mapped[str] = mapped_column(String(16), default="active")  # active|ended
    charged: Mapped[int] = mapped_column(BigInteger, default=0)
    end_reason: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column()


class SipEndpoint(Base):
    """A user's SIP endpoint (issue 19): INVITEs to `sip:{uri_user}@<our host>` are this
    user's calls, announced to `webhook_url` signed with `webhook_secret` (kept in clear: it
    signs every delivery, as OpenAI's webhook secrets do)."""

    __tablename__ = "sip_endpoints"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    uri_user: Mapped[str] = mapped_column(String(64), unique=True)
    webhook_url: Mapped[str] = mapped_column(String(2000))
    webhook_secret: Mapped[str] = mapped_column(String(100))
    # Source addresses or networks (CIDR) INVITEs may come from; None: any.
    allowed_sources: Mapped[list[str] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column()


class AuditEntry(Base):
    """One admin action: who did what to whom, when and from where. Details hold no
    secrets (no keys, passwords or webhook secrets)."""

    __tablename__ = "admin_audit"
    __table_args__ = (Index("ix_admin_audit_target", "target", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_user_id: Mapped[int | None] = mapped_column(Integer, index=True)
    actor_email: Mapped[str] = mapped_column(String(320))
    actor_key_id: Mapped[str | None] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(40), index=True)
    target: Mapped[str] = mapped_column(String(80))
    details: Mapped[dict[str, Any] | None] = mapped_column()
    client_address: Mapped[str | None] = mapped_column(String(64))


class Invite(Base):
    """A sign-up invite code (REALTIME2_SIGNUP=invite): only its SHA-256 is stored."""

    __tablename__ = "invites"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    note: Mapped[str] = mapped_column(String(200), default="")
    created_by: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    used_by: Mapped[int | None] = mapped_column(Integer)
    used_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()

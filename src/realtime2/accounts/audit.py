"""The admin audit log: one row per admin action (who, what, to whom, when, from where).

Details are checked for secrets before they are written: a key, client secret, password or
webhook secret never reaches the log, whatever a caller passes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import select

from realtime2.db.engine import Database
from realtime2.db.models import AuditEntry

MAX_LISTED: Final = 500
_SECRET_NAMES: Final = frozenset({"password", "key", "secret", "webhook_secret", "code", "token"})
_SECRET_VALUE = re.compile(r"(sk-gptr2-|ek_|whsec_)[A-Za-z0-9_+/=-]{6,}")


@dataclass(frozen=True)
class Actor:
    user_id: int
    email: str
    key_id: str | None
    client_address: str | None


def scrub(details: dict[str, Any]) -> dict[str, Any]:
    """`details` with anything secret-looking removed (names and values both)."""
    clean: dict[str, Any] = {}
    for name, value in details.items():
        if name in _SECRET_NAMES:
            clean[name] = "[redacted]"
        elif isinstance(value, str):
            clean[name] = _SECRET_VALUE.sub(r"\1[redacted]", value)
        elif isinstance(value, dict):
            clean[name] = scrub(value)
        else:
            clean[name] = value
    return clean


def entry_json(entry: AuditEntry) -> dict[str, Any]:
    return {
        "object": "realtime2.audit_entry",
        "id": entry.id,
        "created_at": entry.created_at.isoformat(),
        "action": entry.action,
        "actor": {
            "user_id": entry.actor_user_id,
            "email": entry.actor_email,
            "key_id": entry.actor_key_id,
        },
        "target": entry.target,
        "details": entry.details,
        "client_address": entry.client_address,
    }


class AuditLog:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def record(
        self, actor: Actor, action: str, target: str, details: dict[str, Any] | None = None
    ) -> AuditEntry:
        entry = AuditEntry(
            created_at=datetime.now(UTC),
            actor_user_id=actor.user_id,
            actor_email=actor.email,
            actor_key_id=actor.key_id,
            action=action[:40],
            target=target[:80],
            details=scrub(details or {}),
            client_address=(actor.client_address or None) and actor.client_address[:64],
        )
        async with self.db.transaction() as session:
            session.add(entry)
        return entry

    async def list(
        self,
        *,
        limit: int = 100,
        before_id: int | None = None,
        action: str | None = None,
        target: str | None = None,
        actor_user_id: int | None = None,
    ) -> list[AuditEntry]:
        query = select(AuditEntry)
        if before_id is not None:
            query = query.where(AuditEntry.id < before_id)
        if action is not None:
            query = query.where(AuditEntry.action == action)
        if target is not None:
            query = query.where(AuditEntry.target == target)
        if actor_user_id is not None:
            query = query.where(AuditEntry.actor_user_id == actor_user_id)
        query = query.order_by(AuditEntry.id.desc()).limit(min(limit, MAX_LISTED))
        async with self.db.sessions() as session:
            return list(await session.scalars(query))

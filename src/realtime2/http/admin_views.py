"""The JSON of users and keys as the admin and account APIs answer them (docs/admin.md):
never a password hash, a key hash or a webhook secret."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from realtime2.accounts import key_controls
from realtime2.accounts.keys import KeyInfo
from realtime2.accounts.ledger import Balance
from realtime2.accounts.users import status_of
from realtime2.db.models import User
from realtime2.state import Services


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when else None


def user_json(user: User, balance: Balance | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "object": "realtime2.user",
        "id": user.id,
        "email": user.email,
        "role": user.role,
        "status": status_of(user),
        "disabled_at": _iso(user.disabled_at),
        "disabled_reason": user.disabled_reason,
        "created_at": _iso(user.created_at),
        "rpm_limit": user.rpm_limit,
        "max_sessions": user.max_sessions,
        "notifications": {
            "balance_below": user.balance_alert_below,
            "webhook_url": user.notify_url,
        },
    }
    if balance is not None:
        body.update(balance=balance.available, held=balance.held, posted=balance.posted)
    return body


async def key_json(services: Services, key: KeyInfo) -> dict[str, Any]:
    budget = None
    if key.budget_credits is not None:
        now = datetime.now(UTC)

        def read(conn: Any) -> key_controls.Budget | None:
            return key_controls.key_budget(conn, key.id, now, lock=False)[1]

        found = await services.db.run(read, write=False)
        budget = found.json() if found else None
    return {
        "object": "realtime2.api_key",
        "id": key.id,
        "user_id": key.user_id,
        "name": key.name,
        "prefix": key.prefix,
        "created_at": _iso(key.created_at),
        "last_used_at": _iso(key.last_used_at),
        "revoked_at": _iso(key.revoked_at),
        "expires_at": _iso(key.expires_at),
        "allowed_models": key.allowed_models,
        "allowed_origins": key.allowed_origins,
        "budget": budget,
    }


def key_changes(body: dict[str, Any], known_models: frozenset[str]) -> dict[str, Any]:
    """The key controls a PATCH body sets (each checked; null clears it)."""
    changes: dict[str, Any] = {}
    if "expires_at" in body:
        changes["expires_at"] = key_controls.parse_expires_at(body["expires_at"])
    if "allowed_models" in body:
        changes["allowed_models"] = key_controls.parse_models(body["allowed_models"], known_models)
    if "allowed_origins" in body:
        changes["allowed_origins"] = key_controls.parse_origins(body["allowed_origins"])
    if "budget" in body:
        budget = key_controls.parse_budget(body["budget"])
        changes["budget_credits"], changes["budget_period"] = budget or (None, None)
    return changes


KEY_FIELDS = frozenset({"expires_at", "allowed_models", "allowed_origins", "budget"})


def audit_changes(changes: dict[str, Any]) -> dict[str, Any]:
    """The changes as the audit log keeps them (times as text)."""
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in changes.items()}

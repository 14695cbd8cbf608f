"""Account endpoints for programs: who am I, what can I spend, what was I charged; my keys'
controls and my balance notification (docs/admin.md)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Query, Request

from realtime2.accounts.user_admin import UserAdmin
from realtime2.db.models import LedgerEntry, User
from realtime2.edge.auth import Principal
from realtime2.errors import ApiError
from realtime2.http.admin_body import json_body, not_found, optional_int
from realtime2.http.admin_views import KEY_FIELDS, key_changes, key_json
from realtime2.http.auth import CurrentPrincipal
from realtime2.state import services_of

router = APIRouter(tags=["account"])


def entry_json(entry: LedgerEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "kind": entry.kind,
        "amount": entry.amount,
        "model": entry.model,
        "seconds": entry.seconds,
        "api_key_id": entry.api_key_id,
        "hold_id": entry.hold_id,
        "details": entry.details,
        "created_at": entry.created_at.isoformat(),
    }


@router.get("/api/realtime2/me")
async def me(request: Request, principal: CurrentPrincipal) -> dict[str, Any]:
    balance = await services_of(request).ledger.balance(principal.user_id)
    return {
        "object": "realtime2.account",
        "email": principal.email,
        "balance": balance.available,
        "held": balance.held,
        "posted": balance.posted,
        "key_id": principal.key_id,
    }


@router.get("/api/realtime2/usage")
async def usage(
    request: Request,
    principal: CurrentPrincipal,
    limit: int = Query(50, ge=1, le=500),
    before: int | None = Query(None, ge=1, le=2**62),
) -> dict[str, Any]:
    entries = await services_of(request).ledger.entries(
        principal.user_id, limit=limit, before_id=before
    )
    return {"object": "list", "data": [entry_json(e) for e in entries]}


# --- the caller's own keys and notifications (docs/admin.md) --------------------------------

_KEY_ID = re.compile(r"^key_[0-9a-f]{16}$")


async def _may_change_keys(request: Request, principal: Principal) -> None:
    """A key with controls of its own (an expiry, a model list, a budget, origins) must not
    lift them: only a dashboard login or an unrestricted key may change key controls."""
    if principal.key_id is None:
        return
    own = await services_of(request).keys.get(principal.key_id)
    if own is not None and any(
        control is not None
        for control in (
            own.expires_at,
            own.allowed_models,
            own.budget_credits,
            own.allowed_origins,
        )
    ):
        raise ApiError(
            403, "key_restricted", "A key with controls of its own cannot change key controls."
        )


@router.get("/api/realtime2/keys")
async def my_keys(request: Request, principal: CurrentPrincipal) -> dict[str, Any]:
    services = services_of(request)
    keys = await services.keys.list(principal.user_id)
    return {"object": "list", "data": [await key_json(services, k) for k in keys]}


@router.patch("/api/realtime2/keys/{key_id}")
async def control_my_key(
    request: Request, principal: CurrentPrincipal, key_id: str
) -> dict[str, Any]:
    body = await json_body(request, KEY_FIELDS)
    await _may_change_keys(request, principal)
    services = services_of(request)
    changes = key_changes(body, frozenset(services.settings.resolved_rates()))
    key = await services.keys.get(key_id) if _KEY_ID.match(key_id) else None
    if key is None or key.user_id != principal.user_id:
        raise not_found("key")
    return await key_json(services, await services.keys.set_controls(key_id, changes))


@router.get("/api/realtime2/notifications")
async def my_notifications(request: Request, principal: CurrentPrincipal) -> dict[str, Any]:
    user = await services_of(request).users.get(principal.user_id)
    assert user is not None
    return _notifications(user)


@router.put("/api/realtime2/notifications")
async def set_my_notifications(request: Request, principal: CurrentPrincipal) -> dict[str, Any]:
    body = await json_body(request, frozenset({"balance_below"}))
    below = optional_int(body, "balance_below", low=0, high=10**15)
    user = await UserAdmin(services_of(request).db).set_threshold(principal.user_id, below)
    return _notifications(user)


def _notifications(user: User) -> dict[str, Any]:
    return {
        "object": "realtime2.notifications",
        "balance_below": user.balance_alert_below,
        "webhook_url": user.notify_url,
    }

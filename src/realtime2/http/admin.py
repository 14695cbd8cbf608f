"""`/api/admin/users…`: list, search, create, change, disable and enable users; move their
credits; see their keys, running sessions and usage (docs/admin.md). Every change is an
audit-log entry (`accounts.audit`), written once the change has been made."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from realtime2.accounts.admin_credits import IdempotencyConflictError, move_credits
from realtime2.accounts.ledger import InsufficientCreditsError
from realtime2.accounts.running import RunningWork
from realtime2.accounts.user_admin import STATUSES, UserAdmin
from realtime2.accounts.users import ROLES, UserExistsError
from realtime2.calls.webhooks import new_secret
from realtime2.db.models import User
from realtime2.errors import ApiError
from realtime2.http.account import entry_json
from realtime2.http.admin_auth import AdminActor, audit_log
from realtime2.http.admin_body import invalid, json_body, not_found, optional_int, optional_str
from realtime2.http.admin_views import key_json, user_json
from realtime2.http.admin_webhooks import checked_webhook_url
from realtime2.state import services_of

router = APIRouter(prefix="/api/admin", tags=["admin"])
_CREATE = frozenset({"email", "password", "role"})
_PATCH = frozenset({"role", "rpm_limit", "max_sessions", "balance_below", "webhook_url"})
_CREDITS = frozenset({"action", "amount", "reason", "idempotency_key"})
MAX_CREDITS = 10**12


async def _user(request: Request, user_id: int) -> User:
    user = await services_of(request).users.get(user_id)
    if user is None:
        raise not_found("user")
    return user


async def _with_balance(request: Request, user: User) -> dict[str, Any]:
    return user_json(user, await services_of(request).ledger.balance(user.id))


@router.get("/users")
async def list_users(
    request: Request,
    actor: AdminActor,
    q: str = Query("", max_length=320),
    status: str | None = Query(None),
    role: str | None = Query(None),
    limit: int = Query(50, ge=1, le=200),
    after: int = Query(0, ge=0, le=2**62),
) -> dict[str, Any]:
    if status is not None and status not in STATUSES:
        raise invalid("status", "'status' must be active, disabled or pending.")
    if role is not None and role not in ROLES:
        raise invalid("role", "'role' must be user or admin.")
    found = await UserAdmin(services_of(request).db).search(
        query=q, status=status, role=role, after_id=after, limit=limit + 1
    )
    page = found[:limit]
    return {
        "object": "list",
        "data": [user_json(user, balance) for user, balance in page],
        "has_more": len(found) > limit,
        "next_after": page[-1][0].id if len(found) > limit else None,
    }


@router.post("/users", status_code=201)
async def create_user(request: Request, actor: AdminActor) -> dict[str, Any]:
    body = await json_body(request, _CREATE)
    email = optional_str(body, "email", most=320)
    password = optional_str(body, "password", most=1024)
    role = body.get("role", "user")
    if not email:
        raise ApiError(400, "missing_required_parameter", "'email' is required.", param="email")
    if role not in ROLES:
        raise invalid("role", "'role' must be user or admin.")
    try:
        user = await services_of(request).users.create(email, password, role=role)
    except UserExistsError:
        raise ApiError(409, "user_exists", "A user with this email exists.") from None
    except ValueError as exc:
        raise invalid("email" if "email" in str(exc) else "password", str(exc)) from None
    await audit_log(request).record(actor, "user.create", f"user:{user.id}", {"role": role})
    return await _with_balance(request, user)


@router.get("/users/{user_id}")
async def get_user(request: Request, actor: AdminActor, user_id: int) -> dict[str, Any]:
    return await _with_balance(request, await _user(request, user_id))


@router.patch("/users/{user_id}")
async def update_user(request: Request, actor: AdminActor, user_id: int) -> dict[str, Any]:
    body = await json_body(request, _PATCH)
    user = await _user(request, user_id)
    services = services_of(request)
    admin = UserAdmin(services.db)
    answer: dict[str, Any] = {}
    changed: dict[str, Any] = {}
    if "role" in body:
        if body["role"] not in ROLES:
            raise invalid("role", "'role' must be user or admin.")
        if user.id == actor.user_id and body["role"] != "admin":
            raise ApiError(409, "cannot_demote_self", "An admin cannot demote themselves.")
        changed["role"] = body["role"]
    limits: dict[str, int | None] = {
        name: optional_int(body, name, low=0, high=1_000_000)
        for name in ("rpm_limit", "max_sessions")
        if name in body
    }
    below = optional_int(body, "balance_below", low=0, high=10**15)
    url = checked_webhook_url(optional_str(body, "webhook_url", most=2000))
    if "role" in changed:
        await services.users.set_role(user_id, changed["role"])
    if limits:
        # None restores the configured default.
        await services.users.update(user_id, **limits)
        changed.update(limits)
    if "balance_below" in body:
        await admin.set_threshold(user_id, below)
        changed["balance_below"] = below
    if "webhook_url" in body:
        secret = new_secret() if url else None
        await admin.set_webhook(user_id, url, secret)
        changed["webhook_url"] = url
        if secret:
            answer["webhook_secret"] = secret  # shown once
    await audit_log(request).record(actor, "user.update", f"user:{user_id}", changed)
    return {**await _with_balance(request, await _user(request, user_id)), **answer}


@router.post("/users/{user_id}/disable")
async def disable_user(request: Request, actor: AdminActor, user_id: int) -> dict[str, Any]:
    body = await json_body(request, frozenset({"reason"}))
    note = optional_str(body, "reason", most=500)
    await _user(request, user_id)
    if user_id == actor.user_id:
        raise ApiError(409, "cannot_disable_self", "An admin cannot disable themselves.")
    user, stopped = await UserAdmin(services_of(request).db).disable(user_id)
    await audit_log(request).record(
        actor, "user.disable", f"user:{user_id}", {"reason": note, "sessions_stopped": stopped}
    )
    return await _with_balance(request, user)


@router.post("/users/{user_id}/enable")
async def enable_user(request: Request, actor: AdminActor, user_id: int) -> dict[str, Any]:
    before = await _user(request, user_id)
    user = await UserAdmin(services_of(request).db).enable(user_id)
    await audit_log(request).record(
        actor, "user.enable", f"user:{user_id}", {"was": before.disabled_reason}
    )
    return await _with_balance(request, user)


@router.post("/users/{user_id}/credits")
async def move_user_credits(request: Request, actor: AdminActor, user_id: int) -> dict[str, Any]:
    body = await json_body(request, _CREDITS)
    await _user(request, user_id)
    action = body.get("action")
    if action not in ("grant", "deduct", "adjust"):
        raise invalid("action", "'action' must be grant, deduct or adjust.")
    amount = optional_int(body, "amount", low=-MAX_CREDITS, high=MAX_CREDITS)
    reason = optional_str(body, "reason", most=500)
    key = optional_str(body, "idempotency_key", most=100)
    for name, value in (("amount", amount), ("reason", reason), ("idempotency_key", key)):
        if value is None or value == "":
            raise ApiError(400, "missing_required_parameter", f"'{name}' is required.", param=name)
    assert amount is not None and reason and key
    try:
        result = await move_credits(
            services_of(request).ledger,
            user_id,
            action=action,
            amount=amount,
            reason=reason,
            idempotency_key=key,
            actor_user_id=actor.user_id,
        )
    except ValueError as exc:
        if isinstance(exc, IdempotencyConflictError):
            raise ApiError(
                409,
                "idempotency_key_reused",
                "This idempotency_key was used for a different credit movement.",
                param="idempotency_key",
            ) from None
        raise invalid("amount", str(exc)) from None
    except InsufficientCreditsError as exc:
        raise ApiError(
            409,
            "balance_too_low",
            f"Cannot deduct {amount}: {exc.available} available.",
            param="amount",
        ) from None
    if not result.replayed:
        await audit_log(request).record(
            actor,
            f"credits.{action}",
            f"user:{user_id}",
            {"amount": result.amount, "reason": reason, "entry_id": result.entry_id},
        )
    balance = result.balance
    return {
        "object": "realtime2.credit_movement",
        "entry_id": result.entry_id,
        "amount": result.amount,
        "replayed": result.replayed,
        "balance": balance.available,
        "held": balance.held,
        "posted": balance.posted,
    }


@router.get("/users/{user_id}/keys")
async def user_keys(request: Request, actor: AdminActor, user_id: int) -> dict[str, Any]:
    await _user(request, user_id)
    services = services_of(request)
    keys = await services.keys.list(user_id)
    return {"object": "list", "data": [await key_json(services, k) for k in keys]}


@router.get("/users/{user_id}/sessions")
async def user_sessions(
    request: Request, actor: AdminActor, user_id: int, limit: int = Query(100, ge=1, le=500)
) -> dict[str, Any]:
    await _user(request, user_id)
    running = await RunningWork(services_of(request).db).list(user_id, limit=limit)
    return {"object": "list", "data": [r.json() for r in running]}


@router.get("/users/{user_id}/usage")
async def user_usage(
    request: Request,
    actor: AdminActor,
    user_id: int,
    limit: int = Query(50, ge=1, le=500),
    before: int | None = Query(None, ge=1, le=2**62),
) -> dict[str, Any]:
    await _user(request, user_id)
    entries = await services_of(request).ledger.entries(user_id, limit=limit, before_id=before)
    return {
        "object": "list",
        "data": [entry_json(e) for e in entries],
        "next_before": entries[-1].id if len(entries) == limit else None,
    }

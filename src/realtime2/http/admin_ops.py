"""`/api/admin/keys…`, `/api/admin/sessions…`, `/api/admin/audit`, `/api/admin/invites…`:
key controls and revocation, the sessions running now (from the ledger's open holds, so on
every replica) and ending one, the audit log, sign-up invites (docs/admin.md)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from realtime2.accounts.audit import entry_json
from realtime2.accounts.invites import Invites, invite_json
from realtime2.accounts.keys import KeyNotFoundError
from realtime2.accounts.running import RunningWork, kind_of
from realtime2.errors import ApiError
from realtime2.http.admin_auth import AdminActor, audit_log
from realtime2.http.admin_body import json_body, not_found, optional_int, optional_str
from realtime2.http.admin_views import KEY_FIELDS, audit_changes, key_changes, key_json
from realtime2.state import services_of

router = APIRouter(prefix="/api/admin", tags=["admin"])
_KEY_ID = re.compile(r"^key_[0-9a-f]{16}$")
_HOLD_ID = re.compile(r"^hold_[0-9a-f]{24}$")
_INVITE_ID = re.compile(r"^inv_[0-9a-f]{16}$")


def _known_models(request: Request) -> frozenset[str]:
    return frozenset(services_of(request).settings.resolved_rates())


@router.patch("/keys/{key_id}")
async def update_key(request: Request, actor: AdminActor, key_id: str) -> dict[str, Any]:
    body = await json_body(request, KEY_FIELDS)
    changes = key_changes(body, _known_models(request))
    services = services_of(request)
    try:
        if not _KEY_ID.match(key_id):
            raise KeyNotFoundError(key_id)
        key = await services.keys.set_controls(key_id, changes)
    except KeyNotFoundError:
        raise not_found("key") from None
    await audit_log(request).record(actor, "key.update", f"key:{key_id}", audit_changes(changes))
    return await key_json(services, key)


@router.post("/keys/{key_id}/revoke")
async def revoke_key(request: Request, actor: AdminActor, key_id: str) -> dict[str, Any]:
    services = services_of(request)
    try:
        if not _KEY_ID.match(key_id):
            raise KeyNotFoundError(key_id)
        key = await services.keys.revoke(key_id)
    except KeyNotFoundError:
        raise not_found("key") from None
    await audit_log(request).record(actor, "key.revoke", f"key:{key_id}", {"user": key.user_id})
    return await key_json(services, key)


@router.get("/sessions")
async def all_sessions(
    request: Request, actor: AdminActor, limit: int = Query(100, ge=1, le=500)
) -> dict[str, Any]:
    running = await RunningWork(services_of(request).db).list(limit=limit)
    return {"object": "list", "data": [r.json() for r in running]}


@router.post("/sessions/{hold_id}/end")
async def end_session(request: Request, actor: AdminActor, hold_id: str) -> dict[str, Any]:
    work = RunningWork(services_of(request).db)
    running = await work.get(hold_id) if _HOLD_ID.match(hold_id) else None
    if running is None:
        raise not_found("running session")
    if kind_of(running.reference) == "request":
        # An HTTP request's hold is not renewed by a meter that could hear the request.
        raise ApiError(409, "not_a_session", "This hold is an HTTP request, not a session.")
    if not await work.request_stop(hold_id, "session_ended"):
        raise not_found("running session")
    await audit_log(request).record(
        actor,
        "session.end",
        f"session:{hold_id}",
        {"user": running.user_id, "reference": running.reference, "model": running.model},
    )
    ended = await work.get(hold_id)
    return (ended or running).json()


@router.get("/audit")
async def audit(
    request: Request,
    actor: AdminActor,
    limit: int = Query(100, ge=1, le=500),
    before: int | None = Query(None, ge=1, le=2**62),
    action: str | None = Query(None, max_length=40),
    target: str | None = Query(None, max_length=80),
    actor_id: int | None = Query(None, alias="actor", ge=1, le=2**62),
) -> dict[str, Any]:
    entries = await audit_log(request).list(
        limit=limit, before_id=before, action=action, target=target, actor_user_id=actor_id
    )
    return {
        "object": "list",
        "data": [entry_json(e) for e in entries],
        "next_before": entries[-1].id if len(entries) == limit else None,
    }


@router.post("/invites", status_code=201)
async def create_invite(request: Request, actor: AdminActor) -> dict[str, Any]:
    body = await json_body(request, frozenset({"note", "expires_in_days"}))
    note = optional_str(body, "note", most=200) or ""
    days = optional_int(body, "expires_in_days", low=1, high=90) or 14
    made = await Invites(services_of(request).db).create(actor.user_id, note=note, days=days)
    await audit_log(request).record(
        actor, "invite.create", f"invite:{made.invite.id}", {"note": note, "days": days}
    )
    return {**invite_json(made.invite), "code": made.code}


@router.get("/invites")
async def list_invites(
    request: Request, actor: AdminActor, limit: int = Query(100, ge=1, le=500)
) -> dict[str, Any]:
    invites = await Invites(services_of(request).db).list(limit=limit)
    return {"object": "list", "data": [invite_json(i) for i in invites]}


@router.delete("/invites/{invite_id}")
async def revoke_invite(request: Request, actor: AdminActor, invite_id: str) -> Response:
    try:
        if not _INVITE_ID.match(invite_id):
            raise LookupError(invite_id)
        invite = await Invites(services_of(request).db).revoke(invite_id)
    except LookupError:
        raise not_found("invite") from None
    if invite.used_at is not None:
        raise ApiError(409, "invite_used", "This invite was used already.")
    await audit_log(request).record(actor, "invite.revoke", f"invite:{invite_id}", {})
    return Response(status_code=204)

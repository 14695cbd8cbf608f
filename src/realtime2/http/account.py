"""Account endpoints for programs: who am I, what can I spend, what was I charged."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from realtime2.db.models import LedgerEntry
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

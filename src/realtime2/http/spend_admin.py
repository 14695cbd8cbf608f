"""`GET /api/admin/reports/spend`: every user's spend by user, API key, model or day, for
admins (JSON pages or CSV), from the ledger like the users' own report (`http.spend`)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from realtime2.errors import invalid_request
from realtime2.http.admin_auth import require_admin
from realtime2.http.spend import answer, parse_query

router = APIRouter(tags=["admin"], dependencies=[Depends(require_admin)])


def _user_id(request: Request) -> int | None:
    values = request.query_params.getlist("user_id")
    if not values:
        return None
    if len(values) > 1 or not values[0].isdigit() or len(values[0]) > 18:
        raise invalid_request("`user_id` must be one user id.", param="user_id")
    return int(values[0])


@router.get("/api/admin/reports/spend")
async def spend_report(request: Request) -> Response:
    """Spend over UTC days `from`..`to` (at most a year; the last 30 by default), grouped by
    `group_by` (user, key, model, day); `user_id`, `key_id`, `model` narrow it."""
    query, csv_export = parse_query(
        request,
        groups=("user", "key", "model", "day"),
        user_id=_user_id(request),
        extra=("user_id",),
    )
    return await answer(request, query, csv_export=csv_export, name="admin-spend")

"""Spend reports over HTTP: a user's own (`GET /api/realtime2/usage/report`), as JSON pages
or a CSV download. The admin report (`http.spend_admin`) shares the parsing and the
answers here; the figures come from `accounts.spend`, i.e. from the ledger.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator, Collection
from datetime import date, timedelta
from typing import Any, cast

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from realtime2.accounts.spend import (
    GROUPS,
    MAX_DAYS,
    Group,
    ReportError,
    SpendPage,
    SpendQuery,
    SpendReports,
    SpendRow,
)
from realtime2.errors import invalid_request
from realtime2.http.auth import CurrentPrincipal
from realtime2.state import services_of

router = APIRouter(tags=["account"])

DEFAULT_DAYS = 30
DEFAULT_LIMIT = 100
CSV_PAGE = 1000
# Parameters every report takes; an admin report also takes `user_id`.
COMMON_PARAMS = frozenset({"group_by", "from", "to", "format", "limit", "after", "key_id", "model"})
_CSV_COLUMNS = (
    "group",
    "user_id",
    "email",
    "key_prefix",
    "key_name",
    "credits",
    "seconds",
    "charges",
)
# A spreadsheet runs a cell starting with one of these as a formula; key names and emails
# are chosen by users, so such a cell is written as text (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def reports(request: Request) -> SpendReports:
    services = services_of(request)
    return SpendReports(services.db, clock=services.ledger.clock)


def _one(request: Request, name: str) -> str | None:
    values = request.query_params.getlist(name)
    if len(values) > 1:
        raise invalid_request(f"`{name}` is given more than once.", param=name)
    return values[0] if values else None


def _day(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        if not _DAY.fullmatch(value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise invalid_request(f"`{name}` must be a UTC day, YYYY-MM-DD.", param=name) from None


def _days_before(day: date, days: int) -> date:
    try:
        return day - timedelta(days=days)
    except OverflowError:
        return date.min


def _limit(value: str | None) -> int:
    if value is None:
        return DEFAULT_LIMIT
    if not value.isdigit() or len(value) > 6:
        raise invalid_request("`limit` must be a whole number.", param="limit")
    return int(value)


def parse_query(
    request: Request,
    *,
    groups: Collection[Group],
    user_id: int | None,
    extra: Collection[str] = (),
) -> tuple[SpendQuery, bool]:
    """The report a request asks for and whether it wants CSV. Unknown or repeated
    parameters are refused by name, so none is silently ignored."""
    allowed = COMMON_PARAMS | set(extra)
    for name in request.query_params:
        if name not in allowed:
            raise invalid_request(f"Unknown parameter `{name}`.", param=name)
    group_by = _one(request, "group_by") or "day"
    if group_by not in groups:
        raise invalid_request(
            f"group_by must be one of {', '.join(g for g in GROUPS if g in groups)}.",
            param="group_by",
        )
    fmt = _one(request, "format") or "json"
    if fmt not in ("json", "csv"):
        raise invalid_request("format must be json or csv.", param="format")
    if fmt == "csv" and _one(request, "limit") is not None:
        # A CSV is the whole report (from `after` on), streamed page by page.
        raise invalid_request("A CSV export has no `limit`: it holds every group.", param="limit")
    end = _day(_one(request, "to"), "to") or reports(request).today()
    start = _day(_one(request, "from"), "from") or _days_before(end, DEFAULT_DAYS - 1)
    key_id, model = _one(request, "key_id"), _one(request, "model")
    for name, value in (("key_id", key_id), ("model", model)):
        if value is not None and not 0 < len(value) <= 64:
            raise invalid_request(f"`{name}` must be 1 to 64 characters.", param=name)
    try:
        query = SpendQuery(
            cast(Group, group_by),  # checked against `groups` above
            start,
            end,
            user_id=user_id,
            key_id=key_id,
            model=model,
            after=_one(request, "after"),
            limit=CSV_PAGE if fmt == "csv" else _limit(_one(request, "limit")),
        )
    except ReportError as exc:
        raise invalid_request(str(exc), param=exc.param) from None
    return query, fmt == "csv"


def row_json(group_by: Group, row: SpendRow) -> dict[str, Any]:
    body: dict[str, Any]
    if group_by == "day":
        body = {"day": row.group}
    elif group_by == "model":
        body = {"model": row.group}
    elif group_by == "key":
        body = {
            "key_id": row.group or None,  # None: spent from a dashboard login
            "key_prefix": row.key_prefix,
            "key_name": row.key_name,
            "user_id": row.user_id,
            "email": row.email,
        }
    else:
        body = {"user_id": row.user_id, "email": row.email}
    return {**body, "credits": row.credits, "seconds": row.seconds, "charges": row.charges}


def page_json(query: SpendQuery, page: SpendPage) -> dict[str, Any]:
    return {
        "object": "realtime2.spend_report",
        "group_by": query.group_by,
        "from": query.start.isoformat(),
        "to": query.end.isoformat(),
        "total": {
            "credits": page.total.credits,
            "seconds": page.total.seconds,
            "charges": page.total.charges,
        },
        "data": [row_json(query.group_by, row) for row in page.rows],
        "has_more": page.has_more,
        "next_after": page.rows[-1].group if page.has_more and page.rows else None,
    }


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


async def _csv_lines(store: SpendReports, query: SpendQuery) -> AsyncIterator[bytes]:
    header = io.StringIO()
    csv.writer(header).writerow(_CSV_COLUMNS)
    yield header.getvalue().encode()
    async for page in store.pages(query):
        out = io.StringIO()
        writer = csv.writer(out)
        for row in page.rows:
            writer.writerow(
                _cell(v)
                for v in (
                    row.group,
                    row.user_id,
                    row.email,
                    row.key_prefix,
                    row.key_name,
                    row.credits,
                    row.seconds,
                    row.charges,
                )
            )
        yield out.getvalue().encode()


async def answer(request: Request, query: SpendQuery, *, csv_export: bool, name: str) -> Response:
    """The report as JSON (one page) or as a streamed CSV of every page."""
    store = reports(request)
    if not csv_export:
        return JSONResponse(page_json(query, await store.report(query)))
    filename = f"realtime2-{name}-{query.group_by}-{query.start}-{query.end}.csv"
    return StreamingResponse(
        _csv_lines(store, query),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/api/realtime2/usage/report")
async def usage_report(request: Request, principal: CurrentPrincipal) -> Response:
    """The caller's own spend by day, API key or model (`?group_by=`, `from`, `to`: UTC
    days, at most a year; `format=csv` downloads it)."""
    query, csv_export = parse_query(
        request, groups=("day", "key", "model"), user_id=principal.user_id
    )
    return await answer(request, query, csv_export=csv_export, name="spend")


__all__ = ["MAX_DAYS", "answer", "parse_query", "router"]

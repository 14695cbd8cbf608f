"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from realtime2.state import services_of

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    services = services_of(request)
    database = await services.db.ping()
    engines: dict[str, Any] = {}
    engines_ready = True
    if services.engines is not None:
        engines = services.engines.status()
        engines_ready = bool(services.engines.ready)
    draining = request.app.state.session_slots.draining  # shutting down: send no more work
    ready = database and engines_ready and not draining
    body = {"ready": ready, "database": "ok" if database else "unreachable", "engines": engines}
    if draining:
        body["draining"] = True
    return JSONResponse(body, status_code=200 if ready else 503)

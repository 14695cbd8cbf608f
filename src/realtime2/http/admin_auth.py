"""Who may use `/api/admin/…`: an admin user, by API key or dashboard login (cookie writes
carry the CSRF token: `http.auth`). Anyone else authenticated gets 403 `admin_required`.

The role is read from the database on every admin request, so demoting or disabling an
admin takes effect at once, on every replica."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from realtime2.accounts.audit import Actor, AuditLog
from realtime2.edge.auth import Principal
from realtime2.errors import ApiError
from realtime2.http.auth import require_principal
from realtime2.http.dashboard_web import client_ip
from realtime2.state import services_of


async def require_admin(
    request: Request, principal: Annotated[Principal, Depends(require_principal)]
) -> Actor:
    user = await services_of(request).users.get(principal.user_id)
    if user is None or user.role != "admin" or user.disabled_at is not None:
        raise ApiError(403, "admin_required", "This endpoint is for admins only.")
    return Actor(user.id, user.email, principal.key_id, client_ip(request))


AdminActor = Annotated[Actor, Depends(require_admin)]


def audit_log(request: Request) -> AuditLog:
    return AuditLog(services_of(request).db)

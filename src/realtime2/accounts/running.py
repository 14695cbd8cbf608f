"""The work running now, read from the ledger: every open, unexpired hold is a session,
call or request in progress on some replica. Ending one sets the hold's `stop_reason`;
the meter that renews it stops at its next renewal and settles the seconds used
(`accounts.metering`), so ending works on every replica without reaching the process."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, cast

from sqlalchemy import Table, Update, select, update

from realtime2.db.engine import Database
from realtime2.db.models import Hold

MAX_LISTED: Final = 500
_holds = cast(Table, Hold.__table__)
_KINDS: Final = (("rtc_", "call"), ("rt_", "realtime"), ("tr_", "translation"))


def kind_of(reference: str) -> str:
    return next((kind for prefix, kind in _KINDS if reference.startswith(prefix)), "request")


@dataclass(frozen=True)
class Running:
    id: str
    user_id: int
    api_key_id: str | None
    model: str
    reference: str
    reserved: int
    used: int
    captured: int
    started_at: datetime
    expires_at: datetime
    stop_reason: str | None

    def json(self) -> dict[str, Any]:
        return {
            "object": "realtime2.session",
            "id": self.id,
            "user_id": self.user_id,
            "api_key_id": self.api_key_id,
            "model": self.model,
            "reference": self.reference,
            "kind": kind_of(self.reference),
            "reserved": self.reserved,
            "used": self.used,
            "captured": self.captured,
            "started_at": self.started_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "stop_requested": self.stop_reason,
        }


def _running(r: Any) -> Running:
    return Running(
        r.id,
        r.user_id,
        r.api_key_id,
        r.model,
        r.reference,
        r.amount,
        r.used,
        r.captured,
        r.created_at,
        r.expires_at,
        r.stop_reason,
    )


class RunningWork:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def list(self, user_id: int | None = None, *, limit: int = 100) -> list[Running]:
        """Open, unexpired holds, newest first (of one user, or everyone's)."""
        query = select(_holds).where(
            _holds.c.status == "open", _holds.c.expires_at > datetime.now(UTC)
        )
        if user_id is not None:
            query = query.where(_holds.c.user_id == user_id)
        query = query.order_by(_holds.c.created_at.desc()).limit(min(limit, MAX_LISTED))
        return await self.db.run(
            lambda conn: [_running(r) for r in conn.execute(query)], write=False
        )

    async def get(self, hold_id: str) -> Running | None:
        """The hold if it is still open."""
        query = select(_holds).where(_holds.c.id == hold_id, _holds.c.status == "open")
        rows = await self.db.run(
            lambda conn: [_running(r) for r in conn.execute(query)], write=False
        )
        return rows[0] if rows else None

    async def request_stop(self, hold_id: str, reason: str) -> bool:
        """Ask the owner of this open hold to end its work; False when it is not open."""
        statement = (
            update(_holds)
            .where(_holds.c.id == hold_id, _holds.c.status == "open")
            .values(stop_reason=reason)
        )
        return await self.db.run(lambda conn: conn.execute(statement).rowcount > 0, write=True)


def stop_users_holds(user_id: int, reason: str) -> Update:
    """The statement asking every open hold of the user to stop (run in the caller's
    transaction)."""
    return (
        update(_holds)
        .where(_holds.c.user_id == user_id, _holds.c.status == "open")
        .values(stop_reason=reason)
    )

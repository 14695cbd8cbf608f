"""The ledger audit after faults: settle what dead processes left open, then prove the
books are exact.

Holds of a killed process stop being renewed; the sweeper (`Ledger.expire_holds`) settles
them once their TTL passes, capturing the usage they recorded and releasing the rest. The
audit runs it with a clock past every TTL (no waiting), then checks every hold and user.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import func, select

from realtime2.accounts.ledger import Ledger
from realtime2.accounts.ledger_reads import now_utc
from realtime2.db.engine import Database
from realtime2.db.models import Hold, LedgerEntry, User


@dataclass
class AuditResult:
    holds: int = 0
    swept: int = 0
    users: int = 0
    recorded_usage: int = 0  # sum of what every hold recorded as used
    captured: int = 0  # sum of capture entries in the ledger
    problems: list[str] = field(default_factory=list)


async def audit(url: str, *, ttl_seconds: float = 3600) -> AuditResult:
    db = Database(url)
    result = AuditResult()
    try:
        later = Ledger(db, clock=lambda: now_utc() + timedelta(seconds=ttl_seconds))
        while swept := await later.expire_holds(limit=500):
            result.swept += swept
        ledger = Ledger(db)
        async with db.sessions() as session:
            holds = list(await session.scalars(select(Hold)))
            captures = dict(
                (
                    await session.execute(
                        select(LedgerEntry.hold_id, func.sum(LedgerEntry.amount))
                        .where(LedgerEntry.kind == "capture")
                        .group_by(LedgerEntry.hold_id)
                    )
                ).all()
            )
            user_ids = list(await session.scalars(select(User.id)))
        result.holds = len(holds)
        for hold in holds:
            charged = int(captures.get(hold.id, 0) or 0)
            result.recorded_usage += hold.used
            result.captured += charged
            if hold.status == "open":
                result.problems.append(f"hold {hold.id} still open")
            if hold.amount != 0:
                result.problems.append(f"hold {hold.id} keeps {hold.amount} reserved")
            if charged != hold.captured:
                result.problems.append(f"hold {hold.id}: entries {charged} != {hold.captured}")
            if charged != hold.used:
                # Charged exactly what was recorded as used: not less, never twice.
                result.problems.append(f"hold {hold.id}: charged {charged}, used {hold.used}")
        for user_id in user_ids:
            projection, sums = await ledger.reconcile(user_id)
            result.users += 1
            if projection != sums:
                result.problems.append(f"user {user_id}: {projection} != {sums}")
    finally:
        await db.dispose()
    return result

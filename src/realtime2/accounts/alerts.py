"""Finding the notifications to send: a user's balance below their threshold
(`balance.low`) and a key's budget spent for its period (`key.budget_exhausted`).

Read from the ledger's projections, never counted on the side. Each crossing is claimed
with a conditional UPDATE (disarm the user's alert; record the period a key was alerted
for), so when several replicas look at once exactly one of them gets it: once per
crossing, not per request. A user's alert re-arms when their balance is back at the
threshold or above."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, cast

from sqlalchemy import Connection, Table, or_, select, update

from realtime2.accounts import key_controls
from realtime2.db.engine import Database
from realtime2.db.models import ApiKey, CreditAccount, User

BATCH: Final = 100
# Only keys used this recently are summed: spending needs a hold, a hold needs the key (or a
# client secret it minted, which lives at most 2 h) within a session's 60 minutes.
ACTIVE_WITHIN: Final = timedelta(hours=4)
_users = cast(Table, User.__table__)
_accounts = cast(Table, CreditAccount.__table__)
_keys = cast(Table, ApiKey.__table__)
_available = _accounts.c.posted - _accounts.c.held


@dataclass(frozen=True)
class Alert:
    type: str  # balance.low | key.budget_exhausted
    user_id: int
    email: str
    notify_url: str | None
    notify_secret: str | None
    data: dict[str, Any]


def _rearm(conn: Connection) -> None:
    users_above = (
        select(_accounts.c.user_id)
        .where(_accounts.c.user_id == _users.c.id, _available >= _users.c.balance_alert_below)
        .exists()
    )
    conn.execute(
        update(_users)
        .where(
            _users.c.balance_alert_below.is_not(None),
            _users.c.balance_alert_armed.is_(False),
            users_above,
        )
        .values(balance_alert_armed=True)
    )


def _low_balances(conn: Connection) -> list[Alert]:
    query = (
        select(
            _users.c.id,
            _users.c.email,
            _users.c.notify_url,
            _users.c.notify_secret,
            _users.c.balance_alert_below,
            _available.label("available"),
        )
        .join(_accounts, _accounts.c.user_id == _users.c.id)
        .where(
            _users.c.balance_alert_below.is_not(None),
            _users.c.balance_alert_armed.is_(True),
            _available < _users.c.balance_alert_below,
        )
        .limit(BATCH)
    )
    alerts = []
    for row in conn.execute(query).all():
        claimed = conn.execute(
            update(_users)
            .where(_users.c.id == row.id, _users.c.balance_alert_armed.is_(True))
            .values(balance_alert_armed=False)
        )
        if claimed.rowcount:
            data = {
                "user_id": row.id,
                "email": row.email,
                "balance": int(row.available),
                "threshold": int(row.balance_alert_below),
            }
            alerts.append(
                Alert("balance.low", row.id, row.email, row.notify_url, row.notify_secret, data)
            )
    return alerts


def _spent_budgets(conn: Connection, now: datetime) -> list[Alert]:
    query = (
        select(
            _keys.c.id,
            _keys.c.budget_period,
            _keys.c.budget_alerted_for,
            _users.c.id.label("user_id"),
            _users.c.email,
            _users.c.notify_url,
            _users.c.notify_secret,
        )
        .join(_users, _users.c.id == _keys.c.user_id)
        .where(
            _keys.c.budget_credits.is_not(None),
            _keys.c.revoked_at.is_(None),
            _keys.c.last_used_at >= now - ACTIVE_WITHIN,
        )
    )
    alerts = []
    for row in conn.execute(query).all():
        since = key_controls.period_start(row.budget_period or "total", now)
        if row.budget_alerted_for is not None and row.budget_alerted_for >= since:
            continue  # this period was notified
        _, budget = key_controls.key_budget(conn, row.id, now, lock=False)
        if budget is None or budget.remaining > 0:
            continue
        claimed = conn.execute(
            update(_keys)
            .where(
                _keys.c.id == row.id,
                or_(_keys.c.budget_alerted_for.is_(None), _keys.c.budget_alerted_for < since),
            )
            .values(budget_alerted_for=since)
        )
        if claimed.rowcount:
            data = {"user_id": row.user_id, "api_key_id": row.id, "budget": budget.json()}
            alerts.append(
                Alert(
                    "key.budget_exhausted",
                    row.user_id,
                    row.email,
                    row.notify_url,
                    row.notify_secret,
                    data,
                )
            )
        if len(alerts) >= BATCH:
            break
    return alerts


async def due_alerts(db: Database, now: datetime) -> list[Alert]:
    """Claim and return the notifications due now (one transaction)."""

    def claim(conn: Connection) -> list[Alert]:
        _rearm(conn)
        return _low_balances(conn) + _spent_budgets(conn, now)

    return await db.run(claim, write=True)

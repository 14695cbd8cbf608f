"""What an admin does to users beyond `Users`: search, disable and enable, notification
settings. Disabling is one transaction that marks the user and asks every open hold of
theirs to stop (`accounts.running`): their keys, client secrets and logins are refused at
the next request, and their running sessions end at the next renewal, on every replica."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from sqlalchemy import select

from realtime2.accounts.ledger_results import Balance
from realtime2.accounts.running import stop_users_holds
from realtime2.accounts.users import PENDING
from realtime2.db.engine import Database
from realtime2.db.models import CreditAccount, User

MAX_PAGE: Final = 200
STATUSES: Final = ("active", "disabled", "pending")


class UserAdmin:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def search(
        self,
        *,
        query: str = "",
        status: str | None = None,
        role: str | None = None,
        after_id: int = 0,
        limit: int = 50,
    ) -> list[tuple[User, Balance]]:
        """Users by id after `after_id` (keyset paging: stable while users are added), with
        their balances, in one query; at most MAX_PAGE + 1 (the caller's "has more")."""
        statement = (
            select(User, CreditAccount.posted, CreditAccount.held)
            .outerjoin(CreditAccount, CreditAccount.user_id == User.id)
            .where(User.id > after_id)
        )
        if query:
            pattern = query.strip().lower()[:320]
            statement = statement.where(User.email.contains(pattern, autoescape=True))
        if status == "active":
            statement = statement.where(User.disabled_at.is_(None))
        elif status == "disabled":
            statement = statement.where(
                User.disabled_at.is_not(None),
                (User.disabled_reason.is_(None)) | (User.disabled_reason != PENDING),
            )
        elif status == "pending":
            statement = statement.where(
                User.disabled_at.is_not(None), User.disabled_reason == PENDING
            )
        if role is not None:
            statement = statement.where(User.role == role)
        statement = statement.order_by(User.id).limit(min(max(1, limit), MAX_PAGE + 1))
        async with self.db.sessions() as session:
            rows = (await session.execute(statement)).all()
        return [(user, Balance(posted or 0, held or 0)) for user, posted, held in rows]

    async def disable(self, user_id: int, reason: str = "admin") -> tuple[User, int]:
        """Disable the user; returns it and how many running holds were asked to stop."""
        async with self.db.transaction() as session:
            user = await session.get(User, user_id, with_for_update=True)
            if user is None:
                raise LookupError(user_id)
            if user.disabled_at is None or user.disabled_reason == PENDING:
                user.disabled_at, user.disabled_reason = datetime.now(UTC), reason
            result = await session.execute(stop_users_holds(user_id, "account_disabled"))
            return user, int(getattr(result, "rowcount", 0) or 0)

    async def enable(self, user_id: int) -> User:
        async with self.db.transaction() as session:
            user = await session.get(User, user_id, with_for_update=True)
            if user is None:
                raise LookupError(user_id)
            user.disabled_at, user.disabled_reason = None, None
            return user

    async def set_threshold(self, user_id: int, below: int | None) -> User:
        """The `balance.low` threshold (None: none); a new one re-arms the notification."""
        async with self.db.transaction() as session:
            user = await session.get(User, user_id, with_for_update=True)
            if user is None:
                raise LookupError(user_id)
            user.balance_alert_below, user.balance_alert_armed = below, True
            return user

    async def set_webhook(self, user_id: int, url: str | None, secret: str | None) -> User:
        """The user's notification webhook and its signing secret (None: none)."""
        async with self.db.transaction() as session:
            user = await session.get(User, user_id, with_for_update=True)
            if user is None:
                raise LookupError(user_id)
            user.notify_url, user.notify_secret = url, secret if url else None
            return user

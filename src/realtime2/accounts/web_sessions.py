"""Dashboard login sessions: a random token in a cookie, its SHA-256 in the database."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select

from realtime2.db.engine import Database
from realtime2.db.models import User, WebSession

SESSION_TTL = timedelta(hours=12)


@dataclass(frozen=True)
class LoginSession:
    user_id: int
    email: str
    csrf_token: str


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class WebSessions:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(self, user_id: int) -> tuple[str, LoginSession]:
        """Returns the cookie token (never stored) and the session."""
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(24)
        now = datetime.now(UTC)
        async with self.db.transaction() as session:
            user = await session.get(User, user_id)
            if user is None:
                raise LookupError(user_id)
            session.add(
                WebSession(
                    id=_digest(token),
                    user_id=user_id,
                    csrf_token=csrf,
                    created_at=now,
                    expires_at=now + SESSION_TTL,
                )
            )
            return token, LoginSession(user_id, user.email, csrf)

    async def lookup(self, token: str) -> LoginSession | None:
        if not token or len(token) > 256:
            return None
        async with self.db.sessions() as session:
            row = (
                await session.execute(
                    select(WebSession, User.email, User.disabled_at)
                    .join(User, User.id == WebSession.user_id)
                    .where(WebSession.id == _digest(token))
                )
            ).first()
        if row is None:
            return None
        web_session, email, disabled_at = row
        if web_session.expires_at <= datetime.now(UTC) or disabled_at is not None:
            return None
        return LoginSession(web_session.user_id, email, web_session.csrf_token)

    async def delete(self, token: str) -> None:
        async with self.db.transaction() as session:
            await session.execute(delete(WebSession).where(WebSession.id == _digest(token)))

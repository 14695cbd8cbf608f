"""Sign-up invite codes (REALTIME2_SIGNUP=invite): made by admins, shown once, each makes
one user. Only the code's SHA-256 is stored; redeeming it and creating the user are one
transaction, so one code never makes two users even when two sign-ups race."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from realtime2.accounts.users import UserExistsError
from realtime2.db.engine import Database
from realtime2.db.models import CreditAccount, Invite, User

PREFIX: Final = "inv-"
MAX_LISTED: Final = 500


class InviteError(ValueError):
    """The code is unknown, used, revoked or expired."""


def _digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def invite_json(invite: Invite) -> dict[str, Any]:
    if invite.revoked_at is not None:
        status = "revoked"
    elif invite.used_at is not None:
        status = "used"
    elif invite.expires_at <= datetime.now(UTC):
        status = "expired"
    else:
        status = "open"
    return {
        "object": "realtime2.invite",
        "id": invite.id,
        "note": invite.note,
        "status": status,
        "created_by": invite.created_by,
        "created_at": invite.created_at.isoformat(),
        "expires_at": invite.expires_at.isoformat(),
        "used_by": invite.used_by,
        "used_at": invite.used_at.isoformat() if invite.used_at else None,
    }


@dataclass(frozen=True)
class NewInvite:
    invite: Invite
    code: str  # shown once


class Invites:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(self, created_by: int, *, note: str = "", days: int = 14) -> NewInvite:
        code = PREFIX + secrets.token_urlsafe(18)
        now = datetime.now(UTC)
        invite = Invite(
            id=f"inv_{secrets.token_hex(8)}",
            code_hash=_digest(code),
            note=note[:200],
            created_by=created_by,
            created_at=now,
            expires_at=now + timedelta(days=days),
        )
        async with self.db.transaction() as session:
            session.add(invite)
        return NewInvite(invite, code)

    async def list(self, *, limit: int = 100) -> list[Invite]:
        query = select(Invite).order_by(Invite.created_at.desc()).limit(min(limit, MAX_LISTED))
        async with self.db.sessions() as session:
            return list(await session.scalars(query))

    async def revoke(self, invite_id: str) -> Invite:
        async with self.db.transaction() as session:
            invite = await session.get(Invite, invite_id, with_for_update=True)
            if invite is None:
                raise LookupError(invite_id)
            if invite.used_at is None and invite.revoked_at is None:
                invite.revoked_at = datetime.now(UTC)
            return invite

    async def redeem(self, code: str, user: User) -> None:
        """Add `user` (a new, not yet flushed User) with its account, spending the code,
        in one transaction; InviteError when the code cannot be used."""
        if not code.startswith(PREFIX) or len(code) > 100:
            raise InviteError("unknown invite code")
        now = datetime.now(UTC)
        async with self.db.transaction() as session:
            invite = await session.scalar(
                select(Invite).where(Invite.code_hash == _digest(code)).with_for_update()
            )
            if invite is None or invite.revoked_at is not None or invite.expires_at <= now:
                raise InviteError("unknown or expired invite code")
            session.add(user)
            try:
                await session.flush()
            except IntegrityError:  # the email was taken meanwhile
                raise UserExistsError(user.email) from None
            # The conditional update is what spends the code: a racing redeem finds it used.
            spent = await session.execute(
                update(Invite)
                .where(Invite.id == invite.id, Invite.used_at.is_(None))
                .values(used_at=now, used_by=user.id)
            )
            if not getattr(spent, "rowcount", 0):
                raise InviteError("this invite code was used already")
            session.add(CreditAccount(user_id=user.id, posted=0, held=0))

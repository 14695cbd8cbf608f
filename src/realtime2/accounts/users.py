"""Users: create, look up, and check dashboard passwords (argon2id)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select

from realtime2.db.engine import Database
from realtime2.db.models import CreditAccount, User

ROLES = ("user", "admin")
PENDING = "pending_approval"  # disabled_reason of a sign-up waiting for approval
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}$")
_T = TypeVar("_T")
_hasher = PasswordHasher()
# Verifying against this keeps the time for unknown emails the same as for known ones.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


class UserExistsError(ValueError):
    pass


class UnknownUserError(LookupError):
    def __init__(self, email: str) -> None:
        super().__init__(f"no user with email {email!r}")
        self.email = email


def normalize_email(email: str) -> str:
    email = email.strip().lower()
    if not _EMAIL.match(email):
        raise ValueError(f"not an email address: {email!r}")
    return email


def hash_password(password: str) -> str:
    if len(password) < 8:
        raise ValueError("password must be at least 8 characters")
    if len(password) > 1024:
        raise ValueError("password is too long")
    return _hasher.hash(password)


def _verify(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


class Users:
    def __init__(self, db: Database, password_checks_at_once: int = 2) -> None:
        self.db = db
        # argon2 takes most of a second of CPU and 64 MiB per check: on the event loop one
        # login would stall every live session, and unbounded threads would let a burst of
        # logins take every core. So checks run in threads, this many at a time.
        self._argon2_slots = asyncio.Semaphore(password_checks_at_once)

    async def _argon2(self, fn: Callable[..., _T], *args: str) -> _T:
        async with self._argon2_slots:
            return await asyncio.to_thread(fn, *args)

    async def create(
        self,
        email: str,
        password: str | None = None,
        *,
        role: str = "user",
        pending: bool = False,
    ) -> User:
        """A new user; `pending` creates it disabled, waiting for an admin's approval."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        email = normalize_email(email)
        password_hash = (
            await self._argon2(hash_password, password) if password is not None else None
        )
        async with self.db.transaction() as session:
            exists = await session.scalar(select(User.id).where(User.email == email))
            if exists is not None:
                raise UserExistsError(f"user {email} already exists")
            user = User(email=email, password_hash=password_hash, role=role)
            if pending:
                user.disabled_at, user.disabled_reason = datetime.now(UTC), PENDING
            session.add(user)
            await session.flush()
            session.add(CreditAccount(user_id=user.id, posted=0, held=0))
            return user

    async def hash(self, password: str) -> str:
        """The password's argon2id hash (in a thread, bounded like checks)."""
        return await self._argon2(hash_password, password)

    async def get(self, user_id: int) -> User | None:
        async with self.db.sessions() as session:
            return await session.get(User, user_id)

    async def by_email(self, email: str) -> User | None:
        async with self.db.sessions() as session:
            return await session.scalar(select(User).where(User.email == email.strip().lower()))

    async def require(self, email: str) -> User:
        user = await self.by_email(email)
        if user is None:
            raise UnknownUserError(email)
        return user

    async def count(self) -> int:
        async with self.db.sessions() as session:
            return int(await session.scalar(select(func.count(User.id))) or 0)

    async def set_password(self, user_id: int, password: str) -> None:
        password_hash = await self._argon2(hash_password, password)
        async with self.db.transaction() as session:
            user = await session.get(User, user_id)
            if user is None:
                raise LookupError(user_id)
            user.password_hash = password_hash

    async def set_role(self, user_id: int, role: str) -> User:
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        return await self.update(user_id, role=role)

    async def update(self, user_id: int, **values: object) -> User:
        """Set these columns (checked by the caller)."""
        async with self.db.transaction() as session:
            user = await session.get(User, user_id, with_for_update=True)
            if user is None:
                raise LookupError(user_id)
            for name, value in values.items():
                setattr(user, name, value)
            return user

    async def set_limits(
        self, user_id: int, *, rpm: int | None = None, max_sessions: int | None = None
    ) -> User:
        async with self.db.transaction() as session:
            user = await session.get(User, user_id)
            if user is None:
                raise LookupError(user_id)
            if rpm is not None:
                user.rpm_limit = rpm
            if max_sessions is not None:
                user.max_sessions = max_sessions
            return user

    async def verify_password(self, email: str, password: str) -> User | None:
        """The user if the password matches, else None (in constant-ish time)."""
        user = await self.by_email(email) if len(password) <= 1024 else None
        stored = user.password_hash if user and user.password_hash else _DUMMY_HASH
        if not await self._argon2(_verify, stored, password):
            return None
        # A disabled (or pending) user cannot log in, whatever the password.
        return user if user and user.password_hash and user.disabled_at is None else None


def status_of(user: User) -> str:
    """active, disabled, or pending (a sign-up waiting for approval)."""
    if user.disabled_at is None:
        return "active"
    return "pending" if user.disabled_reason == PENDING else "disabled"

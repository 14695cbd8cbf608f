"""Settings for a test's data directory, accounts with credits and a key, settled holds."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from pathlib import Path

from realtime2.config import Settings
from realtime2.state import Services


def make_settings(tmp_path: Path, database_url: str = "", **overrides: object) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url or f"sqlite:///{tmp_path / 'test.db'}",
        secret_key="test-secret-" + secrets.token_hex(8),
        **overrides,  # type: ignore[arg-type]
    )


@dataclass
class Account:
    user_id: int
    email: str
    key: str
    key_id: str


async def new_account(svc: Services, credits: int = 1000, email: str | None = None) -> Account:
    email = email or f"user-{secrets.token_hex(4)}@example.com"
    user = await svc.users.create(email, "correct horse battery")
    if credits:
        await svc.ledger.top_up(user.id, credits)
    info, raw = await svc.keys.create(user.id, "test")
    return Account(user.id, email, raw, info.id)


async def settled(svc: Services, user_id: int) -> int:
    """Wait for the user's holds to close; return the credits spent."""
    for _ in range(100):
        balance = await svc.ledger.balance(user_id)
        if balance.held == 0:
            break
        await asyncio.sleep(0.05)
    assert balance.held == 0
    entries = await svc.ledger.entries(user_id)
    return sum(e.amount for e in entries if e.kind == "capture")

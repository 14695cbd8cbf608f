"""Apply Alembic migrations programmatically (used by `realtime2 migrate` and `serve`)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection

from realtime2.db.engine import Database

_MIGRATIONS = Path(__file__).parent / "migrations"


def _alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def _upgrade(connection: Connection) -> None:
    command.upgrade(_alembic_config(connection), "head")


async def upgrade(db: Database) -> None:
    # A separate connection in its own transaction: DDL commits before the app starts.
    async with db.engine.begin() as conn:
        await conn.run_sync(_upgrade)

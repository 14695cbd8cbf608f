"""Apply Alembic migrations programmatically (used by `realtime2 migrate` and `serve`).

On PostgreSQL the upgrade runs under a transaction-scoped advisory lock, so replicas that
start at once on an empty database take turns: the first creates the schema, the others
wait for its commit and then find nothing to do (without the lock, two of three crashed with
`UniqueViolationError` creating the same tables). SQLite serialises writers by itself.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text

from realtime2.db.engine import Database

_MIGRATIONS = Path(__file__).parent / "migrations"
# pg_advisory_xact_lock key for schema upgrades (any constant unique to this purpose).
MIGRATION_LOCK = 0x7265616C_74696D65  # "realtime"


def _alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def _upgrade(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        # Held until this transaction commits, i.e. until the schema is complete.
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
    command.upgrade(_alembic_config(connection), "head")


async def upgrade(db: Database) -> None:
    # A separate connection in its own transaction: DDL commits before the app starts.
    async with db.engine.begin() as conn:
        await conn.run_sync(_upgrade)

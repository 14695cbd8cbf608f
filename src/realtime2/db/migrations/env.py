"""Alembic environment. Migrations run on a connection handed in by realtime2.db.migrate,
so the same code path serves SQLite and PostgreSQL through their async drivers."""

from __future__ import annotations

from alembic import context

from realtime2.db.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `realtime2 migrate` (realtime2.db.migrate.upgrade)")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()

"""`Prepared` on SQLite gives what `conn.execute` gives: the same rows and types, the same
stored values, the same exceptions; and it refuses what it cannot do like SQLAlchemy."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import Connection, Table, bindparam, create_engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from realtime2.db.models import Base, Hold, LedgerEntry, User
from realtime2.db.prepared import Prepared

holds = cast(Table, Hold.__table__)
entries = cast(Table, LedgerEntry.__table__)
users = cast(Table, User.__table__)
NOW = datetime(2026, 12, 3, 12, 30, 15, 123456, tzinfo=UTC)


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[Connection]:
    engine = create_engine(f"sqlite:///{tmp_path / 'p.db'}")
    Base.metadata.create_all(engine)
    with engine.connect() as connection, connection.begin():
        connection.execute(insert(users), {"id": 1, "email": "a@example.com", "created_at": NOW})
        yield connection
    engine.dispose()


def entry(key: str, **extra: Any) -> dict[str, Any]:
    return {
        "user_id": 1,
        "kind": "hold",
        "amount": 5,
        "idempotency_key": key,
        "hold_id": None,
        "api_key_id": None,
        "model": "realtime-mini",
        "seconds": 1.5,
        "details": None,
        "created_at": NOW,
    } | extra


def stored(conn: Connection, key: str) -> tuple[Any, ...]:
    """The row as SQLite holds it (no type processing)."""
    raw = conn.exec_driver_sql(
        "SELECT details, created_at, seconds FROM ledger_entries WHERE idempotency_key = ?",
        (key,),
    ).one()
    return tuple(raw)


def test_inserts_store_what_sqlalchemy_stores(conn: Connection) -> None:
    NEW_ENTRY = Prepared(insert(entries))
    for details in (None, {"reason": "x", "n": [1, 2]}):
        conn.execute(insert(entries), entry(f"sa-{details is None}", details=details))
        NEW_ENTRY.run(conn, entry(f"p-{details is None}", details=details))
        assert stored(conn, f"p-{details is None}") == stored(conn, f"sa-{details is None}")
    # JSON's None is the JSON null, as SQLAlchemy writes it (not SQL NULL).
    assert stored(conn, "p-True")[0] == "null"


def test_rows_come_back_typed_as_sqlalchemy_types_them(conn: Connection) -> None:
    Prepared(insert(entries)).run(conn, entry("k", details={"a": 1}))
    query = select(entries).where(entries.c.idempotency_key == bindparam("key"))
    mine = Prepared(query).one(conn, {"key": "k"})
    theirs = conn.execute(query, {"key": "k"}).one()
    assert tuple(mine) == tuple(theirs)
    assert mine.created_at == NOW and mine.created_at.tzinfo is UTC
    assert mine.details == {"a": 1}
    assert Prepared(query).first(conn, {"key": "none"}) is None
    with pytest.raises(LookupError):
        Prepared(query).one(conn, {"key": "none"})


def test_executemany_and_update_returning(conn: Connection) -> None:
    Prepared(insert(entries)).run(conn, [entry("a"), entry("b", amount=7)])
    Prepared(insert(entries)).run(conn, [])
    bump = Prepared(
        update(entries)
        .where(entries.c.idempotency_key == bindparam("key"))
        .values(amount=entries.c.amount + bindparam("by"))
        .returning(entries.c.amount)
    )
    assert bump.one(conn, {"key": "b", "by": 3}).amount == 10
    assert bump.first(conn, {"key": "missing", "by": 3}) is None


def test_a_literal_in_the_statement_is_bound_too(conn: Connection) -> None:
    Prepared(insert(entries)).run(conn, [entry("a"), entry("b", kind="capture")])
    captures = Prepared(
        select(entries.c.idempotency_key).where(
            entries.c.kind == "capture", entries.c.user_id == bindparam("uid")
        )
    )
    assert [r.idempotency_key for r in captures.all(conn, {"uid": 1})] == ["b"]


def test_driver_errors_are_sqlalchemys(conn: Connection) -> None:
    NEW_ENTRY = Prepared(insert(entries))
    NEW_ENTRY.run(conn, entry("dup"))
    with pytest.raises(IntegrityError):
        NEW_ENTRY.run(conn, entry("dup"))
    with pytest.raises(IntegrityError):
        NEW_ENTRY.run(conn, [entry("other"), entry("other")])


def test_what_it_cannot_do_is_refused(conn: Connection) -> None:
    by_key = Prepared(select(entries).where(entries.c.idempotency_key == bindparam("key")))
    with pytest.raises(ValueError, match="missing parameter 'key'"):
        by_key.all(conn, {})
    # `created_at` has a Python default (utcnow) that SQLAlchemy would compute per row.
    without_time = entry("x")
    del without_time["created_at"]
    with pytest.raises(ValueError, match="every column that has a default"):
        Prepared(insert(entries)).run(conn, without_time)

"""Hot statements run on SQLite's own driver, with SQLAlchemy's SQL and type conversions.

`conn.execute(statement, params)` costs SQLAlchemy's machinery on every call: a cache key
computed by walking the statement, an execution context, a result object, a row object.
On SQLite the statement itself is a C call of a few microseconds, so on a slow CPU that
machinery was ~45 % of a ledger operation (cProfile on an AMD EPYC Zen 3 VM: ~9 statements
and 3 commits an operation). `Prepared` compiles a Core statement once per set of
parameter names, keeps its bind and result processors (the column types' own: `UTCDateTime`,
JSON), and runs it on the DBAPI cursor of the connection's transaction. The SQL, the
conversions and the exceptions (`sqlalchemy.exc.IntegrityError`, `OperationalError`) are
those `conn.execute` gives; only the per-call work is gone.

On PostgreSQL the statement goes through `conn.execute` as before. That machinery costs
there too (~3 ms of client CPU an operation on Zen 4), but SQLAlchemy's asyncpg adapter
issues BEGIN with a transaction's first statement, which a statement sent beside it on
the raw driver would skip.
"""

from __future__ import annotations

import sqlite3
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.selectable import Select

Params = Mapping[str, Any]
_Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class _Compiled:
    sql: str
    # Per placeholder: the parameter's name, the literal value the statement holds for it
    # (`status == "active"`; used when the parameters do not name it), its bind processor.
    names: tuple[str, ...]
    literals: tuple[Any, ...]
    binders: tuple[_Processor, ...]
    row: Any  # a namedtuple class, or None for a statement that returns no rows
    readers: tuple[_Processor, ...]

    def bind(self, params: Params) -> tuple[Any, ...]:
        # As SQLAlchemy does, processors see None too (JSON writes it as 'null').
        values = []
        for name, literal, binder in zip(self.names, self.literals, self.binders, strict=True):
            value = params.get(name, literal)
            values.append(value if binder is None else binder(value))
        return tuple(values)

    def rows(self, cursor: sqlite3.Cursor) -> list[Any]:
        readers, make = self.readers, self.row._make
        return [
            make(
                value if reader is None else reader(value)
                for value, reader in zip(raw, readers, strict=True)
            )
            for raw in cursor.fetchall()
        ]


class Prepared:
    """One Core statement (a select, or an insert, update or delete, with or without
    RETURNING), run as `first`, `one`, `all` or `run` on a `Connection` in a transaction."""

    def __init__(self, statement: Select[Any] | UpdateBase) -> None:
        self.statement = statement
        # SQLite's compiled forms, by the parameter names given (only SQLite compiles here).
        self._compiled: dict[frozenset[str], _Compiled] = {}

    def all(self, conn: Connection, params: Params) -> list[Any]:
        if conn.dialect.name != "sqlite":
            return list(conn.execute(self.statement, dict(params)).all())
        compiled = self._compile(conn.dialect, params)
        if compiled.row is None:
            raise TypeError("this statement returns no rows: use run()")
        cursor = self._execute(conn, compiled, compiled.bind(params), params)
        try:
            return compiled.rows(cursor)
        finally:
            cursor.close()

    def first(self, conn: Connection, params: Params) -> Any | None:
        rows = self.all(conn, params)
        return rows[0] if rows else None

    def one(self, conn: Connection, params: Params) -> Any:
        rows = self.all(conn, params)
        if len(rows) != 1:
            raise LookupError(f"expected one row, got {len(rows)}")
        return rows[0]

    def run(self, conn: Connection, params: Params | Sequence[Params]) -> None:
        """Execute for its effect; a list of parameter sets runs as one executemany."""
        if isinstance(params, Mapping):
            if conn.dialect.name != "sqlite":
                conn.execute(self.statement, dict(params))
                return
            compiled = self._compile(conn.dialect, params)
            self._execute(conn, compiled, compiled.bind(params), params).close()
            return
        many = [dict(p) for p in params]
        if not many:
            return
        if conn.dialect.name != "sqlite":
            conn.execute(self.statement, many)
            return
        compiled = self._compile(conn.dialect, many[0])
        rows = [compiled.bind(p) for p in many]
        driver: sqlite3.Connection = conn.connection.driver_connection  # type: ignore[assignment]
        try:
            driver.executemany(compiled.sql, rows)
        except sqlite3.Error as exc:
            raise _wrapped(compiled.sql, rows, exc) from exc

    def _execute(
        self, conn: Connection, compiled: _Compiled, values: tuple[Any, ...], params: Params
    ) -> sqlite3.Cursor:
        driver: sqlite3.Connection = conn.connection.driver_connection  # type: ignore[assignment]
        try:
            return driver.execute(compiled.sql, values)
        except sqlite3.Error as exc:
            raise _wrapped(compiled.sql, params, exc) from exc

    def _compile(self, dialect: Dialect, params: Params) -> _Compiled:
        # An insert's or update's SQL depends on which columns it is given, as in SQLAlchemy.
        keys = frozenset(params)
        found = self._compiled.get(keys)
        if found is None:
            found = self._compiled[keys] = _compile(self.statement, dialect, keys)
        return found


def _compile(
    statement: Select[Any] | UpdateBase, dialect: Dialect, keys: frozenset[str]
) -> _Compiled:
    compiled = statement.compile(dialect=dialect, column_keys=sorted(keys))
    if dialect.paramstyle != "qmark" or compiled.positiontup is None:
        raise ValueError(f"Prepared runs qmark statements, not {dialect.paramstyle}")
    names = tuple(compiled.positiontup)
    # A column default SQLAlchemy would compute per row (`default=utcnow`) is not ours to
    # run: the hot statements name every column they write.
    if compiled.insert_prefetch or compiled.update_prefetch:
        raise ValueError("Prepared statements must set every column that has a default")
    literals: list[Any] = []
    binders: list[_Processor] = []
    for name in names:
        bind: BindParameter[Any] = compiled.binds[name]
        if bind.expanding or bind.callable is not None:
            raise ValueError(f"Prepared cannot bind {name!r} (expanding or computed)")
        if name not in keys and bind.required:
            raise ValueError(f"missing parameter {name!r}")
        literals.append(bind.value)
        binders.append(bind.type.dialect_impl(dialect).bind_processor(dialect))
    columns = list(statement.exported_columns)
    row = namedtuple("Row", [c.key for c in columns]) if columns else None  # type: ignore[misc]
    readers = tuple(c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns)
    return _Compiled(compiled.string, names, tuple(literals), tuple(binders), row, readers)


def _wrapped(sql: str, params: Any, exc: sqlite3.Error) -> StatementError:
    """The SQLAlchemy exception `conn.execute` raises for this driver error."""
    return DBAPIError.instance(sql, params, exc, sqlite3.Error)

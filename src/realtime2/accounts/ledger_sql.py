"""The ledger's SQL: statements built once, and the small steps `Ledger` composes from them.

SQLAlchemy caches each statement's compiled form, so an execution only binds values.

On PostgreSQL each statement is a round trip, so the writes that end a hold operation go
as one statement of data-modifying CTEs (`record_hold`, `settle_hold`): placing a hold
is BEGIN, key lock, one write, COMMIT where it was three writes, and a capture one write
where it was three. The sub-statements see one snapshot and none reads another's rows, which is how
the separate statements used them too. SQLite has no data-modifying CTEs: there the same
steps run one by one (each is a function call there, not a round trip).
"""

from __future__ import annotations

from typing import Any, NoReturn, cast

from sqlalchemy import Connection, Select, Table, bindparam, insert, select, union_all, update

from realtime2.accounts.ledger_results import (
    AnyRow,
    Balance,
    HoldNotOpenError,
    InsufficientCreditsError,
)
from realtime2.db.models import CreditAccount, Hold, LedgerEntry, RealtimeCall

calls = cast(Table, RealtimeCall.__table__)
accounts = cast(Table, CreditAccount.__table__)
holds = cast(Table, Hold.__table__)
entries = cast(Table, LedgerEntry.__table__)
account_cols, hold_cols, entry_cols = accounts.c, holds.c, entries.c

ACCOUNT = select(account_cols.posted, account_cols.held).where(
    account_cols.user_id == bindparam("uid")
)
LOCK_ACCOUNT = ACCOUNT.with_for_update()
NEW_ACCOUNT = insert(accounts)
# Reserve credit only if the available balance covers it: no row back means it did not.
RESERVE = (
    update(accounts)
    .where(
        account_cols.user_id == bindparam("uid"),
        account_cols.posted - account_cols.held >= bindparam("amount"),
    )
    .values(held=account_cols.held + bindparam("amount"))
    .returning(account_cols.posted, account_cols.held)
)
MOVE = (
    update(accounts)
    .where(account_cols.user_id == bindparam("uid"))
    .values(
        posted=account_cols.posted + bindparam("d_posted"),
        held=account_cols.held + bindparam("d_held"),
    )
    .returning(account_cols.posted, account_cols.held)
)

HOLD = select(holds).where(hold_cols.id == bindparam("hid"))
LOCK_HOLD = HOLD.with_for_update()
NEW_HOLD = insert(holds)
RENEW_HOLD = (
    update(holds)
    .where(hold_cols.id == bindparam("hid"))
    .values(
        amount=bindparam("new_amount", type_=hold_cols.amount.type),
        used=bindparam("new_used", type_=hold_cols.used.type),
        expires_at=bindparam("new_expires_at", type_=hold_cols.expires_at.type),
    )
)
SETTLE_HOLD = (
    update(holds)
    .where(hold_cols.id == bindparam("hid"))
    .values(
        amount=bindparam("new_amount", type_=hold_cols.amount.type),
        used=bindparam("new_used", type_=hold_cols.used.type),
        captured=bindparam("new_captured", type_=hold_cols.captured.type),
        status=bindparam("new_status", type_=hold_cols.status.type),
        settled_at=bindparam("new_settled_at", type_=hold_cols.settled_at.type),
    )
)

# A call's hold is referenced by the call id. When the sweeper settles an expired hold (its
# replica died), the call's record ends in the same transaction: no call stays `active`
# with nobody running it, and every replica then answers /charge with the final figure.
END_LOST_CALL = (
    update(calls)
    .where(calls.c.id == bindparam("ref"), calls.c.status == "active")
    .values(
        status="ended",
        charged=bindparam("charged", type_=calls.c.charged.type),
        end_reason="replica_lost",
        ended_at=bindparam("now", type_=calls.c.ended_at.type),
    )
)

NEW_ENTRY = insert(entries)
ENTRY_BY_KEY = select(entry_cols.id, entry_cols.amount, entry_cols.hold_id).where(
    entry_cols.idempotency_key == bindparam("key")
)


def entry_by_key(conn: Connection, key: str) -> AnyRow | None:
    return conn.execute(ENTRY_BY_KEY, {"key": key}).first()


def reserve(conn: Connection, user_id: int, amount: int) -> None:
    """Add `amount` to the account's held credit, or raise InsufficientCreditsError."""
    if conn.execute(RESERVE, {"uid": user_id, "amount": amount}).first() is None:
        _insufficient(conn, user_id, amount)


def _insufficient(conn: Connection, user_id: int, amount: int) -> NoReturn:
    account = conn.execute(ACCOUNT, {"uid": user_id}).first()
    available = account.posted - account.held if account else 0
    raise InsufficientCreditsError(amount, available)


def move(conn: Connection, user_id: int, *, posted: int, held: int) -> Balance:
    """Change the account's posted and held totals by these signed amounts."""
    row = conn.execute(MOVE, {"uid": user_id, "d_posted": posted, "d_held": held}).one()
    return Balance(row.posted, row.held)


def lock_open_hold(conn: Connection, hold_id: str) -> AnyRow:
    hold = conn.execute(LOCK_HOLD, {"hid": hold_id}).first()
    if hold is None or hold.status != "open":
        raise HoldNotOpenError(hold_id)
    return hold


# --- one statement on PostgreSQL --------------------------------------------------------

HOLD_FIELDS = (
    "id",
    "user_id",
    "api_key_id",
    "model",
    "reference",
    "amount",
    "used",
    "captured",
    "status",
    "created_at",
    "expires_at",
    "settled_at",
)
ENTRY_FIELDS = (
    "user_id",
    "kind",
    "amount",
    "idempotency_key",
    "hold_id",
    "api_key_id",
    "model",
    "seconds",
    "details",
    "created_at",
)
ENTRY_ROWS_MAX = 3  # a capture writes its charge, an overage's hold and a release


def _row(table: Table, fields: tuple[str, ...], prefix: str) -> Select[Any]:
    return select(*(bindparam(prefix + f, type_=table.c[f].type) for f in fields))


def _params(row: dict[str, Any], fields: tuple[str, ...], prefix: str) -> dict[str, Any]:
    """`row` as the one statement's parameters; a column it lacks or adds is a mistake
    here (the statement would silently drop it), never in the step-by-step path."""
    if row.keys() != set(fields):
        raise ValueError(f"ledger row columns {sorted(row)} are not {sorted(fields)}")
    return {prefix + f: row[f] for f in fields}


def _record_hold_pg() -> Select[Any]:
    reserved = RESERVE.cte("reserved")
    new_hold = insert(holds).from_select(
        HOLD_FIELDS, _row(holds, HOLD_FIELDS, "h_").select_from(reserved)
    )
    new_entry = insert(entries).from_select(
        ENTRY_FIELDS, _row(entries, ENTRY_FIELDS, "e_").select_from(reserved)
    )
    # Both inserts select from `reserved`: no credit reserved, nothing recorded.
    return select(reserved.c.posted).add_cte(new_hold.cte("new_hold"), new_entry.cte("new_entry"))


RECORD_HOLD_PG = _record_hold_pg()


def record_hold(
    conn: Connection, hold: dict[str, Any], entry: dict[str, Any], *, amount: int
) -> None:
    """Insert a new hold and its entry and reserve `amount` for it, or raise
    InsufficientCreditsError (and record nothing)."""
    user_id = hold["user_id"]
    if conn.dialect.name != "postgresql":
        conn.execute(NEW_HOLD, hold)
        conn.execute(NEW_ENTRY, entry)
        reserve(conn, user_id, amount)
        return
    params = {"uid": user_id, "amount": amount}
    params |= _params(hold, HOLD_FIELDS, "h_") | _params(entry, ENTRY_FIELDS, "e_")
    if conn.execute(RECORD_HOLD_PG, params).first() is None:
        _insufficient(conn, user_id, amount)


def _settle_hold_pg(rows: int) -> Select[Any]:
    moved = MOVE.cte("moved")
    # One SELECT of bound values per entry, UNION ALL'd: the count varies (1-3), and each
    # count is its own cached statement.
    values = union_all(*(_row(entries, ENTRY_FIELDS, f"e{i}_") for i in range(rows)))
    return select(moved.c.posted, moved.c.held).add_cte(
        SETTLE_HOLD.cte("settled"),
        insert(entries).from_select(ENTRY_FIELDS, values).cte("new_entries"),
    )


SETTLE_HOLD_PG = {rows: _settle_hold_pg(rows) for rows in range(1, ENTRY_ROWS_MAX + 1)}


def settle_hold(
    conn: Connection,
    user_id: int,
    *,
    entries_rows: list[dict[str, Any]],
    hold: dict[str, Any],
    lost_call: dict[str, Any] | None,
    posted: int,
    held: int,
) -> Balance:
    """Write a capture: its entries, the hold's new state, the call a lost hold ends (when
    `lost_call` has its parameters), and the account's totals moved by `posted`/`held`.

    A lost call's (a sweep's, rare) goes step by step: its call row is locked before the
    account, the order every transaction keeps (the account last)."""
    if (
        conn.dialect.name != "postgresql"
        or lost_call is not None
        or not 1 <= len(entries_rows) <= ENTRY_ROWS_MAX
    ):
        conn.execute(NEW_ENTRY, entries_rows)
        conn.execute(SETTLE_HOLD, hold)
        if lost_call is not None:
            conn.execute(END_LOST_CALL, lost_call)
        return move(conn, user_id, posted=posted, held=held)
    params: dict[str, Any] = {"uid": user_id, "d_posted": posted, "d_held": held} | hold
    for i, row in enumerate(entries_rows):
        params |= _params(row, ENTRY_FIELDS, f"e{i}_")
    result = conn.execute(SETTLE_HOLD_PG[len(entries_rows)], params).one()
    return Balance(result.posted, result.held)

"""The ledger's SQL: statements built once, and the small steps `Ledger` composes from them.

Each statement is `Prepared` (`db/prepared.py`): on SQLite it runs on the driver with its
SQL compiled once, on PostgreSQL through SQLAlchemy, whose compiled cache serves it.

On PostgreSQL each statement is a round trip, so the writes that end a hold operation go
as one statement of data-modifying CTEs (`record_hold`, `settle_hold`): a capture is one
write where it was three, and placing a hold on a key without controls (or on no key) is
that one statement alone, outside a transaction (`record_hold_at_once`), where it was
BEGIN, the key's lock, three writes and COMMIT; a key with a budget or a model list takes
BEGIN, key lock, one write, COMMIT. The sub-statements see one snapshot and none reads
another's rows, which is how the separate statements used them too. SQLite has no
data-modifying CTEs: there the same steps run one by one (each is a function call there,
not a round trip).
"""

from __future__ import annotations

from typing import Any, NoReturn, cast

from sqlalchemy import (
    Connection,
    Select,
    Table,
    Text,
    bindparam,
    func,
    insert,
    select,
    union_all,
    update,
)
from sqlalchemy import cast as sql_cast

from realtime2.accounts.ledger_results import (
    AnyRow,
    Balance,
    HoldNotOpenError,
    InsufficientCreditsError,
)
from realtime2.db.models import ApiKey, CreditAccount, Hold, LedgerEntry, RealtimeCall
from realtime2.db.prepared import Prepared

calls = cast(Table, RealtimeCall.__table__)
accounts = cast(Table, CreditAccount.__table__)
holds = cast(Table, Hold.__table__)
entries = cast(Table, LedgerEntry.__table__)
api_keys = cast(Table, ApiKey.__table__)
account_cols, hold_cols, entry_cols, key_cols = accounts.c, holds.c, entries.c, api_keys.c

_account = select(account_cols.posted, account_cols.held).where(
    account_cols.user_id == bindparam("uid")
)
ACCOUNT = Prepared(_account)
LOCK_ACCOUNT = Prepared(_account.with_for_update())
NEW_ACCOUNT = Prepared(insert(accounts))
# Reserve credit only if the available balance covers it: no row back means it did not.
_reserve = (
    update(accounts)
    .where(
        account_cols.user_id == bindparam("uid"),
        account_cols.posted - account_cols.held >= bindparam("amount"),
    )
    .values(held=account_cols.held + bindparam("amount"))
    .returning(account_cols.posted, account_cols.held)
)
RESERVE = Prepared(_reserve)
_move = (
    update(accounts)
    .where(account_cols.user_id == bindparam("uid"))
    .values(
        posted=account_cols.posted + bindparam("d_posted"),
        held=account_cols.held + bindparam("d_held"),
    )
    .returning(account_cols.posted, account_cols.held)
)
MOVE = Prepared(_move)

_hold = select(holds).where(hold_cols.id == bindparam("hid"))
HOLD = Prepared(_hold)
LOCK_HOLD = Prepared(_hold.with_for_update())
NEW_HOLD = Prepared(insert(holds))
RENEW_HOLD = Prepared(
    update(holds)
    .where(hold_cols.id == bindparam("hid"))
    .values(
        amount=bindparam("new_amount", type_=hold_cols.amount.type),
        used=bindparam("new_used", type_=hold_cols.used.type),
        expires_at=bindparam("new_expires_at", type_=hold_cols.expires_at.type),
    )
)
_settle_hold = (
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
SETTLE_HOLD = Prepared(_settle_hold)

# A call's hold is referenced by the call id. When the sweeper settles an expired hold (its
# replica died), the call's record ends in the same transaction: no call stays `active`
# with nobody running it, and every replica then answers /charge with the final figure.
END_LOST_CALL = Prepared(
    update(calls)
    .where(calls.c.id == bindparam("ref"), calls.c.status == "active")
    .values(
        status="ended",
        charged=bindparam("charged", type_=calls.c.charged.type),
        end_reason="replica_lost",
        ended_at=bindparam("now", type_=calls.c.ended_at.type),
    )
)

NEW_ENTRY = Prepared(insert(entries))
ENTRY_BY_KEY = Prepared(
    select(entry_cols.id, entry_cols.amount, entry_cols.hold_id).where(
        entry_cols.idempotency_key == bindparam("key")
    )
)


def entry_by_key(conn: Connection, key: str) -> AnyRow | None:
    return ENTRY_BY_KEY.first(conn, {"key": key})


def reserve(conn: Connection, user_id: int, amount: int) -> None:
    """Add `amount` to the account's held credit, or raise InsufficientCreditsError."""
    if RESERVE.first(conn, {"uid": user_id, "amount": amount}) is None:
        _insufficient(conn, user_id, amount)


def _insufficient(conn: Connection, user_id: int, amount: int) -> NoReturn:
    account = ACCOUNT.first(conn, {"uid": user_id})
    available = account.posted - account.held if account else 0
    raise InsufficientCreditsError(amount, available)


def move(conn: Connection, user_id: int, *, posted: int, held: int) -> Balance:
    """Change the account's posted and held totals by these signed amounts."""
    row = MOVE.one(conn, {"uid": user_id, "d_posted": posted, "d_held": held})
    return Balance(row.posted, row.held)


def lock_open_hold(conn: Connection, hold_id: str) -> AnyRow:
    hold = LOCK_HOLD.first(conn, {"hid": hold_id})
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


def _record_hold_pg(*, free_key: bool = False) -> Select[Any]:
    """Reserve, insert the hold and its entry. With `free_key`, only if the hold's key has
    no controls (no budget, no model list): then `key_controls.enforce` has nothing to
    check but the key's row lock, which the statement takes first, as the step-by-step
    path does (the lock order is key, then account)."""
    reserve = _reserve
    if free_key:
        free = (
            select(key_cols.id)
            .where(
                key_cols.id == bindparam("kid"),
                key_cols.budget_credits.is_(None),
                # SQL NULL, or JSON's null where the ORM cleared the list
                func.coalesce(sql_cast(key_cols.allowed_models, Text), "null") == "null",
            )
            .with_for_update()
            .cte("free_key")
        )
        reserve = _reserve.where(select(free.c.id).exists())
    reserved = reserve.cte("reserved")
    new_hold = insert(holds).from_select(
        HOLD_FIELDS, _row(holds, HOLD_FIELDS, "h_").select_from(reserved)
    )
    new_entry = insert(entries).from_select(
        ENTRY_FIELDS, _row(entries, ENTRY_FIELDS, "e_").select_from(reserved)
    )
    # Both inserts select from `reserved`: no credit reserved, nothing recorded.
    return select(reserved.c.posted).add_cte(new_hold.cte("new_hold"), new_entry.cte("new_entry"))


RECORD_HOLD_PG = _record_hold_pg()
RECORD_FREE_KEY_HOLD_PG = _record_hold_pg(free_key=True)


def record_hold(
    conn: Connection, hold: dict[str, Any], entry: dict[str, Any], *, amount: int
) -> None:
    """Insert a new hold and its entry and reserve `amount` for it, or raise
    InsufficientCreditsError (and record nothing)."""
    user_id = hold["user_id"]
    if conn.dialect.name != "postgresql":
        NEW_HOLD.run(conn, hold)
        NEW_ENTRY.run(conn, entry)
        reserve(conn, user_id, amount)
        return
    params = {"uid": user_id, "amount": amount}
    params |= _params(hold, HOLD_FIELDS, "h_") | _params(entry, ENTRY_FIELDS, "e_")
    if conn.execute(RECORD_HOLD_PG, params).first() is None:
        _insufficient(conn, user_id, amount)


def record_hold_at_once(
    conn: Connection, hold: dict[str, Any], entry: dict[str, Any], *, amount: int
) -> bool:
    """PostgreSQL, outside a transaction: the whole hold as one statement (one round trip
    instead of BEGIN, the key's lock, the writes and COMMIT), if its key has no controls
    and the credit covers it. False: nothing was recorded, and the step-by-step path
    (`key_controls.enforce`, `record_hold`) decides, and says why it refuses."""
    params = {"uid": hold["user_id"], "amount": amount, "kid": hold["api_key_id"]}
    params |= _params(hold, HOLD_FIELDS, "h_") | _params(entry, ENTRY_FIELDS, "e_")
    statement = RECORD_HOLD_PG if hold["api_key_id"] is None else RECORD_FREE_KEY_HOLD_PG
    return conn.execute(statement, params).first() is not None


def _settle_hold_pg(rows: int) -> Select[Any]:
    moved = _move.cte("moved")
    # One SELECT of bound values per entry, UNION ALL'd: the count varies (1-3), and each
    # count is its own cached statement.
    values = union_all(*(_row(entries, ENTRY_FIELDS, f"e{i}_") for i in range(rows)))
    return select(moved.c.posted, moved.c.held).add_cte(
        _settle_hold.cte("settled"),
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
        NEW_ENTRY.run(conn, entries_rows)
        SETTLE_HOLD.run(conn, hold)
        if lost_call is not None:
            END_LOST_CALL.run(conn, lost_call)
        return move(conn, user_id, posted=posted, held=held)
    params: dict[str, Any] = {"uid": user_id, "d_posted": posted, "d_held": held} | hold
    for i, row in enumerate(entries_rows):
        params |= _params(row, ENTRY_FIELDS, f"e{i}_")
    result = conn.execute(SETTLE_HOLD_PG[len(entries_rows)], params).one()
    return Balance(result.posted, result.held)

"""The one-statement PostgreSQL writes take exactly the columns they list: a row with a
column more or less is refused, not silently cut (the step-by-step path would keep it)."""

from __future__ import annotations

import pytest

from realtime2.accounts import ledger_sql as sql


def test_a_ledger_row_must_have_exactly_the_listed_columns() -> None:
    row = dict.fromkeys(sql.ENTRY_FIELDS, 1)
    assert sql._params(row, sql.ENTRY_FIELDS, "e0_")["e0_amount"] == 1
    with pytest.raises(ValueError, match="stop_reason"):
        sql._params(row | {"stop_reason": "x"}, sql.ENTRY_FIELDS, "e0_")
    del row["seconds"]
    with pytest.raises(ValueError):
        sql._params(row, sql.ENTRY_FIELDS, "e0_")


def test_the_listed_columns_are_the_tables_own() -> None:
    assert set(sql.HOLD_FIELDS) <= set(sql.holds.c.keys())
    assert set(sql.ENTRY_FIELDS) == set(sql.entries.c.keys()) - {"id"}

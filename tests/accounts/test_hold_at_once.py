"""Placing a hold on PostgreSQL: one statement outside a transaction when the key has no
controls (or there is no key); the checked step-by-step path otherwise, with its errors.
The outcomes are the same on SQLite, which always takes the step-by-step path."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from realtime2.accounts.key_controls import KeyBudgetExhaustedError, ModelNotAllowedError
from realtime2.accounts.ledger import InsufficientCreditsError
from realtime2.state import Services
from tests.support.accounts import new_account
from tests.support.meters import migrated_services


@contextmanager
def statements(svc: Services) -> Iterator[list[tuple[str, bool]]]:
    """Each statement sent, and whether it ran inside a transaction (PostgreSQL)."""
    seen: list[tuple[str, bool]] = []

    def record(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append((statement, conn.connection.driver_connection.is_in_transaction()))

    engine = svc.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def hold(svc: Services, user_id: int, key_id: str | None, amount: int, **kw: Any) -> Any:
    return await svc.ledger.place_hold(
        user_id,
        amount,
        model=kw.pop("model", "realtime-mini"),
        reference="req_x",
        ttl_seconds=60,
        api_key_id=key_id,
        **kw,
    )


@pytest.mark.postgres
async def test_a_hold_is_one_statement_outside_a_transaction(
    tmp_path: Path, fresh_pg_url: str
) -> None:
    async with migrated_services(tmp_path, fresh_pg_url) as svc:
        await _one_statement_on_postgresql(svc)


async def _one_statement_on_postgresql(svc: Services) -> None:
    acct = await new_account(svc, credits=1_000)
    for key_id in (acct.key_id, None):
        with statements(svc) as sent:
            placed = await hold(svc, acct.user_id, key_id, 100)
        assert len(sent) == 1 and sent[0][1] is False, sent
        assert "FOR UPDATE" in sent[0][0] if key_id else "FOR UPDATE" not in sent[0][0]
        assert (await svc.ledger.get_hold(placed.id)) == placed
    # A key with a budget: the one statement declines (recording nothing), and the checked
    # path runs in a transaction: the key's lock, what it spent, the writes (the driver
    # sends BEGIN with the first of them).
    await svc.keys.set_controls(acct.key_id, {"budget_credits": 500})
    with statements(svc) as sent:
        await hold(svc, acct.user_id, acct.key_id, 100)
    assert [in_transaction for _, in_transaction in sent] == [False, False, True, True]
    assert "free_key" in sent[0][0] and "FOR UPDATE" in sent[1][0]
    assert (await svc.ledger.balance(acct.user_id)).held == 300


async def test_controls_and_credit_are_enforced_on_either_path(services: Services) -> None:
    svc = services
    acct = await new_account(svc, credits=1_000)
    await svc.keys.set_controls(acct.key_id, {"allowed_models": ["starter-voice"]})
    with pytest.raises(ModelNotAllowedError):
        await hold(svc, acct.user_id, acct.key_id, 10)
    # Cleared, the list is JSON's null in the row, not SQL NULL: still no controls.
    await svc.keys.set_controls(acct.key_id, {"allowed_models": None})
    await hold(svc, acct.user_id, acct.key_id, 10)
    await svc.keys.set_controls(acct.key_id, {"budget_credits": 50})
    with pytest.raises(KeyBudgetExhaustedError):
        await hold(svc, acct.user_id, acct.key_id, 41)
    await svc.keys.set_controls(acct.key_id, {"budget_credits": None})
    with pytest.raises(InsufficientCreditsError) as short:
        await hold(svc, acct.user_id, acct.key_id, 991)
    assert short.value.available == 990
    balance = await svc.ledger.balance(acct.user_id)
    assert (balance.posted, balance.held) == (1_000, 10)


async def test_a_repeated_hold_is_placed_once(services: Services) -> None:
    svc = services
    acct = await new_account(svc, credits=1_000)
    first = await hold(svc, acct.user_id, acct.key_id, 100, idempotency_key="req-1")
    again = await hold(svc, acct.user_id, acct.key_id, 100, idempotency_key="req-1")
    assert again.id == first.id
    assert (await svc.ledger.balance(acct.user_id)).held == 100
    projection, sums = await svc.ledger.reconcile(acct.user_id)
    assert projection == sums

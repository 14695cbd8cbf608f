"""Two processes spending one balance at once: 200 concurrent attempts (100 from each
process) against credit for 100 yield exactly 100 successes and a balance of exactly zero,
on SQLite (one file) and on PostgreSQL. The guard is the database's, not the process's."""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor

from realtime2.accounts.ledger import InsufficientCreditsError, Ledger
from realtime2.db.engine import Database
from realtime2.state import Services
from tests.conftest import new_account


async def _spend_many(url: str, user_id: int, attempts: int, tag: str, start_at: float) -> int:
    db = Database(url)
    ledger = Ledger(db)

    async def attempt(i: int) -> bool:
        try:
            hold = await ledger.place_hold(
                user_id, 3, model="starter-voice", reference=f"{tag}-{i}", ttl_seconds=60
            )
        except InsufficientCreditsError:
            return False
        await ledger.capture(hold.id, 3, final=True, idempotency_key=f"{tag}-{i}:capture")
        return True

    await ledger.balance(user_id)  # connect before the start line
    await asyncio.sleep(max(0.0, start_at - time.time()))
    results = await asyncio.gather(*(attempt(i) for i in range(attempts)))
    await db.dispose()
    return sum(results)


def _process(url: str, user_id: int, attempts: int, tag: str, start_at: float) -> int:
    return asyncio.run(_spend_many(url, user_id, attempts, tag, start_at))


async def test_two_processes_spend_one_balance(services: Services) -> None:
    acct = await new_account(services, credits=100 * 3)
    url = services.settings.effective_database_url()
    start_at = time.time() + 3.0  # both processes start spending at the same moment
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(2, mp_context=context) as pool:
        futures = [
            pool.submit(_process, url, acct.user_id, 100, tag, start_at) for tag in ("a", "b")
        ]
        successes = [await asyncio.wrap_future(f) for f in futures]
    assert sum(successes) == 100, successes
    if not services.db.is_sqlite:
        # Row locks interleave the two processes. (SQLite's single write lock, held for a
        # whole group commit, may let one process win every race: still exactly 100.)
        assert all(s > 0 for s in successes), successes
    balance = await services.ledger.balance(acct.user_id)
    assert (balance.available, balance.held, balance.posted) == (0, 0, 0)
    projection, sums = await services.ledger.reconcile(acct.user_id)
    assert projection == sums

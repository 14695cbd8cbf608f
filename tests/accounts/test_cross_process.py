"""Two processes spending one balance at once: 200 concurrent attempts (100 from each
process) against credit for 100 yield exactly 100 successes and a balance of exactly zero,
on SQLite (one file) and on PostgreSQL. The guard is the database's, not the process's."""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor

from sqlalchemy import func, select

from realtime2.accounts.ledger import InsufficientCreditsError, Ledger
from realtime2.db.engine import Database
from realtime2.db.models import Hold
from realtime2.state import Services
from tests.support.accounts import new_account


async def _spend_many(
    url: str, user_id: int, attempts: int, tag: str, tags: list[str], start_at: float
) -> tuple[bool, int]:
    """(whether this process's first spend succeeded, how many succeeded in all)."""
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
    # One spend each, then the rest once every process has made its first: the race is
    # between live processes, not one finishing its spends before the other is scheduled
    # (on a loaded machine the OS may start them far apart).
    first = await attempt(0)
    await _wait_for_holds(db, [f"{t}-0" for t in tags])
    results = await asyncio.gather(*(attempt(i) for i in range(1, attempts)))
    await db.dispose()
    return first, first + sum(results)


async def _wait_for_holds(db: Database, references: list[str]) -> None:
    """Until a hold exists under each of `references` (a minute at most)."""
    query = select(func.count()).select_from(Hold).where(Hold.reference.in_(references))
    for _ in range(6000):
        if await db.run(lambda conn: conn.scalar(query), write=False) == len(references):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the other process never started spending")


def _process(
    url: str, user_id: int, attempts: int, tag: str, tags: list[str], start_at: float
) -> tuple[bool, int]:
    return asyncio.run(_spend_many(url, user_id, attempts, tag, tags, start_at))


async def test_two_processes_spend_one_balance(services: Services) -> None:
    acct = await new_account(services, credits=100 * 3)
    url = services.settings.effective_database_url()
    start_at = time.time() + 3.0  # both processes start spending at the same moment
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(2, mp_context=context) as pool:
        tags = ["a", "b"]
        futures = [
            pool.submit(_process, url, acct.user_id, 100, tag, tags, start_at) for tag in tags
        ]
        outcomes = [await asyncio.wrap_future(f) for f in futures]
    firsts, successes = zip(*outcomes, strict=True)
    assert all(firsts), outcomes  # both processes were spending when the race began
    assert sum(successes) == 100, outcomes
    balance = await services.ledger.balance(acct.user_id)
    assert (balance.available, balance.held, balance.posted) == (0, 0, 0)
    projection, sums = await services.ledger.reconcile(acct.user_id)
    assert projection == sums

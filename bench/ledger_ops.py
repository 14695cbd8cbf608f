"""Ledger operations per second: authenticate a key + place a hold + capture it, the work
every metered request does. On SQLite, and on PostgreSQL when one answers on 5432.

    .venv/bin/python -m bench.ledger_ops [--ops 2000] [--concurrency 1 8 32] [--repeat 1]

With --repeat N each figure is the median of N runs (all runs are kept in the JSON), and
the load average before each run is recorded: on a shared machine the figures move with it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.report import median, print_table, write_bar_chart, write_json
from realtime2.config import Settings
from realtime2.db.migrate import upgrade
from realtime2.state import Services


async def one_op(svc: Services, key: str, i: int) -> None:
    owner = await svc.keys.authenticate(key)
    # As the server places it (http/billing.py): on the key, whose row the hold locks.
    hold = await svc.ledger.place_hold(
        owner.user_id,
        3,
        model="starter-voice",
        reference=f"b{i}",
        ttl_seconds=60,
        api_key_id=owner.key_id,
    )
    await svc.ledger.capture(hold.id, 2, final=True, idempotency_key=f"bench:{hold.id}")


async def run(url: str, ops: int, concurrency: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        svc = Services.build(
            Settings(data_dir=Path(tmp), database_url=url, secret_key=secrets.token_hex(16))
        )
        await upgrade(svc.db)
        user = await svc.users.create(f"bench-{secrets.token_hex(4)}@example.com")
        await svc.ledger.top_up(user.id, ops * 10)
        _, key = await svc.keys.create(user.id)
        queue = iter(range(ops))

        async def worker() -> None:
            for i in queue:
                await one_op(svc, key, i)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        projection, sums = await svc.ledger.reconcile(user.id)
        assert projection == sums and projection.posted == ops * 10 - ops * 2
        await svc.close()
        return ops / elapsed


async def pg_url() -> str | None:
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=1).close()
    except OSError:
        return None
    import asyncpg

    name = f"realtime2_bench_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(host="127.0.0.1", user="postgres", database="postgres")
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


async def drop(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(host="127.0.0.1", user="postgres", database="postgres")
    await conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    await conn.close()


async def measure(
    url_of_run: Callable[[int], str], ops: int, concurrency: int, repeat: int
) -> list[dict[str, float]]:
    """`repeat` runs, each with the load average (1 min) just before it."""
    runs = []
    for r in range(repeat):
        load = os.getloadavg()[0]
        rate = await run(url_of_run(r), ops, concurrency)
        runs.append({"concurrency": concurrency, "ops_per_second": rate, "load_before": load})
    return runs


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ops", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    runs: dict[str, list[dict[str, float]]] = {"sqlite": []}
    with tempfile.TemporaryDirectory() as tmp:
        for c in args.concurrency:  # a fresh database file for every run

            def sqlite_url(run: int, c: int = c) -> str:
                return f"sqlite:///{tmp}/bench-{c}-{run}.db"

            runs["sqlite"] += await measure(sqlite_url, args.ops, c, args.repeat)
    pg = await pg_url()
    if pg:
        try:
            runs["postgresql"] = []
            for c in args.concurrency:
                runs["postgresql"] += await measure(lambda _: pg, args.ops, c, args.repeat)
        finally:
            await drop(pg)
    results = {
        db: {
            c: median([x["ops_per_second"] for x in db_runs if x["concurrency"] == c])
            for c in args.concurrency
        }
        for db, db_runs in runs.items()
    }
    rows = [[db, c, ops] for db, by_c in results.items() for c, ops in by_c.items()]
    print_table(
        f"ledger operations per second (authenticate + hold + capture), {args.ops} ops, "
        f"median of {args.repeat}",
        ["database", "concurrency", "ops/s"],
        rows,
    )
    write_json(
        "ledger_ops",
        {"ops": args.ops, "repeat": args.repeat, "ops_per_second": results, "runs": runs},
    )
    chart = write_bar_chart(
        "ledger_ops",
        "Ledger ops/s (authenticate + hold + capture)",
        [str(c) for c in args.concurrency],
        {db: list(by_c.values()) for db, by_c in results.items()},
        "operations per second",
    )
    print(f"\nwrote bench/results/ledger_ops.json and {chart.name}")


if __name__ == "__main__":
    asyncio.run(main())

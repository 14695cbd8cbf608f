"""`make soak`: crash the server under metered load, recover, and prove the ledger exact;
then a bounded load run watching errors and memory. Prints a summary and exits non-zero
on any problem.

    python -m soak.run [--rounds 6] [--load-seconds 120] [--sessions 24] [--database-url URL]

Phase 1 (faults): each round starts the server, runs WebSocket sessions, pipeline requests
and GETs concurrently, SIGKILLs the server at a random moment, then audits: the hold
sweeper settles what the dead process left open, every hold is closed and charged exactly
what it recorded as used, and every user's balance projection equals the ledger sums.
Phase 2 (load): a steady mix for --load-seconds with a user at a low rpm limit and a user
with almost no credit (refusals by design), sampling the server's RSS.
Everything binds to 127.0.0.1 and stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
from tests.support.server import free_port

from realtime2.config import Settings
from realtime2.db.migrate import upgrade
from realtime2.state import Services
from soak.audit import AuditResult, audit
from soak.clients import Tally, account_get, pipeline_request, realtime_session

ROOT = Path(__file__).resolve().parents[1]
CREDITS = 5_000_000


@dataclass
class Accounts:
    keys: list[str]  # well-funded users
    limited: str  # a user at 30 requests per minute
    poor: str  # a user who cannot afford a session
    granted: dict[int, int]


class Server:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/v1/realtime"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "soak.fake_server", str(self.port)],
            env={**os.environ, **env},
            cwd=ROOT,
            stdout=log.open("a"),
            stderr=subprocess.STDOUT,
        )

    async def ready(self) -> None:
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient() as http:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError("soak server exited at start-up")
                try:
                    if (await http.get(self.url + "/healthz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)
        raise RuntimeError("soak server not ready")

    def rss(self) -> int:
        return int(psutil.Process(self.process.pid).memory_info().rss)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


async def make_accounts(settings: Settings, users: int) -> Accounts:
    svc = Services.build(settings)
    await upgrade(svc.db)
    keys, granted = [], {}
    try:
        for i in range(users + 2):
            user = await svc.users.create(f"soak-{i}-{secrets.token_hex(3)}@example.com")
            credits = 3 if i == users + 1 else CREDITS
            await svc.ledger.top_up(user.id, credits)
            granted[user.id] = credits
            keys.append((await svc.keys.create(user.id, "soak"))[1])
            if i == users:
                await svc.users.set_limits(user.id, rpm=30)
    finally:
        await svc.close()
    return Accounts(keys[:users], keys[users], keys[users + 1], granted)


async def traffic(server: Server, acc: Accounts, tally: Tally, until: float, sessions: int) -> None:
    """Keep `sessions` realtime sessions and a stream of HTTP requests going until `until`."""
    rng = random.Random(7)

    def going() -> bool:  # until the deadline, or until a fault takes the server away
        return time.monotonic() < until and server.process.poll() is None

    async def session_loop(i: int) -> None:
        while going():
            key = acc.keys[i % len(acc.keys)]
            await realtime_session(server.ws_url, key, tally, turns=rng.randint(1, 3), rng=rng)

    async def http_loop(http: httpx.AsyncClient) -> None:
        while going():
            pick = rng.random()
            if pick < 0.3:
                await pipeline_request(http, rng.choice(acc.keys), tally)
            elif pick < 0.5:
                await account_get(http, acc.limited, tally)
            elif pick < 0.55:
                await realtime_session(server.ws_url, acc.poor, tally, turns=1, rng=rng)
            else:
                await account_get(http, rng.choice(acc.keys), tally)
            await asyncio.sleep(rng.uniform(0.0, 0.1))

    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        await asyncio.gather(
            *(session_loop(i) for i in range(sessions)), *(http_loop(http) for _ in range(4))
        )


def report_audit(label: str, result: AuditResult) -> None:
    status = "exact" if not result.problems else f"{len(result.problems)} PROBLEMS"
    print(
        f"  audit {label}: {result.holds} holds ({result.swept} swept after the crash), "
        f"{result.users} users reconciled, recorded {result.recorded_usage} = "
        f"charged {result.captured}: {status}",
        flush=True,
    )
    for problem in result.problems[:10]:
        print("    -", problem)


async def fault_phase(
    env: dict[str, str], url: str, acc: Accounts, rounds: int, log: Path
) -> tuple[Tally, int, list[str]]:
    tally, faults, problems = Tally(), 0, []
    rng = random.Random(11)
    for r in range(rounds):
        server = Server(env, log)
        await server.ready()
        kill_after = rng.uniform(1.0, 5.0)
        run = asyncio.create_task(traffic(server, acc, tally, time.monotonic() + 30, 8))
        await asyncio.sleep(kill_after)
        server.kill()
        faults += 1
        async with asyncio.timeout(60):
            await run  # clients notice the dead server and give up
        result = await audit(url)
        report_audit(f"round {r + 1} (SIGKILL at {kill_after:.1f} s)", result)
        problems.extend(result.problems)
    return tally, faults, problems


async def load_phase(
    env: dict[str, str], url: str, acc: Accounts, seconds: float, sessions: int, log: Path
) -> tuple[Tally, list[int], AuditResult]:
    tally = Tally()
    server = Server(env, log)
    await server.ready()
    samples: list[int] = []
    until = time.monotonic() + seconds
    run = asyncio.create_task(traffic(server, acc, tally, until, sessions))
    while not run.done():
        samples.append(server.rss())
        await asyncio.sleep(2)
    await run
    server.stop()
    return tally, samples, await audit(url)


async def amain(args: argparse.Namespace) -> int:
    out = ROOT / "test-output" / "soak" / time.strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    url = args.database_url or f"sqlite:///{out / 'soak.db'}"
    env = {
        "REALTIME2_DATABASE_URL": url,
        "REALTIME2_DATA_DIR": str(out / "data"),
        "REALTIME2_SECRET_KEY": secrets.token_urlsafe(32),
        "REALTIME2_LOG_LEVEL": "warning",
    }
    settings = Settings(
        database_url=url, data_dir=out / "data", secret_key=env["REALTIME2_SECRET_KEY"]
    )
    acc = await make_accounts(settings, users=6)
    log = out / "server.log"
    started = time.monotonic()

    print(f"soak: {args.rounds} fault rounds, then {args.load_seconds:.0f} s of load", flush=True)
    faults_tally, faults, problems = await fault_phase(env, url, acc, args.rounds, log)
    load_tally, rss, final = await load_phase(env, url, acc, args.load_seconds, args.sessions, log)
    report_audit("after load", final)
    problems.extend(final.problems)

    # Pipeline replies of the load phase (no faults) must add up to what the ledger holds
    # for them; all charges together must equal the users' balance drop.
    svc = Services.build(settings)
    spent = 0
    try:
        for uid, granted in acc.granted.items():
            spent += granted - (await svc.ledger.balance(uid)).available
    finally:
        await svc.close()
    # Without faults nothing may be cut off: a cut in the load phase is an error (a stall).
    load_cuts = sum(n for k, n in load_tally.outcomes.items() if k.startswith("cut"))
    errors = faults_tally.errors() + load_tally.errors() + load_cuts
    warm = rss[len(rss) // 5 : len(rss) // 5 + 3] or rss[:1]
    growth = (rss[-1] - min(warm)) / min(warm) if rss else 0.0
    both = faults_tally.outcomes + load_tally.outcomes
    sessions_run = both["ws_ok"] + sum(n for k, n in both.items() if k.startswith("cut:ws"))
    print("\n=== soak summary ===")
    print(f"duration               {time.monotonic() - started:.0f} s")
    print(f"sessions run           {sessions_run} ({both['ws_ok']} completed)")
    print(f"pipeline requests ok   {both['pipeline_ok']}, HTTP GETs ok {both['http_ok']}")
    print(
        f"faults injected        {faults} SIGKILLs; clients cut off: "
        f"{sum(n for k, n in both.items() if k.startswith('cut'))}"
    )
    print(
        "rejected by design     "
        + ", ".join(
            f"{k.split(':')[1]}×{n}" for k, n in sorted(both.items()) if k.startswith("refused")
        )
    )
    error_kinds = {k: n for k, n in both.items() if k.startswith("error")}
    print(f"errors                 {errors} {error_kinds}")
    print(f"credits expected       {final.recorded_usage} (recorded usage)")
    print(f"credits charged        {final.captured} (ledger captures); balance drop {spent}")
    print(
        f"peak memory (RSS)      {max(rss) / 2**20:.0f} MiB; after warm-up "
        f"{min(warm) / 2**20:.0f} MiB → end {rss[-1] / 2**20:.0f} MiB ({growth:+.0%})"
    )
    ok = (
        not problems
        and errors == 0
        and final.recorded_usage == final.captured == spent
        and growth < args.max_growth
    )
    print("RESULT                 " + ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--load-seconds", type=float, default=120)
    parser.add_argument("--sessions", type=int, default=24)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--max-growth", type=float, default=0.25)
    sys.exit(asyncio.run(amain(parser.parse_args())))


if __name__ == "__main__":
    main()

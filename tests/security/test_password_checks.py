"""Password checks (argon2id, most of a second of CPU each on a busy replica) run off the
event loop, a bounded number at a time: a login never stalls live sessions, and a burst of
logins cannot take every core.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from realtime2.accounts import users as users_module
from realtime2.accounts.users import Users
from realtime2.state import Services
from tests.support.accounts import new_account


async def _longest_stall(work: asyncio.Future[Any]) -> float:
    """The longest the event loop went without running a 5 ms ticker while `work` ran."""
    longest = 0.0
    while not work.done():
        started = time.monotonic()
        await asyncio.sleep(0.005)
        longest = max(longest, time.monotonic() - started)
    await work
    return longest


async def test_a_login_does_not_stall_the_event_loop(sqlite_services: Services) -> None:
    account = await new_account(sqlite_services)
    users = sqlite_services.users
    started = time.monotonic()
    for password in ("wrong password!", "correct horse battery"):
        check = asyncio.ensure_future(users.verify_password(account.email, password))
        stall = await _longest_stall(check)
        assert stall < 0.1, stall
    # Two real argon2 checks ran (the test would pass trivially if they were instant).
    assert time.monotonic() - started > 0.1
    assert await users.verify_password(account.email, "correct horse battery") is not None
    assert await users.verify_password(account.email, "wrong password!") is None
    assert await users.verify_password("nobody@example.com", "whatever123") is None


@pytest.mark.parametrize("at_once", [1, 2, 3])
async def test_password_checks_run_a_bounded_number_at_a_time(
    sqlite_services: Services, monkeypatch: pytest.MonkeyPatch, at_once: int
) -> None:
    running = 0
    most = 0
    lock = threading.Lock()

    def slow_verify(stored: str, password: str) -> bool:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.05)
        with lock:
            running -= 1
        return False

    monkeypatch.setattr(users_module, "_verify", slow_verify)
    users = Users(sqlite_services.db, password_checks_at_once=at_once)
    results = await asyncio.gather(
        *(users.verify_password(f"u{i}@example.com", "password123") for i in range(8))
    )
    assert results == [None] * 8
    assert most == at_once

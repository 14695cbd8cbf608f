"""Session metering against the real ledger, with an injected clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from realtime2.accounts.ledger import InsufficientCreditsError, Ledger
from realtime2.accounts.metering import MeterPolicy, SessionMeter
from realtime2.state import Services
from tests.support.accounts import new_account
from tests.support.clock import FakeClock


def meter(svc: Services, user_id: int, clock: FakeClock, **policy: float) -> SessionMeter:
    return SessionMeter(
        svc.ledger,
        user_id=user_id,
        model="realtime-mini",
        rate=4,
        reference="sess_1",
        policy=MeterPolicy(**policy),
        clock=clock,
    )


async def test_start_needs_the_minimum(services: Services) -> None:
    acct = await new_account(services, credits=19)  # < 5 s × 4
    with pytest.raises(InsufficientCreditsError):
        await meter(services, acct.user_id, FakeClock()).start()
    assert (await services.ledger.balance(acct.user_id)).held == 0


async def test_session_is_billed_elapsed_seconds_times_rate(services: Services) -> None:
    acct = await new_account(services, credits=10_000)
    clock = FakeClock()
    m = meter(services, acct.user_id, clock)
    await m.start()
    assert (await services.ledger.balance(acct.user_id)).held == 240  # 60 s window × 4
    clock.now += 50
    assert await m.renew()
    assert (await services.ledger.balance(acct.user_id)).held == 200 + 240
    clock.now += 12.3
    result = await m.settle()
    assert result is not None and result.charged == 63 * 4
    assert await m.settle() is result  # idempotent
    balance = await services.ledger.balance(acct.user_id)
    assert (balance.available, balance.held) == (10_000 - 252, 0)


async def test_session_cannot_outrun_its_credit(services: Services) -> None:
    acct = await new_account(services, credits=100)  # 25 s at 4/s
    clock = FakeClock()
    m = meter(services, acct.user_id, clock)
    await m.start()
    assert m.reserved == 100 and m.deadline == clock.now + 25
    clock.now += 20
    assert await m.renew()
    clock.now += 6
    assert not await m.renew()  # out of credit: caller closes the session
    result = await m.settle(reason="insufficient_credits")
    assert result is not None and result.charged == 100
    assert (await services.ledger.balance(acct.user_id)).available == 0


async def test_partial_charges_never_bill_twice_and_minimum_window(services: Services) -> None:
    acct = await new_account(services, credits=5_000)
    clock = FakeClock()
    m = meter(services, acct.user_id, clock, minimum_billed_seconds=120)
    await m.start()
    clock.now += 10
    first = await m.charge_so_far()
    assert first.charged == 120 * 4  # the minimum window
    again = await m.charge_so_far()
    assert again.charged == 0
    clock.now += 140  # 150 s in
    assert await m.renew()
    later = await m.charge_so_far()
    assert later.charged == 30 * 4
    final = await m.settle()
    assert final is not None and final.charged == 0
    assert (await services.ledger.balance(acct.user_id)).available == 5_000 - 600


async def test_crashed_session_hold_expires_into_recorded_use(services: Services) -> None:
    acct = await new_account(services, credits=1_000)
    clock = FakeClock()
    m = meter(services, acct.user_id, clock, hold_ttl_seconds=30)
    await m.start()
    clock.now += 17.5
    await m.renew()  # records use through the next renewal: 27.5 s → 28 s
    # ... then the process "dies" somewhere before that renewal and never settles.
    later = datetime.now(UTC) + timedelta(seconds=31)
    sweeper = Ledger(services.db, clock=lambda: later)
    assert await sweeper.expire_holds() == 1
    balance = await services.ledger.balance(acct.user_id)
    assert (balance.available, balance.held) == (1_000 - 28 * 4, 0)


async def test_session_killed_before_its_first_renewal_is_charged(services: Services) -> None:
    """Issue 15: a process killed ~9 s into a session, before the first renewal at 10 s,
    left a hold recording 0 used, so the sweeper charged nothing. The hold now records use
    from the start (through the first renewal)."""
    acct = await new_account(services, credits=1_000)
    clock = FakeClock()
    m = meter(services, acct.user_id, clock, hold_ttl_seconds=30)
    await m.start()
    clock.now += 9.0  # used 9 s, then killed: no renew, no settle
    later = datetime.now(UTC) + timedelta(seconds=31)
    assert await Ledger(services.db, clock=lambda: later).expire_holds() == 1
    charged = 1_000 - (await services.ledger.balance(acct.user_id)).available
    assert 9 * 4 <= charged <= 10 * 4  # at least the use, at most one renewal interval


async def test_clean_close_still_charges_exact_use(services: Services) -> None:
    acct = await new_account(services, credits=1_000)
    clock = FakeClock()
    m = meter(services, acct.user_id, clock)
    await m.start()
    clock.now += 3.2
    await m.renew()  # records 14 s ahead; the settle still charges what was used
    result = await m.settle()
    assert result is not None and result.charged == 4 * 4
    # The settled hold records the truth (the soak audit checks charged == used).
    assert m.hold_id is not None
    hold = await services.ledger.get_hold(m.hold_id)
    assert hold is not None and (hold.used, hold.captured) == (16, 16)

"""A revoked API key ends the sessions already running on it within one renewal interval
(the meter asks at each renewal; the database is shared, so on every replica)."""

from __future__ import annotations

import json

from websockets.asyncio.client import connect

from realtime2.accounts.metering import MeterPolicy
from realtime2.edge.admission import key_check
from realtime2.state import Services
from tests.support.accounts import new_account, settled
from tests.support.clock import FakeClock
from tests.support.meters import mini_meter
from tests.support.server import LiveServer
from tests.support.session_end import errors_until_closed

RENEW_EVERY = MeterPolicy().renew_every_seconds


async def test_meter_stops_at_the_renewal_after_revocation(sqlite_services: Services) -> None:
    svc = sqlite_services
    acct = await new_account(svc, credits=10_000)
    clock = FakeClock()
    meter = mini_meter(
        svc,
        acct.user_id,
        "sess_revoked",
        api_key_id=acct.key_id,
        clock=clock,
        credential_check=key_check(svc, acct.key_id),
    )
    await meter.start()
    clock.advance(10)
    assert await meter.renew()
    await svc.keys.revoke(acct.key_id)
    clock.advance(10)
    assert not await meter.renew()
    assert meter.stop_code == "api_key_revoked"
    settlement = await meter.settle(reason=meter.stop_code)
    assert settlement is not None and settlement.charged == 20 * 4  # the seconds used


async def test_revoked_key_ends_its_live_session(fake_server: LiveServer) -> None:
    svc = fake_server.services
    acct = await new_account(svc, credits=10_000)
    url = fake_server.ws_url + "?model=realtime-mini"
    async with connect(url, additional_headers={"x-api-key": acct.key}) as ws:
        assert json.loads(await ws.recv())["type"] == "session.created"
        await svc.keys.revoke(acct.key_id)
        errors, took = await errors_until_closed(ws, RENEW_EVERY + 5)
    assert [e["code"] for e in errors] == ["api_key_revoked"]
    assert "revoked" in errors[0]["message"]
    assert took <= RENEW_EVERY + 1
    assert await settled(svc, acct.user_id) > 0  # the seconds used are charged

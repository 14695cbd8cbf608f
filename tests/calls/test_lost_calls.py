"""A call whose replica died: the sweeper settles its expired hold and ends the call's
record in the same transaction, so any replica then answers /charge with the final charge
(it used to stay `active`, answered 409 by every replica for good)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from realtime2.accounts.ledger import Ledger
from realtime2.app import create_app
from realtime2.calls.records import CallRecords
from realtime2.state import Services
from tests.support.accounts import new_account


async def test_sweeping_a_dead_calls_hold_ends_its_record(services: Services) -> None:
    acct = await new_account(services, credits=10_000)
    records = CallRecords(services.db)
    call_id = "rtc_" + "0" * 24
    await records.opened(
        call_id, user_id=acct.user_id, api_key_id=acct.key_id, model="realtime-mini"
    )
    hold = await services.ledger.place_hold(
        acct.user_id, 480, model="realtime-mini", reference=call_id, ttl_seconds=45, used=160
    )
    await services.ledger.extend_hold(hold.id, 0, ttl_seconds=45, used=200)
    # Another call's record (no expired hold) is left alone.
    await records.opened("rtc_other", user_id=acct.user_id, api_key_id=None, model="realtime-mini")

    later = Ledger(services.db, clock=lambda: datetime.now(UTC) + timedelta(seconds=60))
    assert await later.expire_holds() == 1
    record = await records.get(call_id)
    assert record is not None
    assert (record.status, record.charged, record.end_reason) == ("ended", 200, "replica_lost")
    assert (await records.get("rtc_other")).status == "active"  # type: ignore[union-attr]

    # Any replica now answers /charge for it with the recorded total.
    app = create_app(services.settings, services)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.post(
            "/api/realtime2/charge",
            json={"model": "realtime-mini", "callId": call_id},
            headers={"x-api-key": acct.key},
        )
    assert response.status_code == 200, response.text
    assert response.json()["totalChargedCredits"] == 200

"""Session meters in tests: a realtime-mini meter (4 credits a second) for a test account,
and a migrated `Services` on a given database for tests that build their own."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from realtime2.accounts.metering import CredentialCheck, MeterPolicy, MonotonicClock, SessionMeter
from realtime2.db.migrate import upgrade
from realtime2.state import Services
from tests.support.accounts import make_settings

MINI = "realtime-mini"
MINI_RATE = 4  # credits a second


def mini_meter(
    svc: Services,
    user_id: int,
    reference: str,
    *,
    api_key_id: str | None = None,
    clock: MonotonicClock = time.monotonic,
    policy: MeterPolicy | None = None,
    credential_check: CredentialCheck | None = None,
) -> SessionMeter:
    """A realtime-mini session's meter on `svc`'s ledger, not started."""
    return SessionMeter(
        svc.ledger,
        user_id=user_id,
        model=MINI,
        rate=MINI_RATE,
        reference=reference,
        api_key_id=api_key_id,
        clock=clock,
        policy=policy,
        credential_check=credential_check,
    )


@asynccontextmanager
async def migrated_services(tmp_path: Path, database_url: str) -> AsyncIterator[Services]:
    """Services on `database_url`, migrated, closed on the way out (as the `services`
    fixture, for tests that pick their database themselves)."""
    svc = Services.build(make_settings(tmp_path, database_url))
    await upgrade(svc.db)
    try:
        yield svc
    finally:
        await svc.close()

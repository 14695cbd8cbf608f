"""Fixture: a pair of servers, A (the gateway) in front of B (`tests.support.gateway`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.support.accounts import new_account
from tests.support.fakes import fake_engines
from tests.support.gateway import Pair, gateway_to
from tests.support.server import build_services, serve_app


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[Pair]:
    b_services = await build_services(tmp_path / "b", fake_engines())
    async for b in serve_app(b_services):
        upstream_account = await new_account(b.services, credits=100_000)
        async with gateway_to(tmp_path, b.url + "/v1", upstream_account.key) as a:
            yield Pair(a, b, upstream_account)

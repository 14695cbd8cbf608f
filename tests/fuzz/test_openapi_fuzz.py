"""Schemathesis against the app's own OpenAPI schema, with a valid key and fake engines:
no operation answers 5xx, and every 4xx carries the JSON error body
`{"error": {"code", "message", "type"}}`.

The app runs in this process on a uvicorn server in a background thread (its own event
loop, so the async database pool is never shared across loops) on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings

from realtime2.app import create_app
from tests.support.accounts import new_account
from tests.support.fakes import fake_engines
from tests.support.server import build_services, free_port, running


class ThreadServer:
    def __init__(self, tmp_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.key = ""
        self._ready = threading.Event()
        self._server: uvicorn.Server | None = None
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(tmp_path),))

    async def _main(self, tmp_path: Path) -> None:
        svc = await build_services(tmp_path, fake_engines())
        self.key = (await new_account(svc, credits=1_000_000)).key
        async with running(create_app(svc.settings, svc), port=self.port) as server:
            self._server = server
            self._ready.set()
            while not server.should_exit:  # noqa: ASYNC110 - set by __exit__, in another thread
                await asyncio.sleep(0.05)

    def __enter__(self) -> ThreadServer:
        self._thread.start()
        assert self._ready.wait(30), "server did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.should_exit = True
        self._thread.join(15)


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadServer]:
    with ThreadServer(tmp_path_factory.mktemp("openapi-fuzz")) as server:
        yield server


FUZZ = settings(
    max_examples=12,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def test_no_5xx_and_4xx_has_the_error_body(live_api: ThreadServer) -> None:
    schema = schemathesis.openapi.from_url(live_api.url + "/openapi.json")
    headers = {"Authorization": f"Bearer {live_api.key}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10  # every documented operation, not an empty schema

    for operation in operations:

        @FUZZ
        @given(case=operation.as_strategy())
        def check(case: Any) -> None:
            response = case.call(headers=headers, timeout=30)
            where = (case.method, case.formatted_path, response.text[:300])
            assert response.status_code < 500, where
            if response.status_code >= 400:
                error = response.json()["error"]
                for field in ("code", "message", "type"):
                    assert isinstance(error[field], str) and error[field], where

        check()


def test_usage_before_past_64_bits_is_a_400(live_api: ThreadServer) -> None:
    response = httpx.get(
        live_api.url + "/api/realtime2/usage",
        params={"before": str(2**64)},
        headers={"Authorization": f"Bearer {live_api.key}"},
    )
    assert response.status_code == 400

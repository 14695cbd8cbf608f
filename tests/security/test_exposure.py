"""`/metrics` (credits per model) and the API docs are served freely on a loopback bind only.
Bound to any other address they are off unless configured, and `/metrics` can be served to
a bearer token instead (before: both public on every address).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from realtime2.app import create_app
from realtime2.state import Services

DOCS = ("/docs", "/redoc", "/openapi.json")


@asynccontextmanager
async def client_for(services: Services, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(services.settings.model_copy(update=settings), services)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def _statuses(client: httpx.AsyncClient, paths: tuple[str, ...]) -> set[int]:
    return {(await client.get(path)).status_code for path in paths}


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
async def test_loopback_serves_docs_and_metrics(sqlite_services: Services, host: str) -> None:
    async with client_for(sqlite_services, host=host) as client:
        assert await _statuses(client, (*DOCS, "/metrics")) == {200}


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "api.example.com"])
async def test_other_addresses_hide_docs_and_metrics(sqlite_services: Services, host: str) -> None:
    async with client_for(sqlite_services, host=host) as client:
        for path in (*DOCS, "/metrics"):
            response = await client.get(path)
            assert response.status_code == 404, path
            assert response.json()["error"]["code"] == "not_found"
        assert (await client.get("/healthz")).status_code == 200


async def test_exposure_can_be_forced_either_way(sqlite_services: Services) -> None:
    async with client_for(
        sqlite_services, host="0.0.0.0", expose_docs=True, expose_metrics=True
    ) as client:
        assert await _statuses(client, (*DOCS, "/metrics")) == {200}
    async with client_for(
        sqlite_services, host="127.0.0.1", expose_docs=False, expose_metrics=False
    ) as client:
        assert await _statuses(client, (*DOCS, "/metrics")) == {404}


async def test_a_metrics_token_protects_metrics_on_any_address(sqlite_services: Services) -> None:
    for host in ("0.0.0.0", "127.0.0.1"):
        async with client_for(
            sqlite_services, host=host, metrics_token=SecretStr("s3cret-token")
        ) as client:
            for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": "Bearer "}):
                response = await client.get("/metrics", headers=headers)
                assert response.status_code == 401
                assert response.json()["error"]["code"] == "unauthorized"
            response = await client.get(
                "/metrics", headers={"authorization": "Bearer s3cret-token"}
            )
            assert response.status_code == 200
            assert "realtime2_http_requests" in response.text


async def test_an_empty_metrics_token_protects_nothing(sqlite_services: Services) -> None:
    """REALTIME2_METRICS_TOKEN= (empty) is no token: it neither opens /metrics on a public
    address nor lets `Bearer ` in."""
    async with client_for(sqlite_services, host="0.0.0.0", metrics_token=SecretStr("")) as client:
        assert (
            await client.get("/metrics", headers={"authorization": "Bearer "})
        ).status_code == 404

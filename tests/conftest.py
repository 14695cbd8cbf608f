"""Shared fixtures: databases (SQLite always, PostgreSQL when one answers on 127.0.0.1:5432),
services built on them, an in-process HTTP client, a live server on fake engines.

Helpers live in `tests/support/`; test modules import them from there, never from here."""

from __future__ import annotations

import asyncio
import secrets
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from realtime2.app import create_app
from realtime2.db.migrate import upgrade
from realtime2.state import Services
from tests.support.accounts import make_settings
from tests.support.fakes import fake_engines
from tests.support.meters import migrated_services
from tests.support.paths import TEST_OUTPUT
from tests.support.server import LiveServer, build_services, serve_app

PG_HOST, PG_PORT = "127.0.0.1", 5432


def _pg_answers() -> bool:
    try:
        with socket.create_connection((PG_HOST, PG_PORT), timeout=1):
            return True
    except OSError:
        return False


PG_AVAILABLE = _pg_answers()
PG_SKIP_REASON = f"no PostgreSQL answers on {PG_HOST}:{PG_PORT}"


def pytest_report_header(config: pytest.Config) -> str:
    return "postgresql: " + ("available" if PG_AVAILABLE else f"SKIPPED ({PG_SKIP_REASON})")


async def _admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user="postgres", database="postgres")
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped afterwards."""
    if not PG_AVAILABLE:
        pytest.skip(PG_SKIP_REASON)
    name = f"realtime2_test_{secrets.token_hex(4)}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql://postgres@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def fresh_pg_url(pg_database: str) -> Iterator[str]:
    """A PostgreSQL URL with empty tables for one test."""

    async def reset() -> None:
        import asyncpg

        conn = await asyncpg.connect(pg_database)
        try:
            await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
        finally:
            await conn.close()

    asyncio.run(reset())
    yield pg_database


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    url: str = request.getfixturevalue("fresh_pg_url")
    return url


@pytest.fixture
async def services(tmp_path: Path, database_url: str) -> AsyncIterator[Services]:
    async with migrated_services(tmp_path, database_url) as svc:
        yield svc


@pytest.fixture
async def sqlite_services(tmp_path: Path) -> AsyncIterator[Services]:
    svc = Services.build(make_settings(tmp_path))
    await upgrade(svc.db)
    try:
        yield svc
    finally:
        await svc.close()


@pytest.fixture
async def client(sqlite_services: Services) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(sqlite_services.settings, sqlite_services)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
def test_output_dir(request: pytest.FixtureRequest) -> Path:
    path = TEST_OUTPUT / request.node.name.replace("/", "_")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
async def fake_server(tmp_path: Path) -> AsyncIterator[LiveServer]:
    """The app on `fake_engines()`, served by uvicorn in the test's event loop."""
    svc = await build_services(tmp_path, fake_engines())
    async for live in serve_app(svc):
        yield live

"""Shared fixtures: databases (SQLite always, PostgreSQL when one answers on 127.0.0.1:5432),
services built on them, an in-process HTTP client and a real server subprocess."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from realtime2.app import create_app
from realtime2.config import Settings
from realtime2.db.migrate import upgrade
from realtime2.state import Services

ROOT = Path(__file__).resolve().parents[1]
TEST_OUTPUT = ROOT / "test-output"
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


def make_settings(tmp_path: Path, database_url: str = "", **overrides: object) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url or f"sqlite:///{tmp_path / 'test.db'}",
        secret_key="test-secret-" + secrets.token_hex(8),
        **overrides,  # type: ignore[arg-type]
    )


@pytest.fixture
async def services(tmp_path: Path, database_url: str) -> AsyncIterator[Services]:
    svc = Services.build(make_settings(tmp_path, database_url))
    await upgrade(svc.db)
    try:
        yield svc
    finally:
        await svc.close()


@pytest.fixture
async def sqlite_services(tmp_path: Path) -> AsyncIterator[Services]:
    svc = Services.build(make_settings(tmp_path))
    await upgrade(svc.db)
    try:
        yield svc
    finally:
        await svc.close()


@dataclass
class Account:
    user_id: int
    email: str
    key: str
    key_id: str


async def new_account(svc: Services, credits: int = 1000, email: str | None = None) -> Account:
    email = email or f"user-{secrets.token_hex(4)}@example.com"
    user = await svc.users.create(email, "correct horse battery")
    if credits:
        await svc.ledger.top_up(user.id, credits)
    info, raw = await svc.keys.create(user.id, "test")
    return Account(user.id, email, raw, info.id)


@pytest.fixture
async def client(sqlite_services: Services) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(sqlite_services.settings, sqlite_services)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServerProcess:
    url: str
    process: subprocess.Popen[str]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def start_server(
    tmp_path: Path,
    env: dict[str, str],
    *,
    args: tuple[str, ...] = (),
    ready_path: str = "/healthz",
    timeout: float = 120.0,
    name: str = "server",
) -> ServerProcess:
    port = free_port()
    log_path = tmp_path / f"{name}.log"
    full_env = {
        **os.environ,
        "REALTIME2_HOST": "127.0.0.1",
        "REALTIME2_PORT": str(port),
        "REALTIME2_DATA_DIR": str(tmp_path / "data"),
        **env,
    }
    log_file = log_path.open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "realtime2.cli", "serve", *args],
        env=full_env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
    )
    server = ServerProcess(f"http://127.0.0.1:{port}", process, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{server.log()}")
        try:
            if httpx.get(server.url + ready_path, timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"server not ready in {timeout}s:\n{server.log()}")


@pytest.fixture
def test_output_dir(request: pytest.FixtureRequest) -> Path:
    path = TEST_OUTPUT / request.node.name.replace("/", "_")
    path.mkdir(parents=True, exist_ok=True)
    return path

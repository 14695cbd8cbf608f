"""Replicas starting at once on an empty PostgreSQL database: `realtime2 migrate` in three
processes together, all succeed, one schema (realtime2.db.migrate's advisory lock)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.postgres


def test_three_concurrent_migrations_on_an_empty_database(
    tmp_path: Path, fresh_pg_url: str
) -> None:
    env = {
        **os.environ,
        "REALTIME2_DATABASE_URL": fresh_pg_url,
        "REALTIME2_SECRET_KEY": "migrate-lock-test",
        "REALTIME2_LOAD_ENGINES": "false",
    }
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "realtime2.cli", "migrate"],
            env={**env, "REALTIME2_DATA_DIR": str(tmp_path / f"data{i}")},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
        )
        for i in range(3)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    for proc, (out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err[-2000:]
        assert "latest schema" in out

    async def versions() -> list[str]:
        import asyncpg

        conn = await asyncpg.connect(fresh_pg_url)
        try:
            return [r[0] for r in await conn.fetch("SELECT version_num FROM alembic_version")]
        finally:
            await conn.close()

    assert len(asyncio.run(versions())) == 1

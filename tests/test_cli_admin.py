"""`realtime2 users create --admin` and `users promote`, as real subprocesses; the admin
they make reaches the admin API (in process, on the same database)."""

from __future__ import annotations

from pathlib import Path

import httpx

from realtime2.app import create_app
from realtime2.config import Settings
from realtime2.state import Services
from tests.support.cli import cli


async def test_create_admin_promote_and_demote(tmp_path: Path) -> None:
    made = cli(tmp_path, "users", "create", "ops@example.com", "--admin")
    assert made.returncode == 0 and "created admin ops@example.com" in made.stdout
    assert cli(tmp_path, "users", "create", "bo@example.com").returncode == 0
    promoted = cli(tmp_path, "users", "promote", "bo@example.com")
    assert promoted.returncode == 0 and "now an admin" in promoted.stdout
    key = cli(tmp_path, "keys", "create", "bo@example.com").stdout.strip().splitlines()[-1]

    # The CLI's database and the secret it generated there (keys are hashed with it).
    svc = Services.build(Settings(data_dir=tmp_path / "data"))
    app = create_app(svc.settings, svc)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            listed = await http.get("/api/admin/users", headers={"x-api-key": key})
            assert listed.status_code == 200, listed.text
            roles = {u["email"]: u["role"] for u in listed.json()["data"]}
            assert roles == {"ops@example.com": "admin", "bo@example.com": "admin"}
            assert cli(tmp_path, "users", "promote", "bo@example.com", "--demote").returncode == 0
            refused = await http.get("/api/admin/users", headers={"x-api-key": key})
            assert refused.status_code == 403
    finally:
        await svc.close()
    missing = cli(tmp_path, "users", "promote", "nobody@example.com")
    assert missing.returncode == 2

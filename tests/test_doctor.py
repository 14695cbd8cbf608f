"""`realtime2 doctor`: one line per check, FAIL with the fix, exit status 1 on a failure;
it writes nothing (no migration, no SQLite file)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from realtime2 import doctor
from realtime2.state import Services
from tests.support.accounts import make_settings
from tests.support.server import free_port


async def test_a_healthy_setup_passes(services: Services) -> None:
    settings = services.settings.model_copy(
        update={"redis_url": "redis://127.0.0.1:6379/0", "load_engines": False}
    )
    findings = {f.what: f for f in await doctor.run(settings)}
    assert findings["database"].level == "ok", findings["database"]
    assert "latest migration" in findings["database"].detail
    assert findings["secret"].level == "ok"
    assert findings["cpu"].detail.startswith("instruction sets")
    if findings["redis"].level != "ok":  # only where no Redis runs at all
        assert "no answer" in findings["redis"].detail


async def test_what_is_wrong_is_named(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
        load_engines=False,
    )
    findings = {f.what: f for f in await doctor.run(settings)}
    assert findings["database"].level == "warn"  # no SQLite file yet: not created by doctor
    assert not (tmp_path / "test.db").exists()
    assert findings["redis"].level == "FAIL" and "fix:" in findings["redis"].detail


def test_cli_exit_status_and_lines(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "REALTIME2_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{free_port()}/none",
        "REALTIME2_DATA_DIR": str(tmp_path / "data"),
        "REALTIME2_LOAD_ENGINES": "false",
    }
    done = subprocess.run(
        [sys.executable, "-m", "realtime2.cli", "doctor"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("FAIL  database") and "fix:" in lines[0]
    assert any(line.startswith("warn  secret") for line in lines)
    assert "Traceback" not in done.stderr

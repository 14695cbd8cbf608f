"""Running the `realtime2` command line as a user would: a child process whose data lives
under the test's temporary directory (SQLite there, unless told to keep the environment's
database)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def cli(
    tmp_path: Path,
    *args: str,
    check: bool = False,
    timeout: float = 60,
    database_from_env: bool = False,
) -> subprocess.CompletedProcess[str]:
    """`database_from_env`: keep REALTIME2_DATABASE_URL, as a server started by
    `tests.support.server.start_server` does, so both see one database."""
    env = {**os.environ, "REALTIME2_DATA_DIR": str(tmp_path / "data")}
    if not database_from_env:
        env.pop("REALTIME2_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "realtime2.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=tmp_path,
        check=check,
    )

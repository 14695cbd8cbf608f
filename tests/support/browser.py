"""Headless Chromium for the browser tests, and the `realtime2` CLI run on a data directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CHROMIUM = os.environ.get("REALTIME2_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def cli(tmp_path: Path, *args: str) -> None:
    env = {**os.environ, "REALTIME2_DATA_DIR": str(tmp_path / "data")}
    subprocess.run(
        [sys.executable, "-m", "realtime2.cli", *args],
        env=env,
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )

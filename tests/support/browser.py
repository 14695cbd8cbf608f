"""Headless Chromium for the browser tests, and the `realtime2` CLI run on a data directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

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


@contextmanager
def chromium() -> Iterator[Any]:
    """A launched headless Chromium (a Playwright `Browser`), closed on the way out; the
    test is skipped where Chromium or Playwright is missing."""
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (make browser installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def watch_page(page: Any, errors: list[str]) -> None:
    """Collect the page's console errors and uncaught exceptions into `errors` (a test
    asserts what is there at its end), and accept its dialogs (the confirmations)."""
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("dialog", lambda dialog: dialog.accept())

"""Headless Chromium for the browser tests, and the `realtime2` CLI run on a data directory."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import cli as run_cli

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
    """The command line, failing the test if it fails (accounts, keys, credits)."""
    run_cli(tmp_path, *args, check=True, timeout=120, database_from_env=True)


@contextmanager
def chromium(extra_args: Sequence[str] = ()) -> Iterator[Any]:
    """A launched headless Chromium (a Playwright `Browser`), closed on the way out; the
    test is skipped where Chromium or Playwright is missing. `extra_args`: more switches
    (a fake microphone, say)."""
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (make browser installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *extra_args])
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

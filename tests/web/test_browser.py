"""The dashboard in real headless Chromium against a real server process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.browser import chromium, cli, watch_page
from tests.support.server import ServerProcess, start_server

pytestmark = pytest.mark.browser

EMAIL = "browser@example.com"
PASSWORD = "browser-test-password"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    cli(tmp_path, "users", "create", EMAIL, "--password", PASSWORD)
    cli(tmp_path, "credits", "grant", EMAIL, "2500")
    proc = start_server(tmp_path, {})
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def test_create_use_and_revoke_a_key_in_the_browser(
    server: ServerProcess, browser: Any, test_output_dir: Path
) -> None:
    context = browser.new_context(viewport={"width": 1200, "height": 860})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    page = context.new_page()
    console_errors: list[str] = []
    watch_page(page, console_errors)  # and accepts the revoke confirmation

    # Pages send a logged-out visitor to the login form, and back after login.
    page.goto(server.url + "/settings/api-keys")
    assert page.url.startswith(server.url + "/login")
    page.fill("input[name=email]", EMAIL)
    page.fill("input[name=password]", "not the password")
    page.click("button[type=submit]")
    assert "Wrong email or password" in page.inner_text(".alert")
    page.screenshot(path=str(test_output_dir / "login-failed.png"))
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(server.url + "/settings/api-keys")

    page.fill("input[name=name]", "browser test")
    page.click("text=Create key")
    page.wait_for_selector("#new-key")
    raw = page.inner_text("#new-key").strip()
    assert raw.startswith("sk-gptr2-") and len(raw) == 52
    page.click("button[data-copy]")
    page.wait_for_selector("button[data-copy]:has-text('Copied')")
    assert page.evaluate("navigator.clipboard.readText()") == raw
    page.screenshot(path=str(test_output_dir / "api-keys-new-key.png"), full_page=True)

    me = httpx.get(server.url + "/api/realtime2/me", headers={"Authorization": f"Bearer {raw}"})
    assert me.status_code == 200, me.text
    assert me.json()["email"] == EMAIL and me.json()["balance"] == 2500

    # A reload neither shows the key again nor re-posts the form (no second key).
    page.reload()
    assert page.query_selector("#new-key") is None
    assert raw not in page.content()
    rows = page.query_selector_all("#keys tbody tr")
    assert len(rows) == 1

    row = page.locator("#keys tbody tr", has_text=raw[:15])
    row.locator("button", has_text="Revoke").click()
    page.wait_for_selector(".alert.ok")
    assert f"Revoked {raw[:15]}" in page.inner_text(".alert.ok")
    assert "Revoked" in page.locator("#keys tbody tr", has_text=raw[:15]).inner_text()
    page.screenshot(path=str(test_output_dir / "api-keys-revoked.png"), full_page=True)

    refused = httpx.get(server.url + "/api/realtime2/me", headers={"x-api-key": raw})
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "invalid_api_key"

    page.click("text=Dashboard")
    page.wait_for_url(server.url + "/dashboard")
    assert page.inner_text("#balance-available") == "2,500"
    page.screenshot(path=str(test_output_dir / "dashboard.png"), full_page=True)

    page.click("text=Log out")
    page.wait_for_url(server.url + "/login")
    page.goto(server.url + "/dashboard")
    assert page.url.startswith(server.url + "/login")

    # Nothing of ours failed or was blocked by the CSP; the one 401 is the wrong password.
    assert [e for e in console_errors if "status of 401" not in e] == []
    context.close()
    log = server.log()
    assert raw not in log and PASSWORD not in log

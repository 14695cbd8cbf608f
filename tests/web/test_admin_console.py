"""The operator's console in real headless Chromium, against two server replicas sharing one
database: an admin grants credits, the user's dashboard shows them and charts their spend,
the user's key works on both replicas, the admin sees and ends the user's running session,
then disables the user and the key is refused at once on both."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.support.balancer import Replica, start_replicas, wait_ready
from tests.support.browser import chromium, watch_page

pytestmark = pytest.mark.browser

ADMIN = "ops@example.com"
USER = "customer@example.com"
PASSWORD = "console-test-password"
GRANT = 3000


def run_cli(tmp_path: Path, env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "realtime2.cli", *args],
        env={**os.environ, "REALTIME2_DATA_DIR": str(tmp_path / "cli"), **env},
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.stdout


@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[tuple[list[Replica], str]]:
    """Two fake-engine replicas on one SQLite database (and one secret, so a key made by
    one is known to the other); yields them and the user's API key."""
    env = {
        "REALTIME2_DATABASE_URL": f"sqlite:///{tmp_path / 'shared.db'}",
        "REALTIME2_SECRET_KEY": "console-" + secrets.token_hex(16),
    }
    run_cli(tmp_path, env, "users", "create", ADMIN, "--password", PASSWORD, "--admin")
    run_cli(tmp_path, env, "users", "create", USER, "--password", PASSWORD)
    key = run_cli(tmp_path, env, "keys", "create", USER, "--name", "app").strip().splitlines()[-1]
    started = start_replicas(2, env, tmp_path)
    try:
        wait_ready([r.url for r in started], [r.process for r in started], timeout=120)
        yield started, key
    finally:
        for replica in started:
            replica.stop()


@pytest.fixture
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def log_in(browser: Any, url: str, email: str, errors: list[str]) -> Any:
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    watch_page(page, errors)
    page.goto(url + "/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(url + "/dashboard")
    return page


def me(url: str, key: str) -> httpx.Response:
    return httpx.get(url + "/api/realtime2/me", headers={"Authorization": f"Bearer {key}"})


def test_grant_use_chart_end_and_disable(
    replicas: tuple[list[Replica], str], browser: Any, test_output_dir: Path
) -> None:
    (first, second), key = replicas
    a, b = first.url, second.url
    errors: list[str] = []

    # Before any grant the key works but cannot pay for anything.
    assert me(a, key).json()["balance"] == 0

    # The admin grants credits on the admin page (replica A).
    admin = log_in(browser, a, ADMIN, errors)
    admin.click("nav >> text=Admin")
    admin.wait_for_selector("#admin-users[data-loaded]")
    row = admin.locator(f"#users tbody tr[data-email='{USER}']")
    row.locator("input[type=number]").fill(str(GRANT))
    row.locator("input[type=text]").fill("welcome credit")
    row.locator("button", has_text="Grant").click()
    admin.wait_for_selector("#admin-notice.ok")
    assert f"Granted {GRANT:,} credits" in admin.inner_text("#admin-notice")
    assert row.locator(".balance").inner_text() == f"{GRANT:,}"
    admin.screenshot(path=str(test_output_dir / "admin-granted.png"), full_page=True)

    # The user's dashboard (replica B) shows them; the key works on both replicas.
    user = log_in(browser, b, USER, errors)
    assert user.inner_text("#balance-available") == f"{GRANT:,}"
    assert me(a, key).json()["balance"] == me(b, key).json()["balance"] == GRANT
    spent = 0
    for url in (a, b):
        turn = httpx.post(
            url + "/api/realtime2/pipeline",
            headers={"x-api-key": key},
            data={"model": "starter-voice", "voice": "marin", "text": "Tell me one idea."},
            timeout=60,
        )
        assert turn.status_code == 200, turn.text
        spent += turn.json()["usage"]["credits"]
    assert spent > 0

    # The chart shows today's spend: 30 bars, the last one holding exactly what was charged.
    user.reload()
    bars = user.eval_on_selector_all(
        "#spend-chart rect.bar",
        "bars => bars.map(b => [b.dataset.day, +b.dataset.credits, +b.getAttribute('height')])",
    )
    assert len(bars) == 30
    assert bars[-1][1] == spent and bars[-1][2] > 0
    assert sum(credits for _, credits, _ in bars) == spent
    assert user.get_attribute("#spend-chart", "data-total") == str(spent)
    user.locator("#spend").screenshot(path=str(test_output_dir / "dashboard-spend-chart.png"))
    user.screenshot(path=str(test_output_dir / "dashboard-user.png"), full_page=True)
    report = httpx.get(
        b + "/api/realtime2/usage/report", params={"group_by": "model"}, headers={"x-api-key": key}
    ).json()
    assert report["total"]["credits"] == spent

    # A session running on replica B: the user sees it; the admin (on A) sees it and ends it.
    socket_url = b.replace("http", "ws", 1) + "/v1/realtime?model=realtime-mini"
    with connect(socket_url, additional_headers={"Authorization": f"Bearer {key}"}) as session:
        assert json.loads(session.recv(timeout=10))["type"] == "session.created"
        user.reload()
        user.wait_for_selector("#sessions tbody tr")
        assert "realtime-mini" in user.inner_text("#sessions")
        assert user.query_selector("button[data-end-session]") is None  # not an admin
        admin.goto(a + "/dashboard")
        admin_row = admin.locator("#sessions tbody tr", has_text=USER)
        assert admin_row.count() == 1
        admin.screenshot(path=str(test_output_dir / "dashboard-admin-sessions.png"), full_page=True)
        admin_row.locator("button[data-end-session]").click()
        admin.wait_for_selector("#sessions-status:has-text('ends at its next renewal')")
        deadline = time.monotonic() + 20
        ended = False
        while time.monotonic() < deadline and not ended:
            try:
                session.recv(timeout=deadline - time.monotonic())
            except ConnectionClosed:
                ended = True
            except TimeoutError:
                break
        assert ended, "the ended session was still open after 20 s"

    # The admin disables the user: the key is refused at once, on both replicas.
    admin.goto(a + "/dashboard/admin")
    admin.wait_for_selector("#admin-users[data-loaded]")
    row = admin.locator(f"#users tbody tr[data-email='{USER}']")
    row.locator("button", has_text="Disable").click()
    admin.wait_for_selector(f"#users tbody tr[data-email='{USER}'] .badge:has-text('disabled')")
    for url in (a, b):
        refused = me(url, key)
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["code"] == "account_disabled"
    admin.screenshot(path=str(test_output_dir / "admin-disabled.png"), full_page=True)
    # The user's login is refused too: the dashboard sends them to the login form.
    user.goto(b + "/dashboard")
    assert user.url.startswith(b + "/login")

    # Enabled again, the same key works again, with the credit the user had left.
    admin.locator(f"#users tbody tr[data-email='{USER}']").locator(
        "button", has_text="Enable"
    ).click()
    admin.wait_for_selector(f"#users tbody tr[data-email='{USER}'] .badge:has-text('active')")
    for url in (a, b):
        again = me(url, key)
        assert again.status_code == 200 and 0 < again.json()["balance"] < GRANT - spent

    assert errors == []

"""Helpers for the dashboard tests: log in through the real form, read tokens off pages."""

from __future__ import annotations

import re

import httpx

PASSWORD = "correct horse battery"  # what tests.conftest.new_account sets
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
KEY_ON_PAGE = re.compile(r'<code id="new-key">(sk-gptr2-[A-Za-z0-9_-]{43})</code>')


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no csrf_token field on the page"
    return match.group(1)


async def post_login(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD, *, next_url: str = ""
) -> httpx.Response:
    page = await client.get("/login")
    data = {"email": email, "password": password, "csrf_token": csrf_of(page.text)}
    if next_url:
        data["next"] = next_url
    return await client.post("/login", data=data)


async def log_in(client: httpx.AsyncClient, email: str) -> str:
    """Logs in; returns the session's CSRF token as the pages carry it."""
    response = await post_login(client, email)
    assert response.status_code == 303, response.text
    page = await client.get("/settings/api-keys")
    assert page.status_code == 200
    return csrf_of(page.text)

"""MCP `server_url`s are the client's choice, so the server must not fetch just any URL
(server-side request forgery): only the operator's allowed hosts (loopback by default),
never link-local or metadata addresses, whatever the setting says (docs/security.md)."""

from __future__ import annotations

import pytest

from realtime2.realtime.runner import SessionRunner
from tests.support.fakes import fake_engines
from tests.support.runner import Client


async def _listing_error(url: str) -> str:
    runner = SessionRunner(fake_engines())  # the operator's REALTIME2_MCP_* settings
    runner.start()
    client = Client(runner)
    tool = {"type": "mcp", "server_label": "x", "server_url": url, "require_approval": "never"}
    await client.send({"type": "session.update", "session": {"type": "realtime", "tools": [tool]}})
    await client.wait_for("mcp_list_tools.failed")
    error = await client.wait_for("error")
    await runner.close()
    return str(error["error"]["message"])


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://10.0.0.1/mcp",
        "https://mcp.example.com/mcp",
    ],
)
async def test_hosts_outside_the_default_allow_list_are_refused(url: str) -> None:
    message = await _listing_error(url)
    assert "not allowed" in message or "link-local" in message


async def test_metadata_addresses_are_refused_even_when_listed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REALTIME2_MCP_ALLOWED_HOSTS", "169.254.169.254,fd00:ec2::254")
    for url in ("http://169.254.169.254/", "http://[fd00:ec2::254]/"):
        assert "link-local or metadata" in await _listing_error(url)


async def test_credentials_in_the_url_are_refused_and_not_echoed() -> None:
    message = await _listing_error("http://user:s3cret@127.0.0.1:9/mcp")
    assert "must not carry credentials" in message and "s3cret" not in message

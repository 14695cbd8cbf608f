"""`realtime2 sip add/list`: a user's SIP endpoint, its URI and webhook secret."""

from __future__ import annotations

from pathlib import Path

from tests.support.cli import cli


def test_sip_add_and_list(tmp_path: Path) -> None:
    assert cli(tmp_path, "users", "create", "ann@example.com").returncode == 0
    added = cli(
        tmp_path,
        "sip",
        "add",
        "ann@example.com",
        "--webhook-url",
        "https://app.test/hook",
        "--allow",
        "192.0.2.0/24",
        "--allow",
        "198.51.100.7",
    )
    assert added.returncode == 0, added.stderr
    secret = added.stdout.strip().splitlines()[-1]
    assert secret.startswith("whsec_")
    assert "192.0.2.0/24, 198.51.100.7/32" in added.stdout
    listing = cli(tmp_path, "sip", "list", "ann@example.com")
    assert "https://app.test/hook" in listing.stdout and "rt2_" in listing.stdout
    assert secret not in listing.stdout
    bad = cli(tmp_path, "sip", "add", "ann@example.com", "--webhook-url", "ftp://x")
    assert bad.returncode == 2 and "webhook URL" in bad.stderr
    bad = cli(
        tmp_path, "sip", "add", "ann@example.com", "--webhook-url", "http://x/", "--allow", "nope"
    )
    assert bad.returncode == 2 and "nope" in bad.stderr

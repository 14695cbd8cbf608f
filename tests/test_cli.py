"""The admin CLI, run as a real subprocess against a fresh SQLite database."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import cli


def test_user_credit_and_key_lifecycle(tmp_path: Path) -> None:
    assert (
        cli(tmp_path, "users", "create", "ann@example.com", "--password", "s3cret-pass").returncode
        == 0
    )
    grant = cli(tmp_path, "credits", "grant", "ann@example.com", "250")
    assert grant.returncode == 0 and "balance 250" in grant.stdout
    created = cli(tmp_path, "keys", "create", "ann@example.com", "--name", "laptop")
    assert created.returncode == 0
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("sk-gptr2-") and len(key) == 52
    listing = cli(tmp_path, "keys", "list", "ann@example.com")
    assert "laptop" in listing.stdout and key[:15] in listing.stdout and key not in listing.stdout
    assert cli(tmp_path, "keys", "revoke", key[:15]).returncode == 0
    assert "revoked" in cli(tmp_path, "keys", "list", "ann@example.com").stdout
    balance = cli(tmp_path, "credits", "balance", "ann@example.com")
    assert "balance 250" in balance.stdout
    db = (tmp_path / "data" / "realtime2.db").read_bytes()
    assert key.encode() not in db


@pytest.mark.parametrize(
    "args",
    [
        ("credits", "grant", "nobody@example.com", "5"),
        ("credits", "balance", "nobody@example.com"),
        ("keys", "create", "nobody@example.com"),
        ("keys", "revoke", "key_nope"),
        ("users", "create", "not-an-email"),
    ],
)
def test_clear_errors(tmp_path: Path, args: tuple[str, ...]) -> None:
    result = cli(tmp_path, *args)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr


def test_bad_arguments(tmp_path: Path) -> None:
    result = cli(tmp_path, "credits", "grant", "a@example.com", "lots")
    assert result.returncode == 2 and "not an integer" in result.stderr
    assert cli(tmp_path, "users", "create", "dup@example.com").returncode == 0
    dup = cli(tmp_path, "users", "create", "dup@example.com")
    assert dup.returncode == 2 and "already exists" in dup.stderr

"""`realtime2 serve --bootstrap-demo` (what `make run` runs) as a real process."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from tests.support.server import start_server


def test_bootstrap_demo_then_me(tmp_path: Path) -> None:
    server = start_server(tmp_path, {"REALTIME2_DEMO_CREDITS": "4321"}, args=("--bootstrap-demo",))
    try:
        key = re.search(r"sk-gptr2-[A-Za-z0-9_-]{43}", server.log())
        assert key, server.log()
        me = httpx.get(server.url + "/api/realtime2/me", headers={"x-api-key": key.group(0)})
        assert me.status_code == 200 and me.json()["balance"] == 4321
        kept = (tmp_path / "data" / "demo-credentials.txt").read_text()
        assert key.group(0) in kept
        assert (tmp_path / "data" / "demo-credentials.txt").stat().st_mode & 0o077 == 0
        httpx.get(
            server.url + "/api/realtime2/me", headers={"Authorization": f"Bearer {key.group(0)}"}
        )
    finally:
        server.stop()
    log = server.log()
    # The key appears once, in the first-start banner, and nowhere in request logs.
    assert log.count(key.group(0)) == 1
    db = (tmp_path / "data" / "realtime2.db").read_bytes()
    assert key.group(0).encode() not in db

    second = start_server(tmp_path, {}, args=("--bootstrap-demo",), name="second")
    try:
        assert key.group(0) not in second.log() and "kept in" in second.log()
    finally:
        second.stop()

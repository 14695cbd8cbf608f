"""The service's logging never echoes SQL (statements carry emails and key hashes)."""

from __future__ import annotations

import io
import logging
from pathlib import Path

from realtime2.db.migrate import upgrade
from realtime2.logging_setup import configure_logging
from realtime2.state import Services
from tests.support.accounts import make_settings, new_account


async def test_sql_is_not_logged_at_info_or_debug(tmp_path: Path) -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    for level in ("info", "debug"):
        stream = io.StringIO()
        configure_logging(level, "text", stream=stream)
        try:
            svc = Services.build(make_settings(tmp_path / level))
            await upgrade(svc.db)
            acct = await new_account(svc, credits=5)
            await svc.keys.authenticate(acct.key)
            await svc.close()
        finally:
            root.handlers[:], root.level = saved
        text = stream.getvalue()
        assert "SELECT" not in text and "INSERT" not in text, text[:500]
        assert acct.email not in text

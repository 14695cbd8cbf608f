"""Real third-party clients against a live server on fake engines."""

from __future__ import annotations

from tests.transports.conftest import fake_server

__all__ = ["fake_server"]

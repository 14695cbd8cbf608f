"""The ids that tie log lines to one request or one realtime session.

Context variables: set once where a request or session starts and inherited by every task
it creates, so a log call anywhere below needs no extra arguments.
"""

from __future__ import annotations

import secrets
from contextvars import ContextVar

request_id: ContextVar[str] = ContextVar("realtime2_request_id", default="-")
session_id: ContextVar[str] = ContextVar("realtime2_session_id", default="-")


def new_request_id() -> str:
    return f"req_{secrets.token_hex(8)}"


def bind_session(reference: str) -> None:
    """Tag this task's (and its children's) log lines with the session's reference."""
    session_id.set(reference)

"""Ids and builders for server events that several modules emit.

Every builder returns a plain dict ready for `json.dumps`; the test-suite validates each one
against the SDK's `RealtimeServerEvent` union.
"""

from __future__ import annotations

import secrets
from typing import Any

ServerEvent = dict[str, Any]


def new_id(prefix: str) -> str:
    # 20 url-safe characters, like OpenAI's ids; unguessable so ids leak nothing.
    return f"{prefix}_{secrets.token_urlsafe(15)}"


def event(kind: str, **fields: Any) -> ServerEvent:
    return {"event_id": new_id("event"), "type": kind, **fields}


def error_event(
    code: str,
    message: str,
    *,
    param: str | None = None,
    event_id: str | None = None,
    error_type: str = "invalid_request_error",
) -> ServerEvent:
    return event(
        "error",
        error={
            "type": error_type,
            "code": code,
            "message": message,
            "param": param,
            "event_id": event_id,
        },
    )


class ProtocolError(Exception):
    """A client request the session refuses; becomes an `error` event, the session lives on."""

    def __init__(
        self,
        code: str,
        message: str,
        param: str | None = None,
        *,
        error_type: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.param = param
        self.error_type = error_type

    def to_event(self, event_id: str | None) -> ServerEvent:
        return error_event(
            self.code,
            self.message,
            param=self.param,
            event_id=event_id,
            error_type=self.error_type,
        )

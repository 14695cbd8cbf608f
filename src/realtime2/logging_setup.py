"""Log configuration. Log lines carry ids and sizes, never keys, transcripts or prompts;
as a second line of defence a filter masks anything shaped like a secret. Every line has
the request and session id (see realtime2.observability.logs)."""

from __future__ import annotations

import logging
import re
from typing import TextIO

from realtime2.observability.logs import ContextIds, formatter

_SECRET = re.compile(r"(sk-gptr2-|ek_)[A-Za-z0-9_\-]{6,}|(?i:bearer)\s+\S+")
# Libraries whose verbose output includes message contents (WebSocket frames, HTTP bodies,
# SQL statements and their parameters): they log warnings only, whatever the service's
# level. (SQLAlchemy echoes every statement at INFO.)
_CONTENT_LOGGERS = (
    "websockets",
    "httpx",
    "httpcore",
    "hpack",
    "sqlalchemy",
    "aiosqlite",
    "asyncpg",
    "multipart",
    "python_multipart",
    "aiortc",
    "aioice",
)


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _SECRET.sub(lambda m: m.group(0)[:12] + "…[redacted]", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def configure_logging(
    level: str = "info", fmt: str = "text", stream: TextIO | None = None
) -> logging.Handler:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter(fmt))
    handler.addFilter(RedactSecrets())
    handler.addFilter(ContextIds())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    floor = max(logging.WARNING, root.level)
    for name in _CONTENT_LOGGERS:
        logging.getLogger(name).setLevel(floor)
    return handler

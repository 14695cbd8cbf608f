"""Log configuration. Log lines carry ids and sizes, never keys, transcripts or prompts;
as a second line of defence a filter masks anything shaped like a secret."""

from __future__ import annotations

import logging
import re

_SECRET = re.compile(r"(sk-gptr2-|ek_)[A-Za-z0-9_\-]{6,}|(?i:bearer)\s+\S+")


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _SECRET.sub(lambda m: m.group(0)[:12] + "…[redacted]", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def configure_logging(level: str = "info") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True

"""Structured log lines: every record carries `request_id` and `session_id` (from
`observability.context`), formatted as key=value text or one JSON object per line
(`REALTIME2_LOG_FORMAT=json`).

What is logged is ids, sizes, counts and timings. Keys, client secrets, transcripts and
prompts never are; `logging_setup.RedactSecrets` masks anything key-shaped as a backstop.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from realtime2.observability import context


class ContextIds(logging.Filter):
    """Copies the current request and session ids onto each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = context.request_id.get()
        record.session_id = context.session_id.get()
        return True


def _timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = (
            f"{_timestamp(record)} level={record.levelname.lower()} logger={record.name} "
            f"request_id={getattr(record, 'request_id', '-')} "
            f"session_id={getattr(record, 'session_id', '-')} msg={record.getMessage()!r}"
        )
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {
            "ts": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "session_id": getattr(record, "session_id", "-"),
            "msg": record.getMessage(),
        }
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


def formatter(kind: str) -> logging.Formatter:
    return JsonFormatter() if kind == "json" else KeyValueFormatter()

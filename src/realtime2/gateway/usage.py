"""Summing the upstream's token usage from `response.done` events.

The relay hands over only the frames that mention `"response.done"` (a substring test on
the raw text, so other frames are never parsed); this module parses those, checks the
type and adds the usage by kind. The totals go into the settling ledger entry's details.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

MARKER = '"response.done"'


@dataclass
class UsageTally:
    responses: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    input_text_tokens: int = 0
    input_audio_tokens: int = 0
    input_image_tokens: int = 0
    input_cached_tokens: int = 0
    output_text_tokens: int = 0
    output_audio_tokens: int = 0

    def observe(self, frame: str) -> None:
        """Account for one upstream text frame; cheap unless it is a `response.done`."""
        if MARKER not in frame:
            return
        try:
            event = json.loads(frame)
        except ValueError:
            return
        if isinstance(event, dict) and event.get("type") == "response.done":
            response = event.get("response")
            if isinstance(response, dict):
                self.add(response.get("usage"))

    def add(self, usage: Any) -> None:
        self.responses += 1
        if not isinstance(usage, dict):
            return
        self.input_tokens += _int(usage.get("input_tokens"))
        self.output_tokens += _int(usage.get("output_tokens"))
        self.total_tokens += _int(usage.get("total_tokens"))
        given = usage.get("input_token_details")
        if isinstance(given, dict):
            self.input_text_tokens += _int(given.get("text_tokens"))
            self.input_audio_tokens += _int(given.get("audio_tokens"))
            self.input_image_tokens += _int(given.get("image_tokens"))
            self.input_cached_tokens += _int(given.get("cached_tokens"))
        made = usage.get("output_token_details")
        if isinstance(made, dict):
            self.output_text_tokens += _int(made.get("text_tokens"))
            self.output_audio_tokens += _int(made.get("audio_tokens"))

    def as_details(self) -> dict[str, int]:
        return asdict(self)


def _int(value: Any) -> int:
    # bool is an int subclass; a hostile upstream could send anything.
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0

"""Model-name resolution for the Realtime endpoint.

The transport calls `resolve_realtime_model` before it accepts a socket, so an unknown
model is refused with `unsupported_model` instead of a session that cannot answer.
Clients written for OpenAI send OpenAI's names; they map onto our two tiers.
"""

from __future__ import annotations

import re
from typing import Final, Literal

Tier = Literal["realtime-mini", "realtime-pro"]

MINI: Final = "realtime-mini"
PRO: Final = "realtime-pro"
DEFAULT_MODEL: Final = PRO

# gpt-realtime, gpt-realtime-2, gpt-realtime-2.1, gpt-realtime-1.5, optional dated snapshot
# (gpt-realtime-2025-08-28), each optionally with a -mini infix/suffix.
_OPENAI_ALIAS = re.compile(
    r"^(?:gpt-4o-(?P<mini_prefix>mini-)?realtime-preview"
    r"|gpt-realtime(?:-(?:\d+(?:\.\d+)?))?(?:-(?P<mini>mini))?)"
    r"(?:-\d{4}-\d{2}-\d{2})?$"
)

# Names of transcription models clients send; all are served by the configured STT.
TRANSCRIPTION_MODELS: Final = frozenset(
    {
        "whisper-1",
        "gpt-realtime-whisper",
        "gpt-4o-transcribe",
        "gpt-4o-mini-transcribe",
        "gpt-4o-mini-transcribe-2025-12-15",
        "gpt-4o-transcribe-diarize",
        "gpt-transcribe",
        "gpt-live-transcribe",
    }
)
DEFAULT_TRANSCRIPTION_MODEL: Final = "gpt-realtime-whisper"


class UnsupportedModelError(ValueError):
    code: Final = "unsupported_model"

    def __init__(self, name: str) -> None:
        super().__init__(f"The model '{name}' is not supported by this endpoint.")
        self.model = name


def resolve_realtime_model(name: str | None) -> Tier:
    """Map a client's model name onto a tier; raise `UnsupportedModelError` otherwise."""
    if name is None or name == "":
        return DEFAULT_MODEL
    if name in (MINI, PRO):
        return MINI if name == MINI else PRO
    match = _OPENAI_ALIAS.match(name)
    if match is None:
        raise UnsupportedModelError(name)
    return MINI if (match.group("mini") or match.group("mini_prefix")) else PRO


def is_transcription_model(name: str) -> bool:
    return name in TRANSCRIPTION_MODELS or name == "starter-transcribe"


def resolve_transcription_model(name: str | None) -> str:
    """Validate a transcription model name; the configured STT serves every accepted one."""
    if name is None or name == "":
        return DEFAULT_TRANSCRIPTION_MODEL
    if not is_transcription_model(name):
        raise UnsupportedModelError(name)
    return name

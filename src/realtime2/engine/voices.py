"""The six voice names every model offers."""

from __future__ import annotations

from typing import Final

VOICES: Final[tuple[str, ...]] = ("marin", "cedar", "coral", "sage", "ash", "verse")
DEFAULT_VOICE: Final = "marin"


def is_supported_voice(name: str) -> bool:
    return name in VOICES

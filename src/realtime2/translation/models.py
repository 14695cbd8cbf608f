"""Translation model names clients send; every accepted one is served by the same engines."""

from __future__ import annotations

import re
from typing import Final

from realtime2.protocol.models import UnsupportedModelError

DEFAULT_TRANSLATION_MODEL: Final = "gpt-realtime-translate"
# gpt-realtime-translate, gpt-4o-realtime-translate-preview, gpt-translate-2026-01-01, …
_OPENAI_NAME = re.compile(r"^gpt-[a-z0-9.-]*translat[a-z0-9.-]*$")
OUR_NAMES: Final = frozenset({"translation", "realtime-translate"})


def resolve_translation_model(name: str | None) -> str:
    """The model name to report; raise `UnsupportedModelError` for non-translation names."""
    if not name:
        return DEFAULT_TRANSLATION_MODEL
    if name in OUR_NAMES or _OPENAI_NAME.match(name):
        return name
    raise UnsupportedModelError(name)

"""The pricing table: credit units burned per second, by model. One place for all rates."""

from __future__ import annotations

from typing import Final

STARTER_VOICE: Final = "starter-voice"
REALTIME_MINI: Final = "realtime-mini"
REALTIME_PRO: Final = "realtime-pro"
TRANSCRIPTION: Final = "transcription"
TRANSLATION: Final = "translation"
# The OpenAI-compatible convenience endpoints, billed per second of audio (or, for chat,
# of generation time).
AUDIO_TRANSCRIPTION: Final = "audio-transcription"
AUDIO_SPEECH: Final = "audio-speech"
CHAT_COMPLETION: Final = "chat-completion"

DEFAULT_RATES: Final[dict[str, int]] = {
    STARTER_VOICE: 1,
    REALTIME_MINI: 4,
    REALTIME_PRO: 16,
    # Transcription-only realtime sessions and live translation sessions.
    TRANSCRIPTION: 1,
    TRANSLATION: 4,
    AUDIO_TRANSCRIPTION: 1,
    AUDIO_SPEECH: 1,
    CHAT_COMPLETION: 1,
}


class UnknownModelError(KeyError):
    pass


def rate_for(model: str, rates: dict[str, int] | None = None) -> int:
    table = rates if rates is not None else DEFAULT_RATES
    try:
        return table[model]
    except KeyError:
        raise UnknownModelError(model) from None


def cost_for(model: str, seconds: float, rates: dict[str, int] | None = None) -> int:
    """Credits for `seconds` of use, rounded up to whole seconds (never billing a fraction)."""
    import math

    whole = max(0, math.ceil(seconds - 1e-9))
    return whole * rate_for(model, rates)

"""The OpenAI Realtime protocol (GA) as a sans-I/O state machine.

`RealtimeSession` takes client events, audio and engine results and returns server events
and commands; `realtime2.realtime` runs it against real engines. It is composed of parts
that never see it (`user_turns`, `response_set`, `truncation`, `requests`); this package
entry is the only module here that imports it. `models` resolves model names for
transports before they accept a connection.
"""

from realtime2.protocol.models import (
    UnsupportedModelError,
    resolve_realtime_model,
    resolve_transcription_model,
)
from realtime2.protocol.session import AudioOut, RealtimeSession, TurnTiming

__all__ = [
    "AudioOut",
    "RealtimeSession",
    "TurnTiming",
    "UnsupportedModelError",
    "resolve_realtime_model",
    "resolve_transcription_model",
]

"""The OpenAI Realtime protocol (GA) as a sans-I/O state machine.

`RealtimeSession` takes client events, audio and engine results and returns server events
and commands; `realtime2.realtime` runs it against real engines. `models` resolves model
names for transports before they accept a connection.
"""

from realtime2.protocol.models import (
    UnsupportedModelError,
    resolve_realtime_model,
    resolve_transcription_model,
)
from realtime2.protocol.session import RealtimeSession, TurnTiming

__all__ = [
    "RealtimeSession",
    "TurnTiming",
    "UnsupportedModelError",
    "resolve_realtime_model",
    "resolve_transcription_model",
]

"""The async runner that drives a `RealtimeSession` with real engines (see `runner`)."""

from realtime2.realtime.runner import SessionRunner

__all__ = ["SessionRunner"]

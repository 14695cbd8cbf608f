"""A session wired to fakes, with every emitted event validated against the SDK."""

from __future__ import annotations

import json
from typing import Any

from realtime2.protocol import commands as cmd
from realtime2.protocol.session import RealtimeSession
from tests.support.clock import FakeClock
from tests.support.fakes import VAD_FRAME, VAD_RATE, EnergyVADStream
from tests.support.validate import assert_valid


class Harness:
    def __init__(self, **kwargs: Any) -> None:
        # The plain (non-speculative) turn path unless a test asks for drafts.
        kwargs.setdefault("speculative", False)
        self.clock = FakeClock()
        self.wall_clock = FakeClock(1_700_000_000.0)  # Unix time, for `expires_at`
        self.vad = EnergyVADStream()
        self.session = RealtimeSession(
            vad=self.vad,
            vad_rate=VAD_RATE,
            vad_frame_samples=VAD_FRAME,
            clock=self.clock,
            wall_clock=self.wall_clock,
            **kwargs,
        )
        self.events: list[dict[str, Any]] = []
        self.commands: list[cmd.Command] = []
        self.drain()

    def drain(self) -> list[dict[str, Any]]:
        new = self.session.events_to_send()
        for event in new:
            assert_valid(event)
            json.dumps(event)  # must be JSON-ready
        ids = [e["event_id"] for e in self.events + new]
        assert len(ids) == len(set(ids)), "event ids must be unique"
        self.events.extend(new)
        self.commands.extend(self.session.commands())
        return new

    def send(self, event: dict[str, Any] | str) -> list[dict[str, Any]]:
        self.session.receive_text(event if isinstance(event, str) else json.dumps(event))
        return self.drain()

    def types(self, events: list[dict[str, Any]] | None = None) -> list[str]:
        return [e["type"] for e in (self.events if events is None else events)]

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]

    def take(self, kind: type[Any]) -> list[Any]:
        found = [c for c in self.commands if isinstance(c, kind)]
        self.commands = [c for c in self.commands if not isinstance(c, kind)]
        return found

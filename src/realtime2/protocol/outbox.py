"""The session's outbox: server events for the client and commands for the runner.

Every part of the session (turns, responses, truncation) writes here instead of calling
back into the session; the session hands the two queues to its driver (`events_to_send`,
`commands`). Like h11's `Connection`, which owns the buffers its `ConnectionState` never sees.
"""

from __future__ import annotations

from realtime2.protocol.commands import Command
from realtime2.protocol.server_events import ServerEvent


class Outbox:
    def __init__(self) -> None:
        self._events: list[ServerEvent] = []
        self._commands: list[Command] = []

    def emit(self, *events: ServerEvent) -> None:
        self._events.extend(events)

    def command(self, *commands: Command) -> None:
        self._commands.extend(commands)

    def take_events(self) -> list[ServerEvent]:
        out, self._events = self._events, []
        return out

    def take_commands(self) -> list[Command]:
        out, self._commands = self._commands, []
        return out

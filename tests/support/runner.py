"""A client of a `SessionRunner` in the test's event loop."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from realtime2.realtime.runner import SessionRunner
from tests.support.validate import assert_valid


class Client:
    """Collects the runner's events in the background, validating each one."""

    def __init__(self, runner: SessionRunner) -> None:
        self.runner = runner
        self.events: list[dict[str, Any]] = []
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for event in self.runner.events():
            assert_valid(event)
            self.events.append(event)

    async def send(self, event: dict[str, Any]) -> None:
        await self.runner.feed_text(json.dumps(event))

    async def wait_for(self, kind: str, count: int = 1) -> dict[str, Any]:
        async def poll() -> dict[str, Any]:
            while True:
                found = [e for e in self.events if e["type"] == kind]
                if len(found) >= count:
                    return found[count - 1]
                await asyncio.sleep(0.005)

        return await asyncio.wait_for(poll(), 5.0)

    def types(self) -> list[str]:
        return [e["type"] for e in self.events]

"""Running a call-control command where the call runs: here, or on the replica that owns
it, over the call bus (`calls.bus`).

Both ways end in the same handler: the bus runs it on the owner by the command's name (the
app registers every route module's `CALL_COMMANDS`), and here it is called directly. The
owner checks the call's user and state again, so an answer from either way means the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from realtime2.calls.base import Call
from realtime2.calls.bus import Handler
from realtime2.calls.lookup import RemoteCall


async def run_or_forward(
    found: Call | RemoteCall,
    name: str,
    args: Mapping[str, Any],
    *,
    here: Handler,
    within: float,
) -> dict[str, Any]:
    """`here(found, args)` for a call this replica runs; for one another replica runs, the
    command `name` sent there, its answer awaited for `within` seconds. `here` must be what
    `CALL_COMMANDS[name]` is on the owner."""
    if isinstance(found, RemoteCall):
        return await found.command(name, args, within=within)
    return await here(found, args)

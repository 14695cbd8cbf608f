"""`http.call_commands.run_or_forward`: a call this replica runs goes to the handler here; a
call another replica runs goes over the bus by name, with the caller's wait, to its owner."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from realtime2.calls.base import Call
from realtime2.calls.bus import CallBus
from realtime2.calls.lookup import RemoteCall
from realtime2.calls.records import CallRecord
from realtime2.http.call_commands import run_or_forward


class RecordingBus:
    """The part of `CallBus` a `RemoteCall` uses: it records the request and answers."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, str, int, dict[str, Any], float]] = []

    async def request(
        self,
        replica: str,
        op: str,
        call_id: str,
        user_id: int,
        args: Mapping[str, Any],
        *,
        within: float,
    ) -> dict[str, Any]:
        self.requests.append((replica, op, call_id, user_id, dict(args), within))
        return {"from": "owner"}


async def _here(call: Call, args: Mapping[str, Any]) -> dict[str, Any]:
    return {"from": "here", "call": call, "args": dict(args)}


async def test_a_call_running_here_goes_to_the_handler() -> None:
    call = cast(Call, object())
    answer = await run_or_forward(call, "reject", {"status_code": 486}, here=_here, within=5)
    assert answer == {"from": "here", "call": call, "args": {"status_code": 486}}


async def test_a_call_on_another_replica_is_sent_to_its_owner() -> None:
    bus = RecordingBus()
    record = CallRecord("rtc_1", 7, "realtime-mini", "replica-b", "active", 0, None)
    remote = RemoteCall(record, cast(CallBus, bus))
    args = {"target_uri": "tel:+1"}
    answer = await run_or_forward(remote, "refer", args, here=_here, within=3.5)
    assert answer == {"from": "owner"}  # the handler here never ran
    assert bus.requests == [("replica-b", "refer", "rtc_1", 7, args, 3.5)]

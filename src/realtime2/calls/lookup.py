"""Finding a caller's own call: running here, ended, or running on another replica."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import HTTPConnection

from realtime2.calls.base import Call, call_not_found
from realtime2.calls.bus import CallBus, bus_of
from realtime2.calls.open import registry_of
from realtime2.calls.records import REPLICA, CallRecord, CallRecords
from realtime2.edge.auth import Principal
from realtime2.errors import ApiError
from realtime2.state import services_of

__all__ = ["RemoteCall", "call_not_found", "call_on_other_replica", "find_call"]


@dataclass(frozen=True)
class RemoteCall:
    """The caller's running call on another replica: commands go to it over the call bus."""

    record: CallRecord
    bus: CallBus

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def tier(self) -> str:
        return self.record.model

    async def command(self, op: str, args: Mapping[str, Any], *, within: float) -> dict[str, Any]:
        """Run `op` on the owner (which checks the user again); its answer or its error."""
        record = self.record
        return await self.bus.request(
            record.replica, op, record.id, record.user_id, args, within=within
        )


def call_on_other_replica() -> ApiError:
    return ApiError(
        409,
        "call_on_other_replica",
        "The call is running on another server replica; send requests for it there.",
        param="call_id",
    )


async def find_call(
    conn: HTTPConnection, principal: Principal, call_id: str
) -> Call | CallRecord | RemoteCall:
    """The live call object when it runs (or recently ran) here, its DB record if it has
    ended, a `RemoteCall` when another replica runs it and the call bus is up (Redis);
    404 for unknown or foreign ids, 409 for a call on another replica without the bus."""
    call = registry_of(conn).get(call_id)
    if call is not None:
        if call.user_id != principal.user_id:
            raise call_not_found(call_id)
        return call
    record = await CallRecords(services_of(conn).db).get(call_id)
    if record is None or record.user_id != principal.user_id:
        raise call_not_found(call_id)
    return running_elsewhere(conn, record) if record.status == "active" else record


def running_elsewhere(conn: HTTPConnection, record: CallRecord) -> RemoteCall:
    """An active record of the caller's call that this process does not run."""
    if record.replica == str(getattr(conn.app.state, "replica", REPLICA)):
        raise call_not_found(record.id)  # this process lost it (never ended cleanly)
    bus = bus_of(conn)
    if bus is None:
        raise call_on_other_replica()
    return RemoteCall(record, bus)

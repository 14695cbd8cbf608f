"""Finding a caller's own call: running here, ended, or running on another replica."""

from __future__ import annotations

from starlette.requests import HTTPConnection

from realtime2.calls.base import Call
from realtime2.calls.open import registry_of
from realtime2.calls.records import REPLICA, CallRecord, CallRecords
from realtime2.edge.auth import Principal
from realtime2.errors import ApiError
from realtime2.state import services_of


def call_not_found(call_id: str) -> ApiError:
    # Another user's call is answered exactly like an unknown one.
    return ApiError(404, "call_not_found", f"No call with id '{call_id[:64]}'.", param="call_id")


async def find_call(conn: HTTPConnection, principal: Principal, call_id: str) -> Call | CallRecord:
    """The live call object when it runs (or recently ran) here, else its DB record if it
    has ended; 404 for unknown or foreign ids, 409 for a call another replica runs."""
    call = registry_of(conn).get(call_id)
    if call is not None:
        if call.user_id != principal.user_id:
            raise call_not_found(call_id)
        return call
    record = await CallRecords(services_of(conn).db).get(call_id)
    if record is None or record.user_id != principal.user_id:
        raise call_not_found(call_id)
    if record.status == "active":
        if record.replica == REPLICA:  # this process lost it (never ended cleanly)
            raise call_not_found(call_id)
        raise ApiError(
            409,
            "call_on_other_replica",
            "The call is running on another server replica; send requests for it there.",
            param="call_id",
        )
    return record

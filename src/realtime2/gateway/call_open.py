"""Opening a WebRTC call on the upstream, for a tier `REALTIME2_UPSTREAM_MODELS` maps.

Order, so that nothing is billed or left running unbilled:

1. the same checks as a local call: offer (400), session config (400), session slot
   (429/503), credit for the 120-second minimum (402);
2. `POST {upstream}/realtime/calls` with the offer and the merged session config (model =
   the upstream's name) → the upstream's call id and SDP answer;
3. the metering sideband `{upstream}/realtime?call_id=…`; if it cannot attach, the
   upstream call is hung up and the client gets `upstream_unavailable`;
4. the call is recorded and the meter starts (a hold for the 120 s minimum); if the
   credit went meanwhile, the upstream call is hung up and the client gets 402.

The client gets the upstream's SDP answer under a realtime2 call id; the upstream's id is
never shown.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from starlette.requests import HTTPConnection

from realtime2.accounts.ledger import InsufficientCreditsError
from realtime2.calls.open import (
    CallRequest,
    admit_call,
    call_ended_hook,
    call_meter,
    checked_offer,
    new_call_id,
    registry_of,
    release_slot,
)
from realtime2.calls.records import CallRecords
from realtime2.edge.auth import Principal
from realtime2.edge.session_config import CheckedSession
from realtime2.errors import ApiError
from realtime2.gateway.call_http import create_upstream_call, hang_up_upstream_call
from realtime2.gateway.calls import UpstreamCall
from realtime2.gateway.connect import open_socket, upstream_unavailable
from realtime2.gateway.upstream import Upstream
from realtime2.state import services_of

log = logging.getLogger(__name__)


def upstream_session(sessions: Sequence[CheckedSession], their_model: str) -> dict[str, Any]:
    """The session configs merged in order (nested objects merge, anything else is
    replaced, as successive `session.update`s would), naming the upstream's model."""
    merged: dict[str, Any] = {}
    for session in sessions:
        _merge(merged, session.config)
    merged["type"] = "realtime"
    merged["model"] = their_model
    return merged


def _merge(into: dict[str, Any], update: dict[str, Any]) -> None:
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        elif isinstance(value, dict):
            into[key] = {}
            _merge(into[key], value)
        else:
            into[key] = value


async def open_upstream_call(
    conn: HTTPConnection,
    principal: Principal,
    spec: CallRequest,
    upstream: Upstream,
    their_model: str,
) -> tuple[UpstreamCall, str]:
    """Create the call upstream, attach the metering sideband and start the meter;
    returns the call and the upstream's SDP answer."""
    offer = checked_offer(spec)
    rate = await admit_call(conn, principal, spec.tier)
    call_id = new_call_id()
    records = CallRecords(services_of(conn).db)
    try:
        upstream_id, answer = await create_upstream_call(
            upstream, offer, upstream_session(spec.sessions, their_model)
        )
        try:
            socket = await open_socket(upstream, {"call_id": upstream_id}, {})
        except ApiError as exc:
            log.warning("call %s: sideband did not attach; hanging up upstream", call_id)
            await hang_up_upstream_call(upstream, upstream_id)
            raise upstream_unavailable(
                "The upstream call could not be metered (its sideband did not attach), so "
                f"it was hung up. {exc.message}",
                exc.status,
            ) from None
        meter = call_meter(conn, principal, call_id=call_id, tier=spec.tier, rate=rate)
        try:
            await records.opened(
                call_id, user_id=principal.user_id, api_key_id=principal.key_id, model=spec.tier
            )
            await meter.start()
        except BaseException as exc:
            with contextlib.suppress(Exception):
                await socket.close()
            await hang_up_upstream_call(upstream, upstream_id)
            with contextlib.suppress(Exception):
                await records.ended(call_id, charged=0, reason="not_started")
            if isinstance(exc, InsufficientCreditsError):
                raise ApiError(
                    402, "insufficient_credits", "The balance is too low to start a call."
                ) from None
            raise
    except BaseException:
        release_slot(conn, principal)
        raise
    call = UpstreamCall(
        call_id=call_id,
        upstream_call_id=upstream_id,
        user_id=principal.user_id,
        tier=spec.tier,
        meter=meter,
        ledger=services_of(conn).ledger,
        upstream=upstream,
        socket=socket,
        their_model=their_model,
        on_end=call_ended_hook(conn),
    )
    registry_of(conn).add(call)
    call.start()
    log.info("call %s relayed upstream (model %s)", call_id, their_model)
    return call, answer

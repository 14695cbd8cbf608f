"""Opening a WebRTC call: every check that can refuse it happens before any media work.

Order: the offer (400 invalid_sdp), the session config (400), engines (503), session
slots (429/503), credit for the 120-second minimum (402). Then the runner gets the
session config, the peer connection answers the offer, and the call is recorded and runs.
Metering starts when ICE+DTLS connect (see `WebRtcCall`), not at this request.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.requests import HTTPConnection

from realtime2.accounts.metering import MeterPolicy, SessionMeter
from realtime2.accounts.pricing import rate_for
from realtime2.calls.records import CallRecords
from realtime2.calls.registry import CallRegistry
from realtime2.calls.session_config import CheckedSession, check_session
from realtime2.errors import ApiError
from realtime2.http.auth import Principal, services_of
from realtime2.protocol.models import Tier
from realtime2.realtime.runner import SessionRunner
from realtime2.transports.admission import SessionSlots, ready_engines
from realtime2.transports.webrtc.call import WebRtcCall
from realtime2.transports.webrtc.sdp import InvalidSdpError, check_offer

# The seed bills every WebRTC call at least 120 seconds.
CALL_METER_POLICY = MeterPolicy(minimum_billed_seconds=120)


@dataclass(frozen=True)
class CallRequest:
    offer: str | None
    tier: Tier
    model: str  # the model name the client used (shown in the session object)
    sessions: Sequence[CheckedSession]  # applied in order, as session.update events


def invalid_sdp(message: str) -> ApiError:
    return ApiError(400, "invalid_sdp", message, param="sdp")


def registry_of(conn: HTTPConnection) -> CallRegistry:
    registry: CallRegistry = conn.app.state.calls
    return registry


def principal_sessions(principal: Principal) -> list[CheckedSession]:
    """A client secret's bound session config comes first; the request's own overrides it."""
    if principal.session_config is None:
        return []
    return [check_session(principal.session_config)]


async def open_call(
    conn: HTTPConnection, principal: Principal, spec: CallRequest
) -> tuple[WebRtcCall, str]:
    """Admit and start a call; returns it and the SDP answer."""
    services = services_of(conn)
    try:
        offer = check_offer(spec.offer)
    except InvalidSdpError as exc:
        raise invalid_sdp(str(exc)) from None
    if any(s.kind != "realtime" for s in spec.sessions):
        raise ApiError(
            400, "invalid_value", "WebRTC calls serve realtime sessions.", param="session.type"
        )
    engines = await ready_engines(services)
    user = await services.users.get(principal.user_id)
    slots: SessionSlots = conn.app.state.session_slots
    slots.acquire(principal.user_id, user.max_sessions if user else None)
    registry = registry_of(conn)
    records = CallRecords(services.db)
    try:
        rate = rate_for(spec.tier, services.settings.resolved_rates())
        policy = CALL_METER_POLICY
        needed = math.ceil(max(policy.minimum_start_seconds, policy.minimum_billed_seconds)) * rate
        if (await services.ledger.balance(principal.user_id)).available < needed:
            raise ApiError(402, "insufficient_credits", "The balance is too low to start a call.")
        call_id = f"rtc_{secrets.token_hex(12)}"
        runner = SessionRunner(engines, model=spec.model, kind="realtime", transport="webrtc")
        for session in spec.sessions:
            await runner.feed_text(session.update_event())
        meter = SessionMeter(
            services.ledger,
            user_id=principal.user_id,
            model=spec.tier,
            rate=rate,
            reference=call_id,
            api_key_id=principal.key_id,
            policy=policy,
        )

        async def finished(call: WebRtcCall) -> None:
            slots.release(call.user_id)
            registry.mark_ended(call)
            await records.ended(
                call.id, charged=call.meter.captured, reason=call.end_reason or "closed"
            )

        settings = services.settings
        call = WebRtcCall(
            call_id=call_id,
            user_id=principal.user_id,
            tier=spec.tier,
            runner=runner,
            meter=meter,
            ledger=services.ledger,
            hosts=settings.webrtc_host_list(),
            stun=settings.webrtc_stun,
            on_end=finished,
        )
        try:
            answer = await call.answer(offer)
            await records.opened(
                call_id, user_id=principal.user_id, api_key_id=principal.key_id, model=spec.tier
            )
        except BaseException as exc:
            await call.discard()
            if isinstance(exc, InvalidSdpError):
                raise invalid_sdp(str(exc)) from None
            raise
    except BaseException:
        slots.release(principal.user_id)
        raise
    registry.add(call)
    call.start()
    return call, answer

"""Opening a WebRTC call: every check that can refuse it happens before any media work.

Order: the offer (400 invalid_sdp), the session config (400), engines (503), the user's
calls still waiting to connect (429), session slots (429/503), credit for the 120-second
minimum (402). Then the runner gets the
session config, the peer connection answers the offer, and the call is recorded and runs.
Metering starts when ICE+DTLS connect (see `WebRtcCall`), not at this request.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from starlette.requests import HTTPConnection

from realtime2.accounts.metering import MeterPolicy, SessionMeter
from realtime2.accounts.pricing import rate_for
from realtime2.calls.base import Call
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


def checked_offer(spec: CallRequest) -> str:
    """The offer normalised, or 400; and only realtime sessions."""
    try:
        offer = check_offer(spec.offer)
    except InvalidSdpError as exc:
        raise invalid_sdp(str(exc)) from None
    if any(s.kind != "realtime" for s in spec.sessions):
        raise ApiError(
            400, "invalid_value", "WebRTC calls serve realtime sessions.", param="session.type"
        )
    return offer


async def admit_call(conn: HTTPConnection, principal: Principal, tier: Tier) -> int:
    """Take a session slot (429/503) and check the credit for the 120-second minimum (402);
    returns the tier's rate. The caller owns the slot from here: `call_ended` or
    `release_slot` gives it back."""
    services = services_of(conn)
    user = await services.users.get(principal.user_id)
    slots: SessionSlots = conn.app.state.session_slots
    slots.acquire(principal.user_id, user.max_sessions if user else None)
    try:
        rate = rate_for(tier, services.settings.resolved_rates())
        policy = CALL_METER_POLICY
        needed = math.ceil(max(policy.minimum_start_seconds, policy.minimum_billed_seconds)) * rate
        if (await services.ledger.balance(principal.user_id)).available < needed:
            raise ApiError(402, "insufficient_credits", "The balance is too low to start a call.")
    except BaseException:
        slots.release(principal.user_id)
        raise
    return rate


def release_slot(conn: HTTPConnection, principal: Principal) -> None:
    slots: SessionSlots = conn.app.state.session_slots
    slots.release(principal.user_id)


def new_call_id() -> str:
    return f"rtc_{secrets.token_hex(12)}"


def call_meter(
    conn: HTTPConnection, principal: Principal, *, call_id: str, tier: Tier, rate: int
) -> SessionMeter:
    return SessionMeter(
        services_of(conn).ledger,
        user_id=principal.user_id,
        model=tier,
        rate=rate,
        reference=call_id,
        api_key_id=principal.key_id,
        policy=CALL_METER_POLICY,
    )


def call_ended_hook(conn: HTTPConnection) -> Callable[[Call], Awaitable[None]]:
    """What every call does once it has settled: free its slot, keep its final figures."""
    slots: SessionSlots = conn.app.state.session_slots
    registry = registry_of(conn)
    records = CallRecords(services_of(conn).db)

    async def finished(call: Call) -> None:
        slots.release(call.user_id)
        registry.mark_ended(call)
        reason = call.end_reason or "closed"
        await records.ended(call.id, charged=call.meter.captured, reason=reason)

    return finished


async def open_call(
    conn: HTTPConnection, principal: Principal, spec: CallRequest
) -> tuple[WebRtcCall, str]:
    """Admit and start a call on the embedded engine; returns it and the SDP answer."""
    services = services_of(conn)
    offer = checked_offer(spec)
    engines = await ready_engines(services)
    registry = registry_of(conn)
    limit = services.settings.max_pending_calls_per_user
    not_pending = registry.pending.reserve(principal.user_id, limit)
    try:
        rate = await admit_call(conn, principal, spec.tier)
    except BaseException:
        not_pending()
        raise
    records = CallRecords(services.db)
    try:
        call_id = new_call_id()
        runner = SessionRunner(
            engines,
            model=spec.model,
            kind="realtime",
            transport="webrtc",
            limits=services.settings.conversation_limits(),
        )
        for session in spec.sessions:
            await runner.feed_text(session.update_event())
        settings = services.settings
        call = WebRtcCall(
            call_id=call_id,
            user_id=principal.user_id,
            tier=spec.tier,
            runner=runner,
            meter=call_meter(conn, principal, call_id=call_id, tier=spec.tier, rate=rate),
            ledger=services.ledger,
            hosts=settings.webrtc_host_list(),
            stun=settings.webrtc_stun,
            allow_private_candidates=settings.webrtc_allow_private_candidates,
            connected_or_ended=not_pending,
            on_end=call_ended_hook(conn),
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
        not_pending()
        release_slot(conn, principal)
        raise
    registry.add(call)
    call.start()
    return call, answer

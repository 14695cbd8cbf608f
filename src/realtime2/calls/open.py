"""Admitting a call, whatever media transport carries it (a WebRTC peer connection served
here, an upstream's call in gateway mode; SIP later): every check that can refuse it
happens before any media work.

The checks, in the order an opener runs them: the offer (400 invalid_sdp), the session
config (400), engines (503), the user's calls still waiting to connect (429), session slots
(429/503), credit for the 120-second minimum (402). The openers themselves live with their
transport (`transports.webrtc.open`, `gateway.call_open`); each ends by handing its call to
the registry. Metering starts when the media connects, not at the request.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from starlette.requests import HTTPConnection

from realtime2.accounts.key_controls import KeyBudgetExhaustedError
from realtime2.accounts.metering import MeterPolicy, SessionMeter
from realtime2.accounts.pricing import rate_for
from realtime2.calls.base import Call
from realtime2.calls.records import CallRecords
from realtime2.calls.registry import CallRegistry
from realtime2.edge.admission import SessionSlots, key_check, take_slot
from realtime2.edge.auth import Principal
from realtime2.edge.sdp import InvalidSdpError, check_offer
from realtime2.edge.session_config import CheckedSession, check_session
from realtime2.errors import ApiError
from realtime2.protocol.models import Tier
from realtime2.state import services_of

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


def principal_sessions(principal: Principal, *, upstream: bool = False) -> list[CheckedSession]:
    """A client secret's bound session config comes first; the request's own overrides it.
    `upstream`: the call is relayed, so the upstream's rules apply (`check_session`)."""
    if principal.session_config is None:
        return []
    return [check_session(principal.session_config, upstream=upstream)]


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
    await take_slot(services, slots, principal.user_id, user.max_sessions if user else None)
    try:
        rate = rate_for(tier, services.settings.resolved_rates())
        policy = CALL_METER_POLICY
        needed = math.ceil(max(policy.minimum_start_seconds, policy.minimum_billed_seconds)) * rate
        # The key's model list and budget too (accounts.key_controls), before any media.
        balance, key_left = await services.ledger.spendable(
            principal.user_id, principal.key_id, tier
        )
        if key_left is not None and key_left < needed:
            raise KeyBudgetExhaustedError(needed, key_left)
        if balance.available < needed:
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
        credential_check=key_check(services_of(conn), principal.key_id),
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

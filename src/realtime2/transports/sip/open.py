"""Answering a ringing SIP call (`POST /v1/realtime/calls/{call_id}/accept`): the checks a
call's admission runs (engines 503, session slots 429/503, credit for the first seconds
402), then the session is built from the accepted config and the call answered. Unlike a
WebRTC call, a phone call has no billed minimum: it is metered per second from the answer
to the hang-up."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

from starlette.requests import HTTPConnection

from realtime2.accounts.metering import MeterPolicy, SessionMeter
from realtime2.accounts.pricing import rate_for
from realtime2.edge.admission import SessionSlots, key_check, ready_engines
from realtime2.edge.auth import Principal
from realtime2.edge.session_config import CheckedSession
from realtime2.edge.session_limits import session_rate_limits
from realtime2.errors import ApiError
from realtime2.protocol.models import Tier
from realtime2.realtime.runner import SessionRunner
from realtime2.state import services_of
from realtime2.transports.sip.call import SipCall

SIP_METER_POLICY: Final = MeterPolicy()


def not_ringing(call_id: str) -> ApiError:
    return ApiError(
        409, "call_not_ringing", f"The call '{call_id[:64]}' was already answered or has ended."
    )


async def accept_call(
    conn: HTTPConnection,
    principal: Principal,
    call: SipCall,
    *,
    tier: Tier,
    model: str,
    sessions: Sequence[CheckedSession],
) -> None:
    if call.state != "ringing":
        raise not_ringing(call.id)
    services = services_of(conn)
    engines = await ready_engines(services)
    user = await services.users.get(principal.user_id)
    slots: SessionSlots = conn.app.state.session_slots
    slots.acquire(principal.user_id, user.max_sessions if user else None)
    try:
        rate = rate_for(tier, services.settings.resolved_rates())
        needed = math.ceil(SIP_METER_POLICY.minimum_start_seconds) * rate
        if (await services.ledger.balance(principal.user_id)).available < needed:
            raise ApiError(402, "insufficient_credits", "The balance is too low to answer a call.")
        meter = SessionMeter(
            services.ledger,
            user_id=principal.user_id,
            model=tier,
            rate=rate,
            reference=call.id,
            api_key_id=principal.key_id,
            policy=SIP_METER_POLICY,
            credential_check=key_check(services, principal.key_id),
        )
        runner = SessionRunner(
            engines,
            model=model,
            kind="realtime",
            audio_out="media_track",
            limits=services.settings.conversation_limits(),
            rate_limits=await session_rate_limits(conn, meter),
        )
        for session in sessions:
            await runner.feed_text(session.update_event())
        if call.state != "ringing":  # hung up (or cancelled) while we were checking
            await runner.close()
            raise not_ringing(call.id)
        call.accept(runner, meter, tier)
    except BaseException:
        slots.release(principal.user_id)
        raise

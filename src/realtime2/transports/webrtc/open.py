"""Opening a WebRTC call on the embedded engine: the checks of `calls.open` first, then
the runner gets the session config, the peer connection answers the offer, and the call is
recorded and runs. Metering starts when ICE+DTLS connect (see `WebRtcCall`), not at this
request.
"""

from __future__ import annotations

from starlette.requests import HTTPConnection

from realtime2.calls.open import (
    CallRequest,
    admit_call,
    call_ended_hook,
    call_meter,
    checked_offer,
    invalid_sdp,
    new_call_id,
    registry_of,
    release_slot,
)
from realtime2.calls.records import CallRecords
from realtime2.edge.admission import ready_engines
from realtime2.edge.auth import Principal
from realtime2.edge.sdp import InvalidSdpError
from realtime2.edge.session_limits import session_rate_limits
from realtime2.realtime.runner import SessionRunner
from realtime2.state import services_of
from realtime2.transports.webrtc.call import WebRtcCall


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
        meter = call_meter(conn, principal, call_id=call_id, tier=spec.tier, rate=rate)
        runner = SessionRunner(
            engines,
            model=spec.model,
            kind="realtime",
            audio_out="media_track",
            limits=services.settings.conversation_limits(),
            rate_limits=await session_rate_limits(conn, meter),
        )
        for session in spec.sessions:
            await runner.feed_text(session.update_event())
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

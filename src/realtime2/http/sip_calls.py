"""OpenAI's call control for phone calls (SIP), owner only:

- `POST /v1/realtime/calls/{call_id}/accept`: the session config (as `session.update`
  takes it, `type: "realtime"`); answers the call (200 OK with our SDP).
- `POST /v1/realtime/calls/{call_id}/reject`: `{"status_code": 486}` (default 603 Decline).
- `POST /v1/realtime/calls/{call_id}/refer`: `{"target_uri": "tel:+1…"}`, a SIP REFER.
- `/hangup` is `http.calls`' (every kind of call), and `/v1/realtime?call_id=…` drives it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from realtime2.calls.open import principal_sessions, registry_of
from realtime2.edge.session_config import check_session
from realtime2.errors import ApiError
from realtime2.http.auth import RealtimePrincipal
from realtime2.http.calls import _call_tier, _json_object
from realtime2.transports.sip.call import SipCall
from realtime2.transports.sip.open import accept_call, not_ringing

router = APIRouter(tags=["sip"])

MAX_TARGET_CHARS = 512


def _sip_call(request: Request, principal: RealtimePrincipal, call_id: str) -> SipCall:
    call = registry_of(request).get(call_id)
    if not isinstance(call, SipCall) or call.user_id != principal.user_id:
        raise ApiError(
            404, "call_not_found", f"No SIP call with id '{call_id[:64]}'.", param="call_id"
        )
    return call


@router.post("/v1/realtime/calls/{call_id}/accept")
async def accept(call_id: str, request: Request, principal: RealtimePrincipal) -> Response:
    call = _sip_call(request, principal, call_id)
    body: dict[str, Any] = await _json_object(request)
    sessions = principal_sessions(principal)
    sessions.append(check_session(body))
    if any(s.kind != "realtime" for s in sessions):
        raise ApiError(400, "invalid_value", "Phone calls serve realtime sessions.", param="type")
    model, tier = _call_tier(sessions, None)
    await accept_call(request, principal, call, tier=tier, model=model, sessions=sessions)
    return Response(status_code=200)


@router.post("/v1/realtime/calls/{call_id}/reject")
async def reject(call_id: str, request: Request, principal: RealtimePrincipal) -> Response:
    call = _sip_call(request, principal, call_id)
    body = await _json_object(request)
    status = body.get("status_code", 603)
    if not isinstance(status, int) or isinstance(status, bool) or not 400 <= status <= 699:
        raise ApiError(
            400, "invalid_value", "status_code must be a SIP status 400-699.", param="status_code"
        )
    if call.state != "ringing":
        raise not_ringing(call_id)
    call.reject(status)
    return Response(status_code=200)


@router.post("/v1/realtime/calls/{call_id}/refer")
async def refer(call_id: str, request: Request, principal: RealtimePrincipal) -> Response:
    call = _sip_call(request, principal, call_id)
    target = (await _json_object(request)).get("target_uri")
    if (
        not isinstance(target, str)
        or not target.startswith(("sip:", "sips:", "tel:"))
        or len(target) > MAX_TARGET_CHARS
        or any(c in target for c in "\r\n<> ")
    ):
        raise ApiError(
            400,
            "invalid_value",
            "target_uri must be a sip:, sips: or tel: URI.",
            param="target_uri",
        )
    if call.state != "answered":
        raise ApiError(409, "call_not_answered", "Only an answered call can be transferred.")
    call.refer(target)
    return Response(status_code=200)

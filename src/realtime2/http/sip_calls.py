"""OpenAI's call control for phone calls (SIP), owner only:

- `POST /v1/realtime/calls/{call_id}/accept`: the session config (as `session.update`
  takes it, `type: "realtime"`); answers the call (200 OK with our SDP).
- `POST /v1/realtime/calls/{call_id}/reject`: `{"status_code": 486}` (default 603 Decline).
- `POST /v1/realtime/calls/{call_id}/refer`: `{"target_uri": "tel:+1…"}`, a SIP REFER.
- `/hangup` is `http.calls`' (every kind of call), and `/v1/realtime?call_id=…` drives it.

`/reject` and `/refer` of a call that another replica runs are sent there over the call bus
(`calls.bus`); `/accept` must reach the replica that received the INVITE (it admits and
meters the session there), elsewhere it is answered 409 `call_on_other_replica`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from fastapi import APIRouter, Request, Response

from realtime2.calls.base import Call
from realtime2.calls.bus import Handler
from realtime2.calls.lookup import RemoteCall, call_on_other_replica, running_elsewhere
from realtime2.calls.open import principal_sessions, registry_of
from realtime2.calls.records import CallRecords
from realtime2.edge.session_config import check_session
from realtime2.errors import ApiError
from realtime2.http.auth import RealtimePrincipal
from realtime2.http.call_commands import run_or_forward
from realtime2.http.calls import _call_tier, json_object_body
from realtime2.state import services_of
from realtime2.transports.sip.call import SipCall
from realtime2.transports.sip.open import accept_call, not_ringing

router = APIRouter(tags=["sip"])

MAX_TARGET_CHARS = 512
COMMAND_TIMEOUT_SECONDS: Final = 5.0


def sip_call_not_found(call_id: str) -> ApiError:
    return ApiError(
        404, "call_not_found", f"No SIP call with id '{call_id[:64]}'.", param="call_id"
    )


def _own_sip_call(call: Call | None, user_id: int, call_id: str) -> SipCall:
    if not isinstance(call, SipCall) or call.user_id != user_id:
        raise sip_call_not_found(call_id)
    return call


async def _find(
    request: Request, principal: RealtimePrincipal, call_id: str
) -> SipCall | RemoteCall:
    """The caller's SIP call running here, or running on another replica (404 otherwise:
    a phone call that has ended can no longer be controlled)."""
    call = registry_of(request).get(call_id)
    if call is not None:
        return _own_sip_call(call, principal.user_id, call_id)
    record = await CallRecords(services_of(request).db).get(call_id)
    if record is None or record.user_id != principal.user_id or record.status != "active":
        raise sip_call_not_found(call_id)
    try:
        return running_elsewhere(request, record)
    except ApiError as error:  # "lost here" is answered as for any unknown call
        raise sip_call_not_found(call_id) if error.status == 404 else error from None


@router.post("/v1/realtime/calls/{call_id}/accept")
async def accept(call_id: str, request: Request, principal: RealtimePrincipal) -> Response:
    found = await _find(request, principal, call_id)
    if isinstance(found, RemoteCall):  # admission and metering happen where the call is
        raise call_on_other_replica()
    body: dict[str, Any] = await json_object_body(request)
    sessions = principal_sessions(principal)
    sessions.append(check_session(body))
    if any(s.kind != "realtime" for s in sessions):
        raise ApiError(400, "invalid_value", "Phone calls serve realtime sessions.", param="type")
    model, tier = _call_tier(sessions, None)
    await accept_call(request, principal, found, tier=tier, model=model, sessions=sessions)
    return Response(status_code=200)


def _reject_status(body: Mapping[str, Any]) -> int:
    status = body.get("status_code", 603)
    if not isinstance(status, int) or isinstance(status, bool) or not 400 <= status <= 699:
        raise ApiError(
            400, "invalid_value", "status_code must be a SIP status 400-699.", param="status_code"
        )
    return status


async def reject_here(call: Call, args: Mapping[str, Any]) -> dict[str, Any]:
    sip = _own_sip_call(call, call.user_id, call.id)
    status = _reject_status(args)
    if sip.state != "ringing":
        raise not_ringing(sip.id)
    sip.reject(status)
    return {}


@router.post("/v1/realtime/calls/{call_id}/reject")
async def reject(call_id: str, request: Request, principal: RealtimePrincipal) -> Response:
    found = await _find(request, principal, call_id)
    status = _reject_status(await json_object_body(request))
    args = {"status_code": status}
    await run_or_forward(found, "reject", args, here=reject_here, within=COMMAND_TIMEOUT_SECONDS)
    return Response(status_code=200)


def _target(body: Mapping[str, Any]) -> str:
    target = body.get("target_uri")
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
    return target


async def refer_here(call: Call, args: Mapping[str, Any]) -> dict[str, Any]:
    sip = _own_sip_call(call, call.user_id, call.id)
    target = _target(args)
    if sip.state != "answered":
        raise ApiError(409, "call_not_answered", "Only an answered call can be transferred.")
    sip.refer(target)
    return {}


@router.post("/v1/realtime/calls/{call_id}/refer")
async def refer(call_id: str, request: Request, principal: RealtimePrincipal) -> Response:
    found = await _find(request, principal, call_id)
    args = {"target_uri": _target(await json_object_body(request))}
    await run_or_forward(found, "refer", args, here=refer_here, within=COMMAND_TIMEOUT_SECONDS)
    return Response(status_code=200)


CALL_COMMANDS: dict[str, Handler] = {"reject": reject_here, "refer": refer_here}

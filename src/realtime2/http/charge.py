"""`POST /api/realtime2/charge {model, callId}`: settle what a WebRTC call has used so far.

A call running on another replica is charged there, over the call bus (`calls.bus`).

The server meters every call itself from connection to hang-up, so this endpoint only
brings the capture forward: it charges the seconds not yet charged (at least the seed's
120-second minimum per call), never the same seconds twice. A call whose client never
calls it is billed in full when it ends.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request

from realtime2.calls.base import Call, ChargeResult
from realtime2.calls.bus import Handler
from realtime2.calls.lookup import RemoteCall, find_call
from realtime2.calls.records import CallRecord
from realtime2.errors import ApiError, invalid_request
from realtime2.http.auth import RealtimePrincipal
from realtime2.protocol.models import MINI, PRO
from realtime2.state import services_of

router = APIRouter(tags=["webrtc"])
MAX_BODY_BYTES = 16 * 1024


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(413, "request_too_large", "The request body is too large.")
    try:
        data = json.loads(raw or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ApiError(400, "invalid_json", "The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "The request body must be a JSON object.")
    return data


CHARGE_TIMEOUT_SECONDS = 10.0


def _check_tier(call_id: str, tier: str, model: object) -> None:
    if tier != model:
        raise ApiError(
            400,
            "model_mismatch",
            f"Call '{call_id[:64]}' uses '{tier}', not '{model}'.",
            param="model",
        )


def _answer(call_id: str, model: str, result: ChargeResult) -> dict[str, Any]:
    return {
        "callId": call_id,
        "model": model,
        "chargedSeconds": result.charged_seconds,
        "chargedCredits": result.charged,
        "totalChargedSeconds": result.total_seconds,
        "totalChargedCredits": result.total,
        "balance": result.balance,
    }


async def charge_here(call: Call, args: Mapping[str, Any]) -> dict[str, Any]:
    """`/charge` for a call this replica runs, asked by another one over the call bus."""
    model = args.get("model")
    _check_tier(call.id, call.tier, model)
    return _answer(call.id, str(model), await call.charge())


CALL_COMMANDS: dict[str, Handler] = {"charge": charge_here}


@router.post("/api/realtime2/charge")
async def charge(request: Request, principal: RealtimePrincipal) -> dict[str, Any]:
    body = await _body(request)
    model = body.get("model")
    if model not in (MINI, PRO):
        raise ApiError(
            400,
            "unsupported_model",
            f"Charges apply to '{MINI}' and '{PRO}' calls.",
            param="model",
        )
    call_id = body.get("callId")
    if not isinstance(call_id, str) or not call_id:
        raise invalid_request("'callId' is required.", param="callId")
    found = await find_call(request, principal, call_id)
    tier = found.model if isinstance(found, CallRecord) else found.tier
    _check_tier(call_id, tier, model)
    if isinstance(found, RemoteCall):  # running on another replica: it charges
        return await found.command("charge", {"model": model}, within=CHARGE_TIMEOUT_SECONDS)
    if isinstance(found, CallRecord):  # ended on this or another replica: charge recorded
        balance = await services_of(request).ledger.balance(principal.user_id)
        rate = services_of(request).settings.resolved_rates()[tier]
        result = ChargeResult(charged=0, total=found.charged, rate=rate, balance=balance.available)
    else:  # running here (embedded or relayed upstream), or recently ended here
        result = await found.charge()
    return _answer(call_id, model, result)

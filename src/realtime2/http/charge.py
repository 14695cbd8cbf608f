"""`POST /api/realtime2/charge {model, callId}`: settle what a WebRTC call has used so far.

A call running on another replica is charged there, over the call bus (`calls.bus`).

The server meters every call itself from connection to hang-up, so this endpoint only
brings the capture forward: it charges the seconds not yet charged (at least the seed's
120-second minimum per call), never the same seconds twice. A call whose client never
calls it is billed in full when it ends.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request

from realtime2.calls.base import Call, ChargeResult
from realtime2.calls.bus import Handler
from realtime2.calls.lookup import find_call
from realtime2.calls.records import CallRecord
from realtime2.errors import ApiError, invalid_request
from realtime2.http.auth import RealtimePrincipal
from realtime2.http.call_commands import run_or_forward
from realtime2.http.json_body import read_json_object
from realtime2.protocol.models import MINI, PRO
from realtime2.state import services_of

router = APIRouter(tags=["webrtc"])
MAX_BODY_BYTES = 16 * 1024


# The seed's body; anything else is refused by name rather than ignored.
FIELDS = frozenset({"model", "callId"})
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
    body = await read_json_object(
        request, max_bytes=MAX_BODY_BYTES, fields=FIELDS, empty_is_object=False
    )
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
    if isinstance(found, CallRecord):  # ended on this or another replica: charge recorded
        balance = await services_of(request).ledger.balance(principal.user_id)
        rate = services_of(request).settings.resolved_rates()[tier]
        result = ChargeResult(charged=0, total=found.charged, rate=rate, balance=balance.available)
        return _answer(call_id, model, result)
    # Running here (embedded or relayed upstream, or recently ended here), or on another
    # replica, which charges it.
    return await run_or_forward(
        found, "charge", {"model": model}, here=charge_here, within=CHARGE_TIMEOUT_SECONDS
    )

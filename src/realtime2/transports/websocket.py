"""`GET /v1/realtime`: the OpenAI Realtime protocol over WebSocket.

Everything that can refuse a session happens before the socket is accepted, and is answered
as an HTTP response with the JSON error body: authentication (401), model (400), engine
readiness (503), session limits (429/503) and the credit hold (402); the handshake is
`edge.handshake.admit_socket`, shared with every socket endpoint. After that this module
is a thin adapter: socket frames into the `SessionRunner`, its events back out, and a meter
that renews the hold while the session runs and settles it however the session ends.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, WebSocket

from realtime2.accounts.metering import SessionMeter
from realtime2.accounts.pricing import TRANSCRIPTION
from realtime2.edge.auth import Principal
from realtime2.edge.handshake import SocketModel, admit_socket
from realtime2.edge.session_config import bound_model, check_session
from realtime2.edge.session_limits import session_rate_limits
from realtime2.errors import ApiError
from realtime2.gateway.session import (
    bound_session_event,
    gateway_of,
)
from realtime2.observability import metrics
from realtime2.observability.context import bind_session
from realtime2.protocol.models import (
    UnsupportedModelError,
    resolve_realtime_model,
    resolve_transcription_model,
)
from realtime2.realtime.runner import SessionRunner
from realtime2.transports.beta import BetaMapper, wants_beta
from realtime2.transports.metered import pump, run_metered
from realtime2.transports.sideband_relay import attach_call_socket

log = logging.getLogger(__name__)
router = APIRouter()


def _session_kind(websocket: WebSocket, default: str | None) -> tuple[str, str, str]:
    """(kind, client model name, billing model) from the query string; `default` is the
    model of a client secret's bound session, used when the URL names none."""
    params = websocket.query_params
    model = params.get("model") or default
    if params.get("intent") == "transcription":
        # livekit sends intent and a realtime model name together; either is fine.
        if model and not _is_realtime_name(model):
            resolve_transcription_model(model)
        return "transcription", model or "", TRANSCRIPTION
    tier = resolve_realtime_model(model)
    return "realtime", model or tier, tier


def _is_realtime_name(model: str) -> bool:
    try:
        resolve_realtime_model(model)
    except UnsupportedModelError:
        return False
    return True


@router.websocket("/v1/realtime")
async def realtime_websocket(websocket: WebSocket) -> None:
    call_id = websocket.query_params.get("call_id")
    if call_id is not None:  # a sideband connection to a running call, on any replica
        await attach_call_socket(websocket, call_id)
        return
    gateway = gateway_of(websocket)

    def choose_model(principal: Principal) -> SocketModel:
        try:
            kind, client_model, billing_model = _session_kind(
                websocket, bound_model(principal.session_config)
            )
        except UnsupportedModelError as exc:
            raise ApiError(400, "unsupported_model", str(exc), param="model") from None
        return SocketModel(kind, client_model, billing_model)

    def upstream_model(model: SocketModel) -> str | None:
        # Gateway mode: a model mapped upstream is relayed there instead of the engine.
        if gateway is None or model.kind != "realtime":
            return None
        return gateway.their_model(model.billing_model)

    async with admit_socket(
        websocket, choose_model=choose_model, upstream_model=upstream_model, reference_prefix="rt"
    ) as admitted:
        if admitted is None:
            return
        principal, services, engines = admitted.principal, admitted.services, admitted.engines
        model, meter = admitted.model, admitted.meter
        assert model is not None and meter is not None
        bind_session(meter.reference)  # log lines of this session carry its reference

        async def serve_locally() -> None:
            assert engines is not None and model is not None and meter is not None
            runner = SessionRunner(
                engines,
                model=model.client_model or None,
                kind="transcription" if model.kind == "transcription" else "realtime",
                audio_out="events",
                limits=services.settings.conversation_limits(),
                rate_limits=await session_rate_limits(websocket, meter),
            )
            if principal.session_config is not None:  # a client secret's bound config
                await runner.feed_text(check_session(principal.session_config).update_event())
            beta = wants_beta(websocket.headers, websocket.scope.get("subprotocols", []))
            await _serve(websocket, runner, meter, BetaMapper() if beta else None)

        await run_metered(
            websocket,
            meter,
            serve_locally,
            upstream=gateway,
            their_model=admitted.their_model,
            first_upstream_events=bound_session_event(principal.session_config),
        )


async def _serve(
    websocket: WebSocket,
    runner: SessionRunner,
    meter: SessionMeter,
    beta: BetaMapper | None = None,
) -> None:
    def outbound(event: dict[str, Any]) -> dict[str, Any] | None:
        metrics.server_event(event)
        # Beta clients (`OpenAI-Beta: realtime=v1`) are mapped at this edge only.
        return beta.server_to_beta(event) if beta else event

    metrics.session_opened("websocket", meter.model)
    try:
        await pump(
            websocket,
            runner,
            meter,
            inbound=beta.client_to_ga if beta else None,
            outbound=outbound,
            ended=runner.closed,
        )
    finally:
        metrics.session_closed("websocket", [t.seconds for t in runner.turn_timings])

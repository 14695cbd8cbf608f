"""`GET /v1/realtime/translations`: live speech translation over WebSocket.

Admission mirrors `/v1/realtime` (authentication, model, engines, session slots and the
credit hold are all settled before the socket is accepted, refusals are HTTP errors);
the session is billed per second at the `translation` rate and settled however it ends,
including a client that drops the socket without `session.close`. After that this is a
thin loop: text frames into the `TranslationRunner`, its events back out.
"""

from __future__ import annotations

import logging
import secrets

from fastapi import APIRouter, WebSocket

from realtime2.accounts.metering import SessionMeter
from realtime2.accounts.pricing import TRANSLATION, rate_for
from realtime2.calls.session_config import check_bound_model
from realtime2.errors import ApiError
from realtime2.gateway.session import gateway_of
from realtime2.http.auth import authenticate, services_of
from realtime2.protocol.models import UnsupportedModelError
from realtime2.translation.models import resolve_translation_model
from realtime2.translation.runner import TranslationRunner
from realtime2.translation.voices import VoiceBook
from realtime2.transports.admission import (
    SessionSlots,
    ready_engines,
    refuse_handshake,
)
from realtime2.transports.metered import pump, run_metered

log = logging.getLogger(__name__)
router = APIRouter()


def voice_book(websocket: WebSocket) -> VoiceBook:
    """The app's target-language voices, created on the first translation session."""
    state = websocket.app.state
    book: VoiceBook | None = getattr(state, "translation_voices", None)
    if book is None:
        book = state.translation_voices = VoiceBook()
    return book


@router.websocket("/v1/realtime/translations")
async def translation_websocket(websocket: WebSocket) -> None:
    services = services_of(websocket)
    gateway = gateway_of(websocket)
    try:
        principal = await authenticate(websocket, allow_client_secret=True)
        try:
            model = resolve_translation_model(websocket.query_params.get("model"))
        except UnsupportedModelError as exc:
            raise ApiError(400, "unsupported_model", str(exc), param="model") from None
        check_bound_model(principal.session_config, TRANSLATION, param="model")
        # Gateway mode: with `translation=theirs` in the model map, the session is relayed
        # to `{upstream}/realtime/translations` instead of the embedded engines.
        their_model = gateway.their_model(TRANSLATION) if gateway else None
        engines = await ready_engines(services) if their_model is None else None
        user = await services.users.get(principal.user_id)
        slots: SessionSlots = websocket.app.state.session_slots
        slots.acquire(principal.user_id, user.max_sessions if user else None)
    except ApiError as error:
        await refuse_handshake(websocket, error)
        return
    try:
        meter = SessionMeter(
            services.ledger,
            user_id=principal.user_id,
            model=TRANSLATION,
            rate=rate_for(TRANSLATION, services.settings.resolved_rates()),
            reference=f"tr_{secrets.token_hex(10)}",
            api_key_id=principal.key_id,
        )

        async def serve_locally() -> None:
            assert engines is not None
            runner = TranslationRunner(engines, voice_book(websocket), model=model)
            await pump(websocket, runner, meter)

        await run_metered(
            websocket,
            meter,
            serve_locally,
            upstream=gateway,
            their_model=their_model,
            upstream_path="realtime/translations",
        )
    finally:
        slots.release(principal.user_id)

"""`GET /v1/realtime/translations`: live speech translation over WebSocket.

Admission is `/v1/realtime`'s own (`edge.handshake.admit_socket`: authentication, model,
engines, session slots and the credit hold are all settled before the socket is accepted,
refusals are HTTP errors);
the session is billed per second at the `translation` rate and settled however it ends,
including a client that drops the socket without `session.close`. After that this is a
thin loop: text frames into the `TranslationRunner`, its events back out.
"""

from __future__ import annotations

import json
import logging

from fastapi import APIRouter, WebSocket

from realtime2.accounts.pricing import TRANSLATION
from realtime2.edge.auth import Principal
from realtime2.edge.handshake import SocketModel, admit_socket
from realtime2.errors import ApiError
from realtime2.gateway.session import gateway_of
from realtime2.protocol.models import UnsupportedModelError
from realtime2.translation.models import resolve_translation_model
from realtime2.translation.runner import TranslationRunner
from realtime2.translation.voices import VoiceBook
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
    gateway = gateway_of(websocket)

    def choose_model(principal: Principal) -> SocketModel:
        bound = principal.session_config
        # A translation client secret's model, when the URL names none.
        named = websocket.query_params.get("model") or (
            bound.get("model") if bound is not None and bound.get("type") == "translation" else None
        )
        try:
            model = resolve_translation_model(named)
        except UnsupportedModelError as exc:
            raise ApiError(400, "unsupported_model", str(exc), param="model") from None
        if bound is not None and bound.get("type") == "translation" and bound["model"] != model:
            raise ApiError(
                403,
                "model_not_allowed",
                f"This client secret was minted for the model '{bound['model']}' and cannot "
                f"open a '{model[:64]}' session.",
                param="model",
            )
        return SocketModel("translation", model, TRANSLATION)

    def upstream_model(model: SocketModel) -> str | None:
        # Gateway mode: with `translation=theirs` in the model map, the session is relayed
        # to `{upstream}/realtime/translations` instead of the embedded engines.
        return gateway.their_model(TRANSLATION) if gateway else None

    async with admit_socket(
        websocket, choose_model=choose_model, upstream_model=upstream_model, reference_prefix="tr"
    ) as admitted:
        if admitted is None:
            return
        engines, model, meter = admitted.engines, admitted.model, admitted.meter
        assert model is not None and meter is not None
        bound = admitted.principal.session_config
        bound_update: list[str] = []
        if bound is not None and bound.get("type") == "translation":
            # A translation client secret's session, applied before the client speaks (here
            # or, relayed, upstream); its model chose the session's in the URL.
            config = {key: value for key, value in bound.items() if key not in ("model", "type")}
            bound_update = [json.dumps({"type": "session.update", "session": config})]

        async def serve_locally() -> None:
            assert engines is not None and model is not None and meter is not None
            runner = TranslationRunner(engines, voice_book(websocket), model=model.client_model)
            for update in bound_update:  # a translation secret's session, before the client's
                await runner.feed_text(update)
            await pump(websocket, runner, meter)

        await run_metered(
            websocket,
            meter,
            serve_locally,
            upstream=gateway,
            their_model=admitted.their_model,
            upstream_path="realtime/translations",
            first_upstream_events=bound_update,
        )

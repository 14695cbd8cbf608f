"""The one handshake every realtime socket runs before it is accepted.

`/v1/realtime`, `/v1/realtime/translations` and the sideband on a running call all admit a
socket the same way, in this order: authenticate (401, and for sockets the Origin of
cookie logins and the user's rate limit), the model the URL asks for (400) and whether a
client secret's bound model allows it, whether the gateway relays that model upstream,
the ready engines when it is served here (503), a session slot (429/503), and a meter for
the session's credit. Any refusal is answered as an HTTP response with the JSON error body
(`refuse_handshake`), so a client never sees an accepted socket that then closes.

The endpoint supplies only what differs: how it reads the model from the URL, the
gateway's mapping (the gateway sits above this layer, so it is passed in as a function),
and any check of its own (a sideband's call must be the caller's).
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from starlette.websockets import WebSocket

from realtime2.accounts.metering import SessionMeter
from realtime2.accounts.pricing import rate_for
from realtime2.edge.admission import (
    SessionSlots,
    key_check,
    ready_engines,
    refuse_handshake,
    take_slot,
)
from realtime2.edge.auth import Principal, authenticate
from realtime2.edge.session_config import check_bound_model
from realtime2.engine.interfaces import Engines
from realtime2.errors import ApiError
from realtime2.state import Services, services_of


@dataclass(frozen=True)
class SocketModel:
    """What a socket's URL asks for, as its endpoint reads it."""

    kind: str  # "realtime", "transcription", "translation"
    client_model: str  # the name the client used ("" when it named none)
    billing_model: str  # the priced model (`accounts.pricing`)


@dataclass(frozen=True)
class AdmittedSocket:
    principal: Principal
    services: Services
    model: SocketModel | None  # None for a socket without a session of its own (sideband)
    their_model: str | None  # the upstream's model when the gateway relays it, else None
    engines: Engines | None  # the ready engines when served here, else None
    meter: SessionMeter | None  # the session's meter (not started); None without a model


ChooseModel = Callable[[Principal], SocketModel]  # raises ApiError (400) for a bad model
UpstreamModel = Callable[[SocketModel], str | None]  # the gateway's name for it, or None
Authorize = Callable[[Principal], None]  # raises ApiError to refuse


@asynccontextmanager
async def admit_socket(
    websocket: WebSocket,
    *,
    allow_client_secret: bool = True,
    authorize: Authorize | None = None,
    choose_model: ChooseModel | None = None,
    upstream_model: UpstreamModel | None = None,
    reference_prefix: str = "rt",
) -> AsyncIterator[AdmittedSocket | None]:
    """Admit the socket, or refuse it and yield None (the refusal is already answered).
    The session slot is held until the block exits, however it exits."""
    services = services_of(websocket)
    slots: SessionSlots = websocket.app.state.session_slots
    model: SocketModel | None = None
    their_model: str | None = None
    engines: Engines | None = None
    try:
        principal = await authenticate(websocket, allow_client_secret=allow_client_secret)
        if authorize is not None:
            authorize(principal)
        if choose_model is not None:
            model = choose_model(principal)
            check_bound_model(principal.session_config, model.billing_model, param="model")
            their_model = upstream_model(model) if upstream_model is not None else None
            engines = await ready_engines(services) if their_model is None else None
        user = await services.users.get(principal.user_id)
        await take_slot(services, slots, principal.user_id, user.max_sessions if user else None)
    except ApiError as error:
        await refuse_handshake(websocket, error)
        yield None
        return
    try:
        meter = None
        if model is not None:
            meter = SessionMeter(
                services.ledger,
                user_id=principal.user_id,
                model=model.billing_model,
                rate=rate_for(model.billing_model, services.settings.resolved_rates()),
                reference=f"{reference_prefix}_{secrets.token_hex(10)}",
                api_key_id=principal.key_id,
                credential_check=key_check(services, principal.key_id),
            )
        yield AdmittedSocket(principal, services, model, their_model, engines, meter)
    finally:
        slots.release(principal.user_id)

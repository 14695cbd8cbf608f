"""Admission control: per-process and per-user limits on concurrent realtime sessions.

New sessions beyond a limit are refused with a clear error; sessions already running are
never degraded by a newcomer. The per-process cap is this process's; the per-user cap is
counted over every replica from the open session holds in the shared ledger (`take_slot`).
"""

from __future__ import annotations

import asyncio
from collections import Counter

from fastapi import WebSocket

from realtime2.accounts.metering import SESSION_REFERENCES, CredentialCheck
from realtime2.engine.interfaces import Engines, EngineUnavailableError
from realtime2.errors import ApiError
from realtime2.state import Services


class SessionSlots:
    def __init__(self, max_sessions: int, max_per_user: int) -> None:
        self.max_sessions = max_sessions
        self.max_per_user = max_per_user
        self.active = 0
        self._per_user: Counter[int] = Counter()
        self.draining = False  # set by `edge.drain.Drain`: the process is shutting down

    def acquire(self, user_id: int, user_limit: int | None = None, *, elsewhere: int = 0) -> None:
        """Take a slot or raise ApiError; pair every success with `release`. `elsewhere`:
        the user's sessions counted on every replica (`take_slot`)."""
        limit = user_limit if user_limit else self.max_per_user
        if self.draining:
            raise ApiError(
                503,
                "server_draining",
                "This server is shutting down; retry and another replica will answer.",
                headers={"Retry-After": "1"},
            )
        if self.active >= self.max_sessions:
            raise ApiError(
                503,
                "server_busy",
                f"This server is at its limit of {self.max_sessions} concurrent sessions.",
                headers={"Retry-After": "5"},
            )
        if max(self._per_user[user_id], elsewhere) >= limit:
            raise ApiError(
                429,
                "too_many_sessions",
                f"At most {limit} concurrent sessions per user.",
                headers={"Retry-After": "5"},
            )
        self.active += 1
        self._per_user[user_id] += 1

    def release(self, user_id: int) -> None:
        self.active -= 1
        self._per_user[user_id] -= 1
        if self._per_user[user_id] <= 0:
            del self._per_user[user_id]


async def take_slot(
    services: Services, slots: SessionSlots, user_id: int, user_limit: int | None
) -> None:
    """`slots.acquire`, with the user's cap counted over every replica: the open session
    holds in the shared ledger (a dead replica's expire, freeing its slots), or this
    process's own count when larger (sessions admitted here whose hold is not placed yet,
    sideband sockets). Two replicas admitting the same user in the same instant can both
    pass: the cap may be overshot by the handshakes in flight, never by more."""
    elsewhere = await services.ledger.open_holds(user_id, SESSION_REFERENCES)
    slots.acquire(user_id, user_limit, elsewhere=elsewhere)


ENGINE_WAIT_SECONDS = 60.0


def key_check(services: Services, key_id: str | None) -> CredentialCheck | None:
    """A session meter's check, at each renewal, that its API key (or the key that minted
    its client secret) is still active; None for a dashboard login (no key to revoke)."""
    if key_id is None:
        return None

    async def active() -> bool:
        return await services.keys.is_active(key_id)

    return active


async def ready_engines(services: Services) -> Engines:
    """The loaded engines, waiting while they load; 503 when none can serve."""
    if services.engines is None:
        raise ApiError(503, "engine_unavailable", "No voice engine is configured.")
    try:
        async with asyncio.timeout(ENGINE_WAIT_SECONDS):
            engines: Engines = await services.engines.wait_ready()
    except EngineUnavailableError as exc:
        raise ApiError(503, exc.code, str(exc)) from None
    except TimeoutError:
        raise ApiError(
            503, "engine_loading", "The voice engines are still loading; retry shortly."
        ) from None
    return engines


def insufficient_credits() -> ApiError:
    return ApiError(402, "insufficient_credits", "The balance is too low to start a session.")


async def refuse_handshake(websocket: WebSocket, error: ApiError) -> None:
    """Answer a WebSocket handshake with an HTTP error (the client sees status and JSON body)."""
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(error.response())
    else:  # servers without the denial extension: close with a policy violation
        await websocket.close(code=1008, reason=error.code)


def selected_subprotocol(websocket: WebSocket) -> str | None:
    """Browser clients offer `realtime` and abort unless the server selects it."""
    offered = websocket.scope.get("subprotocols", [])
    return "realtime" if "realtime" in offered else None

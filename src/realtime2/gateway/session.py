"""What `/v1/realtime` needs to hand a session to the upstream instead of the engine.

The transport keeps admission, authentication and metering; these helpers add the
relay-specific steps, in the order that bills nothing for a failed start: check the credit
floor, open the upstream (failures → `upstream_unavailable` before the client's socket is
accepted), and only then start the meter.
"""

from __future__ import annotations

import json
import math
from typing import Any

from starlette.requests import HTTPConnection
from websockets.asyncio.client import ClientConnection

from realtime2.accounts.ledger import InsufficientCreditsError
from realtime2.accounts.metering import SessionMeter
from realtime2.gateway.connect import open_socket
from realtime2.gateway.upstream import Upstream
from realtime2.protocol.models import UnsupportedModelError, resolve_realtime_model


def gateway_of(conn: HTTPConnection) -> Upstream | None:
    """The app's upstream (set at start-up by `create_app`), or None."""
    upstream: Upstream | None = getattr(conn.app.state, "gateway", None)
    return upstream


def relays(conn: HTTPConnection, model: str | None) -> bool:
    """Whether a realtime session of `model` (ours; None: the default) goes upstream, so
    its session config is the upstream's to judge (`check_session(upstream=True)`)."""
    upstream = gateway_of(conn)
    if upstream is None:
        return False
    try:
        tier = resolve_realtime_model(model)
    except UnsupportedModelError:
        return False  # the local check names the model
    return upstream.their_model(tier) is not None


async def check_start_credit(meter: SessionMeter) -> None:
    """The meter's own start floor, checked before any upstream work is done or paid for."""
    policy = meter.policy
    floor = max(policy.minimum_start_seconds, policy.minimum_billed_seconds)
    needed = math.ceil(floor) * meter.rate
    available = (await meter.ledger.balance(meter.user_id)).available
    if available < needed:
        raise InsufficientCreditsError(needed, available)


async def open_upstream_session(
    upstream: Upstream, their_model: str, conn: HTTPConnection, *, path: str = "realtime"
) -> ClientConnection:
    return await open_socket(upstream, {"model": their_model}, conn.headers, path=path)


def bound_session_event(config: dict[str, Any] | None) -> list[str]:
    """A client secret's bound session config as the first `session.update` upstream.
    Its `model` names ours; the upstream session's model was chosen in the URL."""
    if config is None:
        return []
    session = {k: v for k, v in config.items() if k != "model"}
    session.setdefault("type", "realtime")
    return [json.dumps({"type": "session.update", "session": session})]

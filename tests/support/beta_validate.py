"""Beta server events must be accepted by the SDK's beta `RealtimeServerEvent` union,
strictly, with no field the beta models do not know (beyond documented session extras)."""

from __future__ import annotations

from typing import Any

import pydantic
from openai.types.beta.realtime.realtime_server_event import RealtimeServerEvent

from tests.support.validate import _extras

_ADAPTER: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(RealtimeServerEvent)
# Fields clients read that the beta Session model does not declare.
_ALLOWED = {("session", "expires_at"), ("session", "object"), ("session", "id")}


def assert_valid_beta(event: dict[str, Any]) -> Any:
    model = _ADAPTER.validate_python(event, strict=True)
    assert model.type == event["type"], (model.type, event["type"])
    extras = [e for e in _extras(model, ()) if e[-2:] not in _ALLOWED]
    assert not extras, f"{event['type']}: fields unknown to the beta SDK: {extras}"
    return model

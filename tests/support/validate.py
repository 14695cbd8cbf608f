"""Every server event the session emits must be accepted by the SDK's own union.

The SDK union is validated with `strict=True`. Its models allow extra fields, so strict
validation alone would accept a misspelt field; `assert_valid` therefore also checks that
the model chosen is the one for the event's `type`, and that no field we send ends up as
an unknown extra, except the documented session extras (`id`, `object`, `expires_at`,
which `RealtimeSessionCreateRequest` does not declare but clients read).
"""

from __future__ import annotations

from typing import Any

import pydantic
from openai.types.realtime.realtime_server_event import RealtimeServerEvent

_ADAPTER: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(RealtimeServerEvent)
_ALLOWED_EXTRAS = {("session", "id"), ("session", "object"), ("session", "expires_at")}


def _extras(model: Any, path: tuple[str, ...]) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    if isinstance(model, pydantic.BaseModel):
        for key in model.model_extra or {}:
            found.append((*path, key))
        for name in type(model).model_fields:
            found.extend(_extras(getattr(model, name), (*path, name)))
    elif isinstance(model, list):
        for value in model:
            found.extend(_extras(value, path))
    return found


def assert_valid(event: dict[str, Any]) -> Any:
    model = _ADAPTER.validate_python(event, strict=True)
    assert model.type == event["type"], (model.type, event["type"])
    extras = [e for e in _extras(model, ()) if e[-2:] not in _ALLOWED_EXTRAS]
    assert not extras, f"{event['type']}: fields unknown to the SDK: {extras}"
    return model

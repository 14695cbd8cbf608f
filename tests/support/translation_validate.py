"""Translation server events must be accepted by the SDK's `RealtimeTranslationServerEvent`
union, strictly, with no field the SDK does not know (its models allow extras)."""

from __future__ import annotations

from typing import Any

import pydantic
from openai.types.realtime.realtime_translation_server_event import (
    RealtimeTranslationServerEvent,
)

from tests.support.validate import _extras

_ADAPTER: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(RealtimeTranslationServerEvent)


def assert_valid_translation(event: dict[str, Any]) -> Any:
    model = _ADAPTER.validate_python(event, strict=True)
    assert model.type == event["type"], (model.type, event["type"])
    extras = _extras(model, ())
    assert not extras, f"{event['type']}: fields unknown to the SDK: {extras}"
    return model

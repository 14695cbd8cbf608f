"""Reading a JSON request body that must be one object: bounded in bytes, valid JSON, an
object, and (where the route names its fields) no field it does not know.

The body-limit middleware (`http.body_limit`) already bounds what arrives, but its limits
can be raised by configuration; each route's own `max_bytes` is the bound its handler was
written for, so it is checked here too.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from fastapi import Request

from realtime2.errors import ApiError

# How much of an unknown field's name an error repeats back.
_NAME_CHARS = 40


async def read_json_object(
    request: Request,
    *,
    max_bytes: int,
    fields: Collection[str] | None = None,
    empty_is_object: bool = True,
) -> dict[str, Any]:
    """The body as a dict. `fields`: the names allowed (None: any); an unknown one is
    refused by name, never ignored. `empty_is_object`: an empty body reads as `{}`
    (routes whose every field is optional); otherwise it is refused as not an object."""
    raw = await request.body()
    if len(raw) > max_bytes:
        raise ApiError(413, "request_too_large", "The request body is too large.")
    if not raw and empty_is_object:
        return {}
    try:
        body = json.loads(raw or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ApiError(400, "invalid_json", "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "The request body must be a JSON object.")
    if fields is not None:
        unknown = sorted(set(body) - set(fields))
        if unknown:
            name = unknown[0][:_NAME_CHARS]
            raise ApiError(400, "unknown_parameter", f"Unknown parameter: '{name}'.", param=name)
    return body

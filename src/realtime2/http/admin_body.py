"""JSON bodies of the admin and account-control endpoints: bounded, an object, and every
field known (an unknown one is refused by name, never ignored)."""

from __future__ import annotations

import json
from typing import Any, Final

from fastapi import Request

from realtime2.errors import ApiError

MAX_BODY_BYTES: Final = 16 * 1024


async def json_body(request: Request, fields: frozenset[str]) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(413, "request_too_large", "The request body is too large.")
    try:
        body = json.loads(raw or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ApiError(400, "invalid_json", "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "The request body must be a JSON object.")
    unknown = sorted(set(body) - fields)
    if unknown:
        name = str(unknown[0])[:40]
        raise ApiError(400, "unknown_parameter", f"Unknown parameter: '{name}'.", param=name)
    return body


def invalid(param: str, message: str) -> ApiError:
    return ApiError(400, "invalid_value", message, param=param)


def optional_int(body: dict[str, Any], name: str, *, low: int, high: int) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise invalid(name, f"'{name}' must be an integer from {low} to {high}, or null.")
    return value


def optional_str(body: dict[str, Any], name: str, *, most: int) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > most:
        raise invalid(name, f"'{name}' must be a string of at most {most} characters.")
    return value


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"No such {what}.")

"""JSON bodies of the admin and account-control endpoints: bounded, an object, and every
field known (an unknown one is refused by name, never ignored)."""

from __future__ import annotations

from typing import Any, Final

from fastapi import Request

from realtime2.errors import ApiError
from realtime2.http.json_body import read_json_object

MAX_BODY_BYTES: Final = 16 * 1024


async def json_body(request: Request, fields: frozenset[str]) -> dict[str, Any]:
    return await read_json_object(request, max_bytes=MAX_BODY_BYTES, fields=fields)


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

"""The one JSON body reader (`http.json_body`): the byte bound, invalid JSON, a body that is
not an object, unknown fields refused by name, and the two readings of an empty body."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from realtime2.errors import install_error_handlers
from realtime2.http.json_body import read_json_object

LIMIT = 256


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/any")
    async def any_fields(request: Request) -> dict[str, Any]:
        return await read_json_object(request, max_bytes=LIMIT)

    @app.post("/named")
    async def named_fields(request: Request) -> dict[str, Any]:
        return await read_json_object(request, max_bytes=LIMIT, fields={"a", "b"})

    @app.post("/required")
    async def required(request: Request) -> dict[str, Any]:
        return await read_json_object(request, max_bytes=LIMIT, empty_is_object=False)

    return app


@pytest.fixture
async def http() -> Any:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client


def _error(response: httpx.Response) -> tuple[int, str, str, str | None]:
    error = response.json()["error"]
    return response.status_code, error["code"], error["message"], error.get("param")


async def test_an_object_is_returned_as_sent(http: httpx.AsyncClient) -> None:
    for path in ("/any", "/named", "/required"):
        response = await http.post(path, json={"a": 1, "b": [2]})
        assert response.status_code == 200, path
        assert response.json() == {"a": 1, "b": [2]}


async def test_a_body_over_the_bound_is_refused(http: httpx.AsyncClient) -> None:
    exactly = b'{"a": "' + b"x" * (LIMIT - 9) + b'"}'
    assert len(exactly) == LIMIT
    assert (await http.post("/any", content=exactly)).status_code == 200
    response = await http.post("/any", content=exactly + b" ")
    assert _error(response) == (413, "request_too_large", "The request body is too large.", None)


@pytest.mark.parametrize("raw", [b"{", b"\xff\xfe", b"nul"])
async def test_invalid_json_is_refused(http: httpx.AsyncClient, raw: bytes) -> None:
    response = await http.post("/any", content=raw)
    assert _error(response) == (400, "invalid_json", "The request body is not valid JSON.", None)


@pytest.mark.parametrize("raw", [b"[]", b"1", b'"a"', b"null"])
async def test_json_that_is_not_an_object_is_refused(http: httpx.AsyncClient, raw: bytes) -> None:
    response = await http.post("/any", content=raw)
    message = "The request body must be a JSON object."
    assert _error(response) == (400, "invalid_json", message, None)


async def test_an_unknown_field_is_refused_by_name(http: httpx.AsyncClient) -> None:
    response = await http.post("/named", json={"a": 1, "zz": 2, "c": 3})
    # The first unknown name in sorted order, so the answer does not depend on field order.
    assert _error(response) == (400, "unknown_parameter", "Unknown parameter: 'c'.", "c")
    long_name = "q" * 100
    response = await http.post("/named", json={long_name: 1})
    shown = "q" * 40
    assert _error(response) == (400, "unknown_parameter", f"Unknown parameter: '{shown}'.", shown)
    # Without a field list any name passes.
    assert (await http.post("/any", json={"zz": 2})).json() == {"zz": 2}


async def test_an_empty_body_is_an_empty_object_unless_the_route_requires_one(
    http: httpx.AsyncClient,
) -> None:
    assert (await http.post("/any", content=b"")).json() == {}
    assert (await http.post("/named", content=b"")).json() == {}
    response = await http.post("/required", content=b"")
    message = "The request body must be a JSON object."
    assert _error(response) == (400, "invalid_json", message, None)

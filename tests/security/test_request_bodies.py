"""Request bodies cost the sender, not the server: authentication comes before the first
byte of a body is read, and each route's byte limit is counted as the bytes arrive (chunked
uploads included), answered with a 413 in the error shape the moment it is passed.

Two levels. Driving the ASGI app directly counts exactly how many body chunks the server
pulled (zero for a refused key, not 3,200). Against a served app, a 200 MB streamed upload is
answered in well under a second while the client has sent only what the sockets buffer.
Before the body-limit middleware, FastAPI read and parsed every byte before the 401, and
`/charge` read 200 MB to refuse 16 KB.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.types import Message

from realtime2.app import create_app
from realtime2.http.body_limit import DEFAULT_BODY_LIMITS
from realtime2.state import Services
from tests.support.accounts import Account, new_account
from tests.support.fakes import fake_engines
from tests.support.server import LiveServer, build_services, serve_app

MIB = 1024 * 1024
JSON = {"content-type": "application/json"}


@dataclass
class Exchange:
    status: int
    body: dict[str, Any]
    pulled_chunks: int
    pulled_bytes: int
    headers: dict[str, str] = field(default_factory=dict)


async def drive(
    services: Services,
    path: str,
    headers: dict[str, str],
    *,
    chunks: int,
    chunk_bytes: int = 64 * 1024,
    prefix: bytes = b"",
    **settings: Any,
) -> Exchange:
    """POST `chunks` body chunks to the app (the first starts with `prefix`), counting how
    many it pulls from `receive`."""
    app_settings = services.settings.model_copy(update=settings)
    app = create_app(app_settings, services)
    chunk = b"x" * chunk_bytes
    pulled = 0
    sent: list[Message] = []
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }

    async def receive() -> Message:
        nonlocal pulled
        if pulled >= chunks:  # the whole body was read: the client has nothing more
            await asyncio.sleep(3600)
        pulled += 1
        body = prefix + chunk[len(prefix) :] if pulled == 1 else chunk
        return {"type": "http.request", "body": body, "more_body": pulled < chunks}

    async def send(message: Message) -> None:
        sent.append(message)

    await asyncio.wait_for(app(scope, receive, send), 30)
    start = sent[0]
    body = b"".join(m.get("body", b"") for m in sent[1:])
    headers_out = {k.decode(): v.decode() for k, v in start.get("headers", [])}
    return Exchange(start["status"], json.loads(body), pulled, pulled * chunk_bytes, headers_out)


def assert_error(exchange: Exchange, status: int, code: str) -> None:
    assert exchange.status == status, exchange
    assert set(exchange.body) == {"error"}
    error = exchange.body["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["type"], str)


@pytest.fixture
async def account(sqlite_services: Services) -> Account:
    return await new_account(sqlite_services)


# 3,200 chunks of 64 KiB: a 200 MiB body.
BIG = 3200


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "unauthorized"),
        ({"authorization": "Bearer not-a-key"}, "invalid_api_key"),
        ({"x-api-key": "sk-gptr2-" + "Z" * 43}, "invalid_api_key"),  # well formed, unknown
        ({"cookie": "realtime2_session=forged"}, "unauthorized"),
    ],
)
@pytest.mark.parametrize(
    "path",
    [
        "/v1/chat/completions",  # a JSON body FastAPI parses before any dependency
        "/v1/audio/speech",
        "/v1/audio/transcriptions",  # multipart
        "/api/realtime2/pipeline",
        "/api/realtime2/charge",  # reads its own body (realtime principal: ek_ allowed)
        "/v1/realtime/client_secrets",
        "/v1/realtime/calls",
    ],
)
async def test_unauthenticated_bodies_are_refused_before_a_byte_is_read(
    sqlite_services: Services, path: str, headers: dict[str, str], code: str
) -> None:
    exchange = await drive(sqlite_services, path, {**JSON, **headers}, chunks=BIG)
    assert_error(exchange, 401, code)
    assert exchange.pulled_chunks == 0


async def test_chunked_bodies_stop_at_the_route_limit(
    sqlite_services: Services, account: Account
) -> None:
    key = {"x-api-key": account.key}
    for path, limit in (
        ("/api/realtime2/charge", 16 * 1024),  # read 200 MB to refuse 16 KB before
        ("/v1/chat/completions", 1 * MIB),
        ("/v1/realtime/client_secrets", 256 * 1024),
        ("/v1/audio/speech", 64 * 1024),
    ):
        exchange = await drive(sqlite_services, path, {**JSON, **key}, chunks=BIG, chunk_bytes=4096)
        assert_error(exchange, 413, "request_too_large")
        # Reading stops at the first chunk past the limit.
        assert exchange.pulled_bytes == limit + 4096, path


async def test_a_declared_length_over_the_limit_is_refused_unread(
    sqlite_services: Services, account: Account
) -> None:
    headers = {**JSON, "x-api-key": account.key, "content-length": str(200 * MIB)}
    exchange = await drive(sqlite_services, "/v1/chat/completions", headers, chunks=BIG)
    assert_error(exchange, 413, "request_too_large")
    assert exchange.pulled_chunks == 0


async def test_multipart_uploads_stop_at_the_route_limit(
    sqlite_services: Services, account: Account
) -> None:
    """A chunked upload of 400 MB to a 25 MB endpoint: read up to the limit, no further."""
    headers = {"content-type": "multipart/form-data; boundary=b", "x-api-key": account.key}
    limit = DEFAULT_BODY_LIMITS["/v1/audio/transcriptions"]
    part = (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n'
        b"Content-Type: audio/wav\r\n\r\n"
    )
    exchange = await drive(
        sqlite_services,
        "/v1/audio/transcriptions",
        headers,
        chunks=6400,
        chunk_bytes=MIB // 16,
        prefix=part,
    )
    assert_error(exchange, 413, "request_too_large")
    assert exchange.pulled_bytes == limit + MIB // 16


async def test_route_limits_are_configurable(sqlite_services: Services, account: Account) -> None:
    headers = {**JSON, "x-api-key": account.key}
    exchange = await drive(
        sqlite_services,
        "/v1/chat/completions",
        headers,
        chunks=BIG,
        chunk_bytes=1024,
        body_limits={"/v1/chat/completions": 10 * 1024},
    )
    assert_error(exchange, 413, "request_too_large")
    assert exchange.pulled_bytes == 11 * 1024


async def test_bodies_within_the_limit_still_work(
    client: httpx.AsyncClient, sqlite_services: Services, account: Account
) -> None:
    """An authenticated request under the limit reaches the route, which runs its checks
    (once: the route's dependency reuses the authentication done before the body)."""
    response = await client.post(
        "/api/realtime2/charge",
        json={"model": "realtime-mini", "callId": "rtc_missing"},
        headers={"x-api-key": account.key},
    )
    assert response.status_code == 404, response.text
    response = await client.post(
        "/v1/realtime/client_secrets", json={}, headers={"x-api-key": account.key}
    )
    assert response.status_code == 200, response.text


async def test_authenticating_before_the_body_counts_once(
    client: httpx.AsyncClient, sqlite_services: Services, account: Account
) -> None:
    """The check made before the body is the route's own dependency, run once: a user with
    3 requests a minute gets 3 (a second run would spend two tokens per request)."""
    await sqlite_services.users.set_limits(account.user_id, rpm=3)
    speech = {"model": "tts-1", "input": "hello", "voice": "marin"}
    statuses = [
        (
            await client.post("/v1/audio/speech", json=speech, headers={"x-api-key": account.key})
        ).status_code
        for _ in range(4)
    ]
    assert statuses == [503, 503, 503, 429]  # no engines here: past the limiter, then 503


async def test_multipart_text_fields_are_small(
    client: httpx.AsyncClient, sqlite_services: Services, account: Account
) -> None:
    """A text field may not hold megabytes (26 MB each were accepted); only the file part
    may be large."""
    response = await client.post(
        "/api/realtime2/pipeline",
        data={"model": "starter-voice", "text": "x" * (2 * MIB)},
        files={"audio": ("a.wav", b"RIFF", "audio/wav")},
        headers={"x-api-key": account.key},
    )
    assert response.status_code == 400, response.text
    assert "exceeded maximum size" in response.json()["error"]["message"]


# --- against a served app ----------------------------------------------------------------


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[LiveServer]:
    svc = await build_services(tmp_path, fake_engines())
    try:
        async for live in serve_app(svc):
            yield live
    finally:
        await svc.close()


def _rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


async def _stream_200_mb(url: str, headers: dict[str, str]) -> tuple[httpx.Response, float]:
    """POST 200 MB as a chunked stream (httpx sends it all before it reads the answer)."""
    chunk = b"x" * MIB

    async def body() -> AsyncIterator[bytes]:
        for _ in range(200):
            yield chunk

    started = time.monotonic()
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.post(url, content=body(), headers=headers)
    return response, time.monotonic() - started


async def test_a_served_200_mb_upload_costs_the_server_nothing(served: LiveServer) -> None:
    """The server answers at once and discards what still arrives: its memory stays flat and
    /healthz keeps answering (before: 580 MB and 7.8 s for the 401)."""
    account = await new_account(served.services)
    baseline = _rss_bytes()
    peak = baseline
    stalls: list[float] = []

    async def watch() -> None:
        nonlocal peak
        async with httpx.AsyncClient(timeout=5) as http:
            while True:
                started = time.monotonic()
                assert (await http.get(served.url + "/healthz")).status_code == 200
                stalls.append(time.monotonic() - started)
                peak = max(peak, _rss_bytes())
                await asyncio.sleep(0.02)

    watcher = asyncio.create_task(watch())
    try:
        cases: tuple[tuple[str, dict[str, str], int, str], ...] = (
            ("/v1/chat/completions", {}, 401, "unauthorized"),
            ("/v1/chat/completions", {"x-api-key": account.key}, 413, "request_too_large"),
            ("/api/realtime2/charge", {"x-api-key": account.key}, 413, "request_too_large"),
        )
        for path, headers, status, code in cases:
            response, seconds = await _stream_200_mb(served.url + path, {**JSON, **headers})
            assert response.status_code == status, response.text
            assert response.json()["error"]["code"] == code
            assert seconds < 5, (path, seconds)
    finally:
        watcher.cancel()
        with pytest.raises(asyncio.CancelledError):
            await watcher
    assert peak - baseline < 100 * MIB
    assert stalls and max(stalls) < 0.5


def _raw_post(port: int, headers: str) -> bytes:
    """Headers announcing a 200 MB body with `Expect: 100-continue`, and the first reply."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(
            (
                "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Content-Type: application/json\r\nExpect: 100-continue\r\n"
                f"Content-Length: {200 * MIB}\r\n{headers}\r\n"
            ).encode()
        )
        reply = b""
        while b"\r\n\r\n" not in reply:
            data = sock.recv(65536)
            if not data:
                break
            reply += data
        return reply


async def test_a_refused_body_is_never_asked_for(served: LiveServer) -> None:
    """A client that waits for `100 Continue` (curl does, for large uploads) hears the 401 or
    413 instead and sends nothing: the server refuses before it asks for the body."""
    account = await new_account(served.services)
    port = int(served.url.rsplit(":", 1)[1])
    for headers, status in (("", b"401"), (f"x-api-key: {account.key}\r\n", b"413")):
        reply = await asyncio.to_thread(_raw_post, port, headers)
        assert reply.startswith(b"HTTP/1.1 " + status), reply[:200]
        assert b"100 Continue" not in reply

"""`POST /api/realtime2/pipeline` with fake engines: the request contract and billing."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from realtime2.app import create_app
from realtime2.engine.registry import EngineHost
from realtime2.state import Services
from tests.support.accounts import Account, new_account
from tests.support.audio_files import wav_bytes
from tests.support.fakes import fake_engines

URL = "/api/realtime2/pipeline"


@pytest.fixture
async def api(sqlite_services: Services) -> AsyncIterator[httpx.AsyncClient]:
    sqlite_services.engines = EngineHost.with_engines(fake_engines())
    app = create_app(sqlite_services.settings, sqlite_services)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


async def post(
    api: httpx.AsyncClient, acct: Account, data: dict[str, str], files: Any = None
) -> httpx.Response:
    return await api.post(URL, headers={"x-api-key": acct.key}, data=data, files=files)


async def test_text_turn_bills_measured_seconds(
    api: httpx.AsyncClient, sqlite_services: Services
) -> None:
    acct = await new_account(sqlite_services, credits=100)
    response = await post(
        api,
        acct,
        {
            "model": "starter-voice",
            "voice": "marin",
            "text": "Tell me one useful idea.",
            "instructions": "Be brief.",
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["modelId"] == "starter-voice" and body["voice"] == "marin"
    assert body["audioContentType"] == "audio/mpeg" and body["transcript"] == ""
    assert body["assistantText"] == "Hi there. How can I help?"
    assert base64.b64decode(body["audioBase64"])[:3] in (b"ID3", b"\xff\xfb", b"\xff\xf3")
    usage = body["usage"]
    assert usage["credits"] == usage["seconds"] * 1 >= 1
    assert usage["balance"] == 100 - usage["credits"]
    balance = await sqlite_services.ledger.balance(acct.user_id)
    assert (balance.available, balance.held) == (100 - usage["credits"], 0)


async def test_audio_wins_and_input_seconds_are_billed(
    api: httpx.AsyncClient, sqlite_services: Services
) -> None:
    acct = await new_account(sqlite_services, credits=100)
    response = await post(
        api,
        acct,
        {"model": "starter-voice", "text": "fallback", "durationSeconds": "1"},
        files={"audio": ("q.wav", wav_bytes(3.2), "audio/wav")},
    )
    assert response.status_code == 200, response.text
    usage = response.json()["usage"]
    assert response.json()["transcript"] == "hello there."
    assert usage["inputSeconds"] == pytest.approx(3.2, abs=0.02)
    assert usage["seconds"] >= 4 and usage["credits"] == usage["seconds"]


async def test_insufficient_credits_before_any_work(
    api: httpx.AsyncClient, sqlite_services: Services
) -> None:
    acct = await new_account(sqlite_services, credits=10)
    response = await post(
        api, acct, {"model": "starter-voice", "text": "hi", "durationSeconds": "8"}
    )
    assert response.status_code == 402
    assert response.json()["error"]["code"] == "insufficient_credits"
    assert (await sqlite_services.ledger.balance(acct.user_id)).available == 10


BAD_INPUTS: list[tuple[str, dict[str, str], Any, int, str]] = [
    ("no model", {"text": "hi"}, None, 400, "invalid_request"),
    ("realtime model", {"model": "realtime-mini", "text": "hi"}, None, 400, "unsupported_model"),
    (
        "unknown voice",
        {"model": "starter-voice", "voice": "alloy", "text": "hi"},
        None,
        400,
        "unsupported_voice",
    ),
    ("nothing to say", {"model": "starter-voice"}, None, 400, "invalid_request"),
    ("blank text", {"model": "starter-voice", "text": "   "}, None, 400, "invalid_request"),
    ("text too long", {"model": "starter-voice", "text": "a" * 4001}, None, 400, "invalid_request"),
    (
        "instructions too long",
        {"model": "starter-voice", "text": "hi", "instructions": "b" * 4001},
        None,
        400,
        "invalid_request",
    ),
    (
        "messages not json",
        {"model": "starter-voice", "text": "hi", "messages": "[{"},
        None,
        400,
        "invalid_request",
    ),
    (
        "messages not list",
        {"model": "starter-voice", "text": "hi", "messages": '{"a":1}'},
        None,
        400,
        "invalid_request",
    ),
    (
        "message bad role",
        {
            "model": "starter-voice",
            "text": "hi",
            "messages": json.dumps([{"role": "system", "text": "x"}]),
        },
        None,
        400,
        "invalid_request",
    ),
    (
        "message text not string",
        {
            "model": "starter-voice",
            "text": "hi",
            "messages": json.dumps([{"role": "user", "text": 5}]),
        },
        None,
        400,
        "invalid_request",
    ),
    (
        "duration not number",
        {"model": "starter-voice", "text": "hi", "durationSeconds": "ten"},
        None,
        400,
        "invalid_request",
    ),
    (
        "duration negative",
        {"model": "starter-voice", "text": "hi", "durationSeconds": "-1"},
        None,
        400,
        "invalid_request",
    ),
    (
        "duration nan",
        {"model": "starter-voice", "text": "hi", "durationSeconds": "nan"},
        None,
        400,
        "invalid_request",
    ),
    (
        "unknown field",
        {"model": "starter-voice", "text": "hi", "temperature": "2"},
        None,
        400,
        "invalid_request",
    ),
    (
        "empty audio",
        {"model": "starter-voice"},
        {"audio": ("a.wav", b"", "audio/wav")},
        400,
        "invalid_request",
    ),
    (
        "corrupt audio",
        {"model": "starter-voice"},
        {"audio": ("a.webm", b"\x1a\x45\xdf\xa3garbage" * 50, "audio/webm")},
        400,
        "invalid_audio",
    ),
    (
        "audio as text field",
        {"model": "starter-voice", "audio": "not a file"},
        None,
        400,
        "invalid_request",
    ),
    (
        "silent audio, no text",
        {"model": "starter-voice"},
        {"audio": ("s.wav", wav_bytes(0.0), "audio/wav")},
        400,
        "invalid_audio",
    ),
]


@pytest.mark.parametrize(
    ("data", "files", "status", "code"),
    [case[1:] for case in BAD_INPUTS],
    ids=[case[0] for case in BAD_INPUTS],
)
async def test_bad_input_is_a_clear_error_and_charges_nothing(
    api: httpx.AsyncClient,
    sqlite_services: Services,
    data: dict[str, str],
    files: Any,
    status: int,
    code: str,
) -> None:
    acct = await new_account(sqlite_services, credits=500)
    response = await post(api, acct, data, files)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    balance = await sqlite_services.ledger.balance(acct.user_id)
    assert (balance.available, balance.held) == (500, 0)


async def test_oversized_audio_is_refused(
    api: httpx.AsyncClient, sqlite_services: Services
) -> None:
    acct = await new_account(sqlite_services, credits=500)
    big = b"\0" * (25 * 1024 * 1024 + 10)
    response = await post(
        api, acct, {"model": "starter-voice"}, {"audio": ("big.wav", big, "audio/wav")}
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "audio_too_large"
    assert (await sqlite_services.ledger.balance(acct.user_id)).available == 500


async def test_json_body_and_auth(api: httpx.AsyncClient, sqlite_services: Services) -> None:
    acct = await new_account(sqlite_services, credits=500)
    response = await api.post(
        URL, headers={"x-api-key": acct.key}, json={"model": "starter-voice", "text": "hi"}
    )
    assert response.status_code == 415
    assert (await api.post(URL, data={"model": "starter-voice", "text": "hi"})).status_code == 401

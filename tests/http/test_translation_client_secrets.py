"""`POST /v1/realtime/translations/client_secrets`: the SDK's
`realtime.translations.client_secrets.create` mints an `ek_` secret bound to translation
and its model; the translation socket accepts it and applies its session (issue 23)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from openai import AsyncOpenAI, BadRequestError
from websockets.asyncio.client import connect

from tests.support.accounts import new_account
from tests.support.fakes import FakeLLM, FakeSTT, fake_engines
from tests.support.server import LiveServer, build_services, refused, serve_app

SESSION = {"model": "gpt-realtime-translate", "audio": {"output": {"language": "fr"}}}


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[LiveServer]:
    engines = fake_engines(stt=FakeSTT("Good morning."), llm=FakeLLM(script=("Bonjour.",)))
    svc = await build_services(tmp_path, engines)
    async for server in serve_app(svc):
        yield server


def ws(live: LiveServer, path: str) -> str:
    return live.url.replace("http://", "ws://") + path


async def test_sdk_mints_a_translation_secret_the_socket_accepts(live: LiveServer) -> None:
    acct = await new_account(live.services, credits=1000)
    client = AsyncOpenAI(base_url=live.url + "/v1", api_key=acct.key, max_retries=0)
    secret = await client.realtime.translations.client_secrets.create(
        session=SESSION,  # type: ignore[arg-type]
        expires_after={"anchor": "created_at", "seconds": 600},
    )
    assert secret.value.startswith("ek_")
    assert secret.session.model == "gpt-realtime-translate"
    assert secret.session.audio.output.language == "fr"  # type: ignore[union-attr]
    headers = {"Authorization": f"Bearer {secret.value}"}
    # No model in the URL: the secret's model; its session is applied before any audio.
    async with connect(ws(live, "/v1/realtime/translations"), additional_headers=headers) as s:
        created = json.loads(await s.recv())
        assert created["type"] == "session.created"
        assert created["session"]["model"] == "gpt-realtime-translate"
        updated = json.loads(await s.recv())
        assert updated["type"] == "session.updated"
        assert updated["session"]["audio"]["output"]["language"] == "fr"


async def test_secrets_open_only_their_kind_and_model(live: LiveServer) -> None:
    acct = await new_account(live.services, credits=1000)
    client = AsyncOpenAI(base_url=live.url + "/v1", api_key=acct.key, max_retries=0)
    translation = await client.realtime.translations.client_secrets.create(session=SESSION)  # type: ignore[arg-type]
    headers = {"Authorization": f"Bearer {translation.value}"}
    status, body = await refused(
        ws(live, "/v1/realtime?model=gpt-realtime"), additional_headers=headers
    )
    assert (status, body["error"]["code"]) == (403, "model_not_allowed")
    other = "/v1/realtime/translations?model=gpt-4o-realtime-translate-preview"
    status, body = await refused(ws(live, other), additional_headers=headers)
    assert (status, body["error"]["code"]) == (403, "model_not_allowed")
    realtime = await client.realtime.client_secrets.create(session={"type": "realtime"})
    headers = {"Authorization": f"Bearer {realtime.value}"}
    status, body = await refused(ws(live, "/v1/realtime/translations"), additional_headers=headers)
    assert (status, body["error"]["code"]) == (403, "model_not_allowed")


async def test_bad_configs_are_refused_by_name(live: LiveServer) -> None:
    acct = await new_account(live.services, credits=1000)
    client = AsyncOpenAI(base_url=live.url + "/v1", api_key=acct.key, max_retries=0)
    with pytest.raises(BadRequestError) as info:
        await client.realtime.translations.client_secrets.create(session={"model": "gpt-4o"})
    assert info.value.body["code"] == "unsupported_model"  # type: ignore[index]
    assert info.value.body["param"] == "session.model"  # type: ignore[index]
    async with httpx.AsyncClient(base_url=live.url) as http:
        key = {"Authorization": f"Bearer {acct.key}"}
        response = await http.post("/v1/realtime/translations/client_secrets", json={}, headers=key)
        assert response.status_code == 400
        assert response.json()["error"]["param"] == "session"
        bad = {"session": {"model": "gpt-realtime-translate", "audio": {"output": {"speed": 2}}}}
        response = await http.post(
            "/v1/realtime/translations/client_secrets", json=bad, headers=key
        )
        assert response.status_code == 400
        assert response.json()["error"]["param"] == "session.audio.output.speed"

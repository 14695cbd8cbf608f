"""Translation sessions in gateway mode: with `translation=theirs` mapped, A relays
`/v1/realtime/translations` to B; A bills its user at the translation rate, B bills only
the upstream key."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from openai import AsyncOpenAI
from tests.support.accounts import Account, new_account, settled
from tests.support.fakes import FakeLLM, FakeSTT, b64, fake_engines, silence, tone
from tests.support.gateway import MODELS, gateway_to
from tests.support.server import LiveServer, build_services, serve_app

from realtime2.accounts.pricing import TRANSLATION, rate_for


@pytest.fixture
async def translation_pair(tmp_path: Path) -> AsyncIterator[tuple[LiveServer, LiveServer, Account]]:
    engines = fake_engines(
        stt=FakeSTT("Good morning, everyone."), llm=FakeLLM(script=("Bonjour ", "à tous."))
    )
    b_services = await build_services(tmp_path / "b", engines)
    async for b in serve_app(b_services):
        upstream = await new_account(b.services, credits=100_000)
        models = MODELS + ",translation=gpt-realtime-translate"
        async with gateway_to(tmp_path, b.url + "/v1", upstream.key, upstream_models=models) as a:
            yield a, b, upstream


async def test_translation_is_relayed_and_billed_on_the_gateway(
    translation_pair: tuple[LiveServer, LiveServer, Account],
) -> None:
    a, b, upstream = translation_pair
    user = await new_account(a.services, credits=10_000)
    client = AsyncOpenAI(api_key=user.key, base_url=a.url + "/v1", max_retries=0)
    received: list[Any] = []
    async with client.realtime.translations.connect(model="gpt-realtime-translate") as conn:
        assert (await conn.recv()).type == "session.created"
        await conn.session.update(session={"audio": {"output": {"language": "fr"}}})
        assert (await conn.recv()).type == "session.updated"

        async def reader() -> None:
            async for event in conn:
                received.append(event)
                if event.type == "session.closed":
                    return

        reading = asyncio.create_task(reader())
        for part in (tone(1200), silence(600), tone(1000), silence(600)):
            for start in range(0, len(part), 4800):
                await conn.session.input_audio_buffer.append(audio=b64(part[start : start + 4800]))
                await asyncio.sleep(0.02)
        await conn.send({"type": "session.close"})
        await asyncio.wait_for(reading, 15)

    kinds = [e.type for e in received]
    assert "error" not in kinds and kinds[-1] == "session.closed", kinds
    outputs = "".join(e.delta for e in received if e.type == "session.output_transcript.delta")
    assert "Bonjour à tous." in outputs
    spent = await settled(a.services, user.user_id)
    assert spent > 0 and spent % rate_for(TRANSLATION) == 0
    # B billed the gateway's upstream account, and A's user key means nothing to B.
    assert await settled(b.services, upstream.user_id) > 0
    assert await b.services.users.by_email(user.email) is None


async def test_unmapped_translation_stays_local(tmp_path: Path) -> None:
    b_services = await build_services(tmp_path / "b", fake_engines())
    async for b in serve_app(b_services):
        upstream = await new_account(b.services, credits=1000)
        async with gateway_to(tmp_path, b.url + "/v1", upstream.key) as a:
            user = await new_account(a.services, credits=1000)
            client = AsyncOpenAI(api_key=user.key, base_url=a.url + "/v1", max_retries=0)
            async with client.realtime.translations.connect(model="gpt-realtime-translate") as c:
                assert (await c.recv()).type == "session.created"
            assert await settled(b.services, upstream.user_id) == 0

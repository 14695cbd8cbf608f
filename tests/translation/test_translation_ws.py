"""`/v1/realtime/translations` over a real socket: admission, the SDK client, streaming
mid-speech, metering (fake STT/LLM, real espeak-ng voices)."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any

from openai import AsyncOpenAI
from websockets.asyncio.client import connect

from realtime2.accounts.pricing import TRANSLATION, rate_for
from tests.support.accounts import new_account
from tests.support.fakes import b64, silence, tone
from tests.support.server import LiveServer, refused
from tests.support.translation_validate import assert_valid_translation

CHUNK = 4800  # 200 ms at 24 kHz, as the API recommends


def ws_url(server: LiveServer, model: str = "gpt-realtime-translate") -> str:
    return server.url.replace("http://", "ws://") + f"/v1/realtime/translations?model={model}"


async def settled(svc: Any, user_id: int) -> Any:
    """The balance once the server has settled the session (just after the socket closes)."""
    for _ in range(100):
        balance = await svc.ledger.balance(user_id)
        if balance.held == 0:
            return balance
        await asyncio.sleep(0.05)
    raise AssertionError(f"hold never settled: {balance}")


def speech_pattern() -> list[Any]:
    """Two 1.2 s 'phrases' separated by a 0.6 s pause, then a trailing second of talk."""
    return [tone(1200), silence(600), tone(1200), silence(600), tone(1000)]


async def test_refusals_before_accept(translation_server: LiveServer) -> None:
    svc = translation_server.services
    status, body = await refused(ws_url(translation_server))
    assert (status, body["error"]["code"]) == (401, "unauthorized")
    acct = await new_account(svc, credits=1000)
    headers = {"Authorization": f"Bearer {acct.key}"}
    status, body = await refused(ws_url(translation_server, "gpt-4o"), additional_headers=headers)
    assert (status, body["error"]["code"]) == (400, "unsupported_model")
    poor = await new_account(svc, credits=3)
    status, body = await refused(
        ws_url(translation_server), additional_headers={"x-api-key": poor.key}
    )
    assert (status, body["error"]["code"]) == (402, "insufficient_credits")


async def test_sdk_streams_translation_before_the_input_ends(
    translation_server: LiveServer,
) -> None:
    svc = translation_server.services
    acct = await new_account(svc, credits=10_000)
    client = AsyncOpenAI(api_key=acct.key, base_url=translation_server.url + "/v1")
    received: list[tuple[float, Any]] = []
    async with client.realtime.translations.connect(model="gpt-realtime-translate") as conn:
        first = await conn.recv()
        assert first.type == "session.created" and first.session.type == "translation"
        await conn.session.update(
            session={
                "audio": {
                    "input": {"transcription": {"model": "gpt-4o-mini-transcribe"}},
                    "output": {"language": "fr"},
                }
            }
        )
        updated = await conn.recv()
        assert updated.type == "session.updated"
        assert updated.session.audio.output.language == "fr"  # type: ignore[union-attr]

        async def reader() -> None:
            async for event in conn:
                received.append((time.monotonic(), event))
                if event.type == "session.closed":
                    return

        reading = asyncio.create_task(reader())
        for part in speech_pattern():
            for start in range(0, len(part), CHUNK):
                await conn.session.input_audio_buffer.append(audio=b64(part[start : start + CHUNK]))
                await asyncio.sleep(0.02)  # faster than real time; fakes do not care
        input_ended = time.monotonic()
        await conn.send({"type": "session.close"})
        await asyncio.wait_for(reading, 10)

    for _, event in received:
        assert_valid_translation(event.model_dump(exclude_unset=True))
    kinds = [e.type for _, e in received]
    assert "error" not in kinds, [e for _, e in received if e.type == "error"]
    assert kinds[-1] == "session.closed"
    early = {e.type for t, e in received if t < input_ended}
    assert {
        "session.input_transcript.delta",
        "session.output_transcript.delta",
        "session.output_audio.delta",
    } <= early, kinds
    inputs = "".join(e.delta for _, e in received if e.type == "session.input_transcript.delta")
    outputs = "".join(e.delta for _, e in received if e.type == "session.output_transcript.delta")
    assert inputs == " ".join(["Good morning, everyone."] * 3)
    assert outputs == " ".join(["Bonjour à tous."] * 3)
    audio = b"".join(
        base64.b64decode(e.delta) for _, e in received if e.type == "session.output_audio.delta"
    )
    assert len(audio) / 2 / 24000 > 1.5  # three phrases of real espeak-ng French speech

    # Billed at the translation rate, hold released.
    balance = await settled(svc, acct.user_id)
    spent = 10_000 - balance.available
    assert spent > 0 and spent % rate_for(TRANSLATION) == 0


async def test_dropped_socket_is_settled(translation_server: LiveServer) -> None:
    svc = translation_server.services
    acct = await new_account(svc, credits=1000)
    async with connect(
        ws_url(translation_server), additional_headers={"x-api-key": acct.key}
    ) as ws:
        assert json.loads(await ws.recv())["type"] == "session.created"
        await ws.send(
            json.dumps(
                {"type": "session.update", "session": {"audio": {"output": {"language": "de"}}}}
            )
        )
        assert json.loads(await ws.recv())["type"] == "session.updated"
        await ws.send(
            json.dumps({"type": "session.input_audio_buffer.append", "audio": b64(tone(800))})
        )
        held = await svc.ledger.balance(acct.user_id)
        assert held.held > 0
    balance = await settled(svc, acct.user_id)  # the server notices the drop and settles
    assert balance.available < 1000


async def test_unsupported_language_lists_supported_ones(translation_server: LiveServer) -> None:
    acct = await new_account(translation_server.services, credits=1000)
    async with connect(
        ws_url(translation_server), additional_headers={"x-api-key": acct.key}
    ) as ws:
        await ws.recv()
        await ws.send(
            json.dumps(
                {
                    "type": "session.update",
                    "event_id": "e1",
                    "session": {"audio": {"output": {"language": "xx-klingon"}}},
                }
            )
        )
        error = json.loads(await ws.recv())
        assert_valid_translation(error)
        assert error["error"]["code"] == "unsupported_language"
        assert error["error"]["event_id"] == "e1"
        assert "fr" in error["error"]["message"] and "de" in error["error"]["message"]

"""Beta-protocol clients (`OpenAI-Beta: realtime=v1`): the SDK's `client.beta.realtime`,
and the beta subprotocol, get beta event names and shapes; GA clients are unaffected."""

from __future__ import annotations

import json
from typing import Any

from openai import AsyncOpenAI
from websockets.asyncio.client import connect

from tests.support.accounts import new_account
from tests.support.beta_validate import assert_valid_beta
from tests.support.fakes import b64, silence, tone
from tests.support.server import LiveServer

GA_ONLY = {
    "conversation.item.added",
    "conversation.item.done",
    "response.output_audio.delta",
    "response.output_audio_transcript.delta",
    "response.output_text.delta",
}


async def test_sdk_beta_voice_turn(fake_server: LiveServer) -> None:
    acct = await new_account(fake_server.services, credits=10_000)
    # The beta connector forces wss:// from base_url; a plain-ws server is named directly.
    client = AsyncOpenAI(
        base_url=fake_server.url + "/v1",
        websocket_base_url=fake_server.url.replace("http://", "ws://") + "/v1",
        api_key=acct.key,
    )
    seen: list[str] = []
    async with client.beta.realtime.connect(model="gpt-4o-realtime-preview") as conn:
        created = json.loads(await conn.recv_bytes())
        assert_valid_beta(created)
        session = created["session"]
        assert session["input_audio_format"] == "pcm16" and session["voice"] == "marin"
        assert session["turn_detection"]["type"] == "server_vad"
        await conn.session.update(
            session={
                "modalities": ["audio", "text"],
                "voice": "cedar",
                "input_audio_format": "pcm16",
                "output_audio_format": "g711_ulaw",
                "input_audio_transcription": {"model": "whisper-1"},
                "turn_detection": {"type": "server_vad", "silence_duration_ms": 300},
                "instructions": "Be brief.",
            }
        )
        for chunk in (tone(600), silence(800)):
            await conn.input_audio_buffer.append(audio=b64(chunk))
        while True:
            raw = json.loads(await conn.recv_bytes())
            assert_valid_beta(raw)
            assert raw["type"] != "error", raw
            seen.append(raw["type"])
            if raw["type"] == "session.updated":
                updated = raw["session"]
                assert updated["voice"] == "cedar"
                assert updated["output_audio_format"] == "g711_ulaw"
                assert updated["input_audio_transcription"]["model"] == "whisper-1"
                assert updated["turn_detection"]["silence_duration_ms"] == 300
            if raw["type"] == "response.done":
                response = raw["response"]
                assert response["status"] == "completed"
                assert response["output_audio_format"] == "g711_ulaw"
                parts = response["output"][0]["content"]
                assert parts[0]["type"] == "audio" and parts[0]["transcript"]
                break
    assert not GA_ONLY & set(seen), seen
    for kind in (
        "conversation.item.created",
        "response.audio.delta",
        "response.audio.done",
        "response.audio_transcript.delta",
        "response.audio_transcript.done",
        "conversation.item.input_audio_transcription.completed",
    ):
        assert kind in seen, (kind, seen)


async def test_beta_text_turn_by_subprotocol(fake_server: LiveServer) -> None:
    acct = await new_account(fake_server.services, credits=10_000)
    protocols: Any = ["realtime", f"openai-insecure-api-key.{acct.key}", "openai-beta.realtime-v1"]
    async with connect(fake_server.ws_url + "?model=gpt-realtime", subprotocols=protocols) as ws:
        assert ws.subprotocol == "realtime"
        assert_valid_beta(json.loads(await ws.recv()))
        # An assistant message in beta form (`text` part), then a text-only response.
        await ws.send(
            json.dumps(
                {
                    "type": "conversation.item.create",
                    "item": {
                        "type": "message",
                        "role": "assistant",
                        "content": [{"type": "text", "text": "Hello, how can I help?"}],
                    },
                }
            )
        )
        created = json.loads(await ws.recv())
        assert_valid_beta(created)
        assert created["type"] == "conversation.item.created"
        assert created["item"]["content"][0]["type"] == "text"
        await ws.send(json.dumps({"type": "response.create", "response": {"modalities": ["text"]}}))
        kinds = []
        while True:
            event = json.loads(await ws.recv())
            assert_valid_beta(event)
            kinds.append(event["type"])
            if event["type"] == "response.done":
                assert event["response"]["modalities"] == ["text"]
                break
        assert "response.text.delta" in kinds and "response.text.done" in kinds, kinds


async def test_beta_transcription_session_update(fake_server: LiveServer) -> None:
    acct = await new_account(fake_server.services, credits=10_000)
    url = fake_server.ws_url + "?intent=transcription"
    headers = {"Authorization": f"Bearer {acct.key}", "OpenAI-Beta": "realtime=v1"}
    async with connect(url, additional_headers=headers) as ws:
        assert_valid_beta(json.loads(await ws.recv()))
        await ws.send(
            json.dumps(
                {
                    "type": "transcription_session.update",
                    "session": {
                        "input_audio_format": "pcm16",
                        "input_audio_transcription": {"model": "gpt-4o-transcribe"},
                        "turn_detection": {"type": "server_vad", "silence_duration_ms": 300},
                    },
                }
            )
        )
        updated = json.loads(await ws.recv())
        assert_valid_beta(updated)
        assert updated["type"] == "transcription_session.updated", updated
        assert updated["session"]["input_audio_transcription"]["model"] == "gpt-4o-transcribe"
        for chunk in (tone(600), silence(800)):
            await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": b64(chunk)}))
        while True:
            event = json.loads(await ws.recv())
            assert_valid_beta(event)
            assert event["type"] != "error", event
            if event["type"] == "conversation.item.input_audio_transcription.completed":
                assert event["transcript"]
                break

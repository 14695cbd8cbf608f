"""Gateway A in front of upstream B running the real embedded engines (whisper, llama.cpp,
Piper, Silero): a spoken turn with the official SDK, and a Starter Voice request, through A."""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from openai import AsyncOpenAI
from pydantic import SecretStr
from tests.support.accounts import new_account, settled
from tests.support.fakes import FakeVAD
from tests.support.gateway import gateway_to
from tests.support.server import ServerProcess, build_services, serve_app, start_server
from tests.support.speech import speech_pcm16
from tests.support.validate import assert_valid

from realtime2.engine.config import EngineSettings
from realtime2.engine.interfaces import Engines
from realtime2.engine.registry import build_llm, build_stt, build_tts
from realtime2.gateway.pipeline import engine_settings
from realtime2.gateway.upstream import Upstream

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def upstream_b(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, str]]:
    tmp = tmp_path_factory.mktemp("upstream-b")
    proc = start_server(
        tmp,
        {"REALTIME2_DEMO_CREDITS": "100000"},
        args=("--bootstrap-demo",),
        ready_path="/readyz",
        timeout=240,
        name="b",
    )
    key = re.search(r"sk-gptr2-[A-Za-z0-9_-]{43}", proc.log())
    assert key, proc.log()
    try:
        yield proc, key.group(0)
    finally:
        proc.stop()


async def test_spoken_turn_through_gateway_to_real_engines(
    tmp_path: Path, upstream_b: tuple[ServerProcess, str]
) -> None:
    b, b_key = upstream_b
    async with gateway_to(tmp_path, b.url + "/v1", b_key) as a:
        user = await new_account(a.services, credits=100_000)
        client = AsyncOpenAI(base_url=a.url + "/v1", api_key=user.key, max_retries=0)
        pcm = speech_pcm16("What is the capital of France?", sample_rate=24000)
        stream = b"\0" * 9600 + pcm + b"\0" * 48000  # a second of silence ends the turn
        events: list[str] = []
        transcript, audio = "", b""
        started = time.monotonic()
        async with client.realtime.connect(model="gpt-realtime") as conn:
            await conn.session.update(
                session={
                    "type": "realtime",
                    "instructions": "Answer in one short sentence.",
                    "audio": {"input": {"transcription": {"model": "whisper-1"}}},
                }
            )
            for offset in range(0, len(stream), 4800):
                chunk = base64.b64encode(stream[offset : offset + 4800]).decode()
                await conn.input_audio_buffer.append(audio=chunk)
            async for event in conn:
                assert_valid(event.model_dump(mode="json", exclude_unset=True))
                events.append(event.type)
                if event.type == "conversation.item.input_audio_transcription.completed":
                    transcript = event.transcript
                if event.type == "response.output_audio.delta":
                    audio += base64.b64decode(event.delta)
                if event.type == "response.done":
                    assert event.response.status == "completed"
                    break
        elapsed = time.monotonic() - started
        assert "input_audio_buffer.speech_started" in events
        assert "capital" in transcript.lower() and "france" in transcript.lower()
        assert len(audio) > 24000 * 2 * 0.3  # some spoken reply at 24 kHz
        charged = await settled(a.services, user.user_id)
        assert 16 <= charged <= 16 * (int(elapsed) + 2) and charged % 16 == 0
        capture = next(
            e for e in await a.services.ledger.entries(user.user_id) if e.kind == "capture"
        )
        assert (capture.details or {})["upstream_usage"]["responses"] == 1


async def test_starter_voice_through_gateway_to_real_engines(
    tmp_path: Path, upstream_b: tuple[ServerProcess, str]
) -> None:
    b, b_key = upstream_b
    gateway = Upstream(b.url + "/v1", SecretStr(b_key), {"llm": "gpt-4o-mini"}, pipeline=True)
    settings = engine_settings(gateway, EngineSettings(_env_file=None))
    remote = Engines(FakeVAD(), build_stt(settings), build_llm(settings), build_tts(settings))
    async for a in serve_app(await build_services(tmp_path / "a", remote)):
        user = await new_account(a.services, credits=1000)
        async with httpx.AsyncClient(timeout=120) as http:
            response = await http.post(
                a.url + "/api/realtime2/pipeline",
                headers={"x-api-key": user.key},
                data={"model": "starter-voice", "voice": "marin", "text": "Say hello."},
            )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["model"] == "gpt-4o-mini" and body["assistantText"].strip()
        assert len(base64.b64decode(body["audioBase64"])) > 1000
        assert await settled(a.services, user.user_id) >= 1

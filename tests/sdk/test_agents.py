"""`openai-agents`' RealtimeRunner, unmodified, through a spoken turn on the real server."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from agents.realtime import RealtimeAgent, RealtimeRunner

from tests.support.accounts import new_account
from tests.support.sdk import RATE, TURN_LIMIT_S, silence_pcm
from tests.support.server import LiveServer
from tests.support.speech import speech_pcm16

pytestmark = [pytest.mark.models, pytest.mark.asyncio(loop_scope="module")]


async def test_spoken_turn_through_realtime_runner(real_server: LiveServer) -> None:
    account = await new_account(real_server.services, credits=100_000)
    agent = RealtimeAgent(name="assistant", instructions="Answer in one short sentence.")
    runner = RealtimeRunner(agent)
    url = real_server.ws_url.replace("http", "ws") + "?model=realtime-mini"
    seen: list[Any] = []
    async with await runner.run(model_config={"url": url, "api_key": account.key}) as session:

        async def talk() -> None:
            # The agents default is semantic_vad, whose silence window can reach 4 s: keep
            # the microphone open (silence) until the reply is over, as a real client does.
            pcm = silence_pcm(300) + speech_pcm16("What is the capital of France?", RATE)
            pcm += silence_pcm(int(TURN_LIMIT_S * 1000))
            step = RATE * 2 * 20 // 1000  # 20 ms chunks at real-time pace
            start = time.perf_counter()
            for i, offset in enumerate(range(0, len(pcm), step)):
                await asyncio.sleep(max(0.0, start + i * 0.02 - time.perf_counter()))
                await session.send_audio(pcm[offset : offset + step])

        async def listen() -> None:
            async for event in session:
                seen.append(event)
                if event.type == "error":
                    return
                if event.type == "raw_model_event" and event.data.type == "error":
                    return
                if event.type == "audio_end":
                    return

        talker = asyncio.create_task(talk())
        try:
            await asyncio.wait_for(listen(), TURN_LIMIT_S)
        finally:
            talker.cancel()
    kinds = [e.type for e in seen]
    errors = [e for e in seen if e.type == "error"]
    raw_errors = [e for e in seen if e.type == "raw_model_event" and e.data.type == "error"]
    assert not errors and not raw_errors, (errors, raw_errors)
    assert "audio" in kinds and "audio_end" in kinds
    raw = {e.data.type for e in seen if e.type == "raw_model_event"}
    assert {"input_audio_transcription_completed", "turn_ended"} <= raw or "audio_done" in raw, raw

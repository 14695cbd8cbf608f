"""livekit-agents' OpenAI `RealtimeModel` through full turns against realtime2.

The framework's `RealtimeSession` is driven directly (no LiveKit room: that needs a
LiveKit server), which is the same object an `AgentSession` drives: it opens the socket
from `base_url`, configures the session, streams microphone frames and reads replies.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from tests.support.accounts import new_account
from tests.support.fakes import pcm16, silence, tone
from tests.support.server import LiveServer

rtc = pytest.importorskip("livekit.rtc")
lk_openai = pytest.importorskip("livekit.plugins.openai")
lk_llm = pytest.importorskip("livekit.agents.llm")

RATE = 24000


async def collect(generation: Any) -> tuple[str, int]:
    """All text and the number of audio samples of one generated reply."""
    text, samples = "", 0
    async for message in generation.message_stream:

        async def read_text(stream: Any) -> str:
            return "".join([str(piece) async for piece in stream])

        async def read_audio(stream: Any) -> int:
            return sum([frame.samples_per_channel async for frame in stream])

        t, s = await asyncio.gather(
            read_text(message.text_stream), read_audio(message.audio_stream)
        )
        text, samples = text + t, samples + s
    return text, samples


async def test_livekit_realtime_model_turns(fake_server: LiveServer) -> None:
    acct = await new_account(fake_server.services, credits=10_000)
    errors: list[Any] = []
    async with aiohttp.ClientSession() as http:
        model = lk_openai.realtime.RealtimeModel(
            base_url=fake_server.url + "/v1",
            api_key=acct.key,
            model="gpt-realtime",
            voice="marin",
            http_session=http,
        )
        session = model.session()
        session.on("error", errors.append)
        try:
            # 1. A reply asked for by the app (`generate_reply`), as agents do on start.
            generation = await asyncio.wait_for(
                session.generate_reply(instructions="Greet the user."), 10
            )
            text, samples = await asyncio.wait_for(collect(generation), 10)
            assert text.strip() and samples > RATE // 20, (text, samples)

            # 2. A spoken turn: microphone frames; the server's semantic VAD (livekit's
            # default, eagerness "medium") ends the turn and a reply comes.
            turns: asyncio.Queue[Any] = asyncio.Queue()
            session.on("generation_created", turns.put_nowait)
            frame = RATE // 50  # 20 ms frames, like a microphone track

            async def microphone() -> None:
                """Speech, then silence for as long as the turn takes (a live mic)."""
                audio = tone(800)
                for start in range(0, len(audio), frame):
                    chunk = pcm16(audio[start : start + frame])
                    session.push_audio(rtc.AudioFrame(chunk, RATE, 1, len(chunk) // 2))
                    await asyncio.sleep(0.004)
                quiet = pcm16(silence(20))
                while True:
                    session.push_audio(rtc.AudioFrame(quiet, RATE, 1, frame))
                    await asyncio.sleep(0.01)

            mic = asyncio.create_task(microphone())
            spoken = await asyncio.wait_for(turns.get(), 10)
            text, samples = await asyncio.wait_for(collect(spoken), 10)
            mic.cancel()
            assert text.strip() and samples > 0
        finally:
            await session.aclose()
            await model.aclose()
    assert not errors, errors

"""`audio.output.speed` through an OpenAI-compatible TTS: sent as the speech API's `speed`."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from realtime2.backends.openai.settings import RemoteRole
from realtime2.backends.openai.tts import OpenAITTS
from tests.support.fake_openai import KEY, FakeOpenAI, serve


@pytest.fixture
async def upstream() -> AsyncIterator[tuple[FakeOpenAI, str]]:
    fake = FakeOpenAI()
    async with serve(fake) as url:
        yield fake, url


async def test_speed_is_sent_and_shortens_the_audio(upstream: tuple[FakeOpenAI, str]) -> None:
    fake, url = upstream
    tts = OpenAITTS(RemoteRole(base_url=url, api_key=SecretStr(KEY), model="tts-1", timeout_s=5))
    assert tts.capabilities.speed
    normal = sum([c.duration_s async for c in tts.synthesize("Hello.", voice="marin")])
    assert "speed" not in fake.requests[-1]  # 1.0 is the API's default: not sent
    fast = sum([c.duration_s async for c in tts.synthesize("Hello.", voice="marin", speed=1.5)])
    assert fake.requests[-1]["speed"] == 1.5
    assert fast <= 0.75 * normal
